"""Maskers: pure functions of (batch size, mask-unit grid, ratio, generator) -> bool masks.

One convention everywhere: **True = masked** (hidden from the encoder). Every masker has the
signature::

    fn(batch_size, grid=(t, h, w), ratio, *, generator=None, device=None, **kw) -> bool [B,t,h,w]

- "cube" (MaskFeat): BEiT-style 3-D block masking, sequential (CPU, e.g. at collate time);
  reaches round(t*h*w*ratio) masked units exactly.
- "tube" (VideoMAE): one random 2-D mask with int(ratio*h*w) masked, repeated over all t slices.
- "random" (MAE-spacetime): int(t*h*w*ratio) masked per sample.

Randomness comes only from `generator` (a torch.Generator); masks are drawn on the generator's
device and moved to `device`.

`Masker.draw(seeds, input_shape)` draws one mask per clip from a CPU generator seeded with
(the clip's sample seed, its repeat index, the mask stream), so the loader workers
(MASK.IN_LOADER) and the objective draw the same mask for the same clip. `mask_to_grid` is the
one conversion of a mask to another resolution (the objective calls it once per grid it needs).
"""

from __future__ import annotations

import math
import random
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
from fvcore.common.config import CfgNode
from fvcore.common.registry import Registry

from .data.sampler import mix_seed

MASKERS = Registry("MASKERS")
MASKERS.__doc__ = "Masker functions: (batch_size, grid, ratio, *, generator, device, **kw)."


def register_masker(name: str) -> Callable[[Callable], Callable]:
    """Decorator registering a masker function under `name` (fvcore names by __name__)."""

    def deco(fn: Callable) -> Callable:
        MASKERS._do_register(name, fn)
        return fn

    return deco


Grid = tuple[int, int, int]
Device = Optional[Union[str, torch.device]]


def _check_grid(grid: Sequence[int], ratio: float) -> Grid:
    if len(grid) != 3 or any(int(g) < 1 for g in grid):
        raise ValueError(f"Mask grid must be three positive sizes (t, h, w); got {tuple(grid)}.")
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"Mask ratio must be in [0, 1); got {ratio}.")
    return int(grid[0]), int(grid[1]), int(grid[2])


def _rand(shape: tuple[int, ...], generator: torch.Generator | None, device: Device):
    """Uniform noise drawn on the generator's device (or `device` without a generator)."""
    if generator is not None:
        return torch.rand(shape, generator=generator, device=generator.device).to(device)
    return torch.rand(shape, device=device)


def _lowest_k(noise: torch.Tensor, k: int) -> torch.Tensor:
    """Bool [B, L]: True at the k positions of each row with the smallest noise."""
    ids = noise.argsort(dim=1)[:, :k]
    mask = torch.zeros_like(noise, dtype=torch.bool)
    return mask.scatter_(1, ids, True)


@register_masker("random")
def random_mask(
    batch_size: int,
    grid: Sequence[int],
    ratio: float,
    *,
    generator: torch.Generator | None = None,
    device: Device = None,
    keep_rounding: bool = False,
) -> torch.Tensor:
    """MAE-spacetime random masking: bool [B,t,h,w] with int(L*ratio) True per sample, L=t*h*w.

    keep_rounding=True reproduces MAE-ST's own count, L - int(L*(1-ratio)) (it keeps
    int(L*(1-ratio)) tokens), which is one more masked token when L*ratio is not an integer
    (e.g. 1412 instead of 1411 of 1568 at 0.9).
    """
    t, h, w = _check_grid(grid, ratio)
    length = t * h * w
    num = length - int(length * (1 - ratio)) if keep_rounding else int(length * ratio)
    noise = _rand((batch_size, length), generator, device)  # [B, L]
    return _lowest_k(noise, num).view(batch_size, t, h, w)


@register_masker("tube")
def tube_mask(
    batch_size: int,
    grid: Sequence[int],
    ratio: float,
    *,
    generator: torch.Generator | None = None,
    device: Device = None,
) -> torch.Tensor:
    """VideoMAE tube masking: bool [B,t,h,w]; int(ratio*h*w) masked per slice, same on every t."""
    t, h, w = _check_grid(grid, ratio)
    noise = _rand((batch_size, h * w), generator, device)  # [B, h*w]
    mask2d = _lowest_k(noise, int(ratio * h * w)).view(batch_size, 1, h, w)
    return mask2d.expand(batch_size, t, h, w).contiguous()


def sample_block(
    rng: random.Random,
    grid: Grid,
    area_range: tuple[float, float],
    aspect_range: tuple[float, float],
    temporal_range: tuple[int, int],
) -> tuple[tuple[int, int, int], bool]:
    """One block size (bt, bh, bw) as BEiT/MaskFeat draw it, and whether it fits.

    Spatial area uniform in `area_range` units, log-uniform aspect ratio (h/w) in
    `aspect_range`, temporal extent uniform integer in `temporal_range`. As published, a block
    fits only if it is strictly smaller than the grid in h and w.
    """
    t, h, w = grid
    area = rng.uniform(*area_range)
    aspect = math.exp(rng.uniform(math.log(aspect_range[0]), math.log(aspect_range[1])))
    bh = int(round(math.sqrt(area * aspect)))
    bw = int(round(math.sqrt(area / aspect)))
    bt = rng.randint(*temporal_range)
    return (bt, bh, bw), 0 < bh < h and 0 < bw < w


def _place_block(
    rng: random.Random,
    mask: np.ndarray,
    size: tuple[int, int, int],
    budget: int,
    truncate: bool,
) -> int:
    """Mask one block of `size` at a random place; return how many units became masked.

    A block adding more than `budget` new units is rejected, unless `truncate`, in which case
    only its first `budget` new units (raster order inside the block) are masked.
    """
    t, h, w = mask.shape
    bt, bh, bw = size
    f, top, left = rng.randint(0, t - bt), rng.randint(0, h - bh), rng.randint(0, w - bw)
    view = mask[f : f + bt, top : top + bh, left : left + bw]
    new = view.size - int(view.sum())
    if new == 0 or (new > budget and not truncate):
        return 0
    if new > budget:
        flat = view.reshape(-1).copy()
        free = np.flatnonzero(~flat)[:budget]
        flat[free] = True
        view[...] = flat.reshape(view.shape)
        return budget
    view[...] = True
    return new


def cube_mask_one(
    rng: random.Random,
    grid: Grid,
    num_masked: int,
    area_range: tuple[float, float],
    aspect_range: tuple[float, float],
    temporal_range: tuple[int, int],
    max_attempts: int = 100,
) -> np.ndarray:
    """One MaskFeat cube mask, bool numpy [t,h,w] with exactly `num_masked` True.

    Blocks are added as in the reference (each adds between 1 and min(remaining, max area)
    new units). Where the reference gives up after `max_attempts` failed blocks in a row and
    stops short, we go on with blocks clipped to the grid, masking only the first `remaining`
    new units of each (raster order inside the block) until the count is reached.
    """
    mask = np.zeros(grid, dtype=bool)
    count, failures = 0, 0
    max_new = int(area_range[1])
    while count < num_masked:
        size, fits = sample_block(rng, grid, area_range, aspect_range, temporal_range)
        fallback = failures >= max_attempts
        if not fits and not fallback:
            failures += 1
            continue
        size = (size[0], min(max(size[1], 1), grid[1]), min(max(size[2], 1), grid[2]))
        budget = min(num_masked - count, max_new)
        added = _place_block(rng, mask, size, budget, truncate=fallback)
        failures = 0 if added else failures + 1
        count += added
    return mask


@register_masker("cube")
def cube_mask(
    batch_size: int,
    grid: Sequence[int],
    ratio: float,
    *,
    generator: torch.Generator | None = None,
    device: Device = None,
    min_area_frac: float = 0.2,
    max_area_frac: float = 1.0,
    aspect_range: Sequence[float] = (0.3, 1 / 0.3),
    temporal_range: Sequence[int] = (1, 0),
) -> torch.Tensor:
    """MaskFeat cube (3-D block) masking: bool [B,t,h,w], exactly round(t*h*w*ratio) True.

    Block spatial area uniform in [int(h*w*min_area_frac), h*w*max_area_frac] units (9..49 on
    7x7), log-uniform aspect in `aspect_range`, temporal extent uniform in `temporal_range`
    (an upper bound of 0 means t). Sequential: one seed per sample comes from `generator`,
    the block process then runs in Python on the CPU.
    """
    t, h, w = _check_grid(grid, ratio)
    area_range = (float(max(1, int(h * w * min_area_frac))), h * w * max_area_frac)
    if not area_range[0] <= area_range[1]:
        raise ValueError(
            f"Cube mask area range {area_range} units is empty on a {h}x{w} grid: "
            "check MASK.MIN_AREA_FRAC / MASK.MAX_AREA_FRAC."
        )
    t_hi = int(temporal_range[1]) or t
    t_range = (max(1, int(temporal_range[0])), min(t_hi, t))
    aspects = (float(aspect_range[0]), float(aspect_range[1]))
    num = int(round(t * h * w * ratio))
    seeds = torch.randint(0, 2**62, (batch_size,), generator=generator).tolist()
    masks = [
        cube_mask_one(random.Random(s), (t, h, w), num, area_range, aspects, t_range) for s in seeds
    ]
    return torch.from_numpy(np.stack(masks)).to(device)


def running_cell_mask(
    grid: Sequence[int], ratio: float = 0.5, device: Device = None, offset: int = 0
) -> torch.Tensor:
    """VideoMAE v2 running-cell decoder mask: bool [t,h,w], **True = the decoder predicts it**.

    `ratio` is VideoMAE v2's decoder_mask_ratio. Each 2x2 cell is a queue of 4 entries,
    int(4*ratio) "not decoded" then the decoded ones; slice i reads the queue from position
    (offset + i + 1) mod 4 (VideoMAE v2 advances the cell pointer before each slice), so the
    pattern shifts by one per slice. True here is VideoMAE v2's decoder-mask value 0. The
    pattern ignores the encoder mask: decoded positions may be visible to the encoder. h and w
    need not be even (the tiled pattern is cropped; VideoMAE v2 itself needs even sizes).
    """
    t, h, w = _check_grid(grid, 0.0)
    num_drop = int(4 * ratio)
    if not 0 < num_drop < 4:
        raise ValueError(f"Running-cell ratio must drop 1..3 of 4 per cell; got {ratio}.")
    queue = torch.tensor([False] * num_drop + [True] * (4 - num_drop))
    ptr = torch.arange(t).view(t, 1) + offset + 1 + torch.arange(4).view(1, 4)  # [t, 4]
    cells = queue[ptr % 4].view(t, 2, 2)
    tiled = cells.repeat(1, (h + 1) // 2, (w + 1) // 2)[:, :h, :w]
    return tiled.contiguous().to(device)


def draw_running_cell_masks(
    batch_size: int,
    grid: Sequence[int],
    ratio: float = 0.5,
    *,
    generator: torch.Generator | None = None,
    device: Device = None,
) -> torch.Tensor:
    """Bool [B,t,h,w] running-cell masks (True = decoder predicts), one of the 4 phases drawn
    uniformly per sample (VideoMAE v2 picks one of its 4 precomputed maps per clip)."""
    offsets = torch.randint(0, 4, (batch_size,), generator=generator).tolist()
    all_masks = torch.stack([running_cell_mask(grid, ratio, offset=o) for o in range(4)])
    return all_masks[offsets].to(device)


def mask_to_grid(mask: torch.Tensor, grid: Sequence[int]) -> torch.Tensor:
    """A mask [B,t,h,w] at the resolution `grid` (T',H',W'), each of which t,h,w must divide:
    nearest repeat -> [B,T',H',W'] (the mask itself when the grids are equal)."""
    grid = tuple(int(g) for g in grid)
    if mask.dim() != 4 or len(grid) != 3 or any(g % m for g, m in zip(grid, mask.shape[1:])):
        raise ValueError(
            f"A mask of shape {tuple(mask.shape)} must be [B,t,h,w] with (t,h,w) dividing the "
            f"token grid {grid}: choose MASK.UNIT as a multiple of the encoder's patch."
        )
    for dim, (g, m) in enumerate(zip(grid, mask.shape[1:]), start=1):
        if g != m:
            mask = mask.repeat_interleave(g // m, dim=dim)
    return mask


MASK_STREAM = 0x6D61736B  # "mask": keeps the mask draws apart from the clip's own
DECODE_STREAM = 0x64656364  # "decd": the running-cell decoder mask


def clip_generators(seeds: Sequence[int], stream: int) -> list[torch.Generator]:
    """One CPU generator per clip, seeded mix_seed(seed, k, stream), where k counts the earlier
    clips with the same seed (the repeat index of DATA.NUM_REPEATED_SAMPLES, whose repeats the
    collate lays out next to each other)."""
    seen: dict[int, int] = {}
    out = []
    for seed in (int(s) for s in seeds):
        k = seen.get(seed, 0)
        seen[seed] = k + 1
        out.append(torch.Generator().manual_seed(mix_seed(seed, k, stream)))
    return out


def batch_seeds(batch: dict, batch_size: int) -> list[int]:
    """The clips' sample seeds (``batch["seed"]``, from the sampler), or, for batches without
    them, seeds drawn from torch's global RNG (which the trainer seeds per step)."""
    seeds = batch.get("seed")
    if seeds is None:
        return torch.randint(2**62, (batch_size,)).tolist()
    seeds = seeds.reshape(-1).tolist()
    if len(seeds) != batch_size:
        raise ValueError(f"batch['seed'] has {len(seeds)} seeds for {batch_size} clips.")
    return seeds


class Masker:
    """A masker with its keyword arguments bound; draws masks on the mask-unit grid.

    `unit` is (frames, px, px) of one mask unit; `__call__(batch_size, input_shape=(T,H,W))`
    returns bool [B, T/unit[0], H/unit[1], W/unit[2]] (True = masked).
    """

    def __init__(
        self,
        name: str,
        ratio: float,
        unit: Sequence[int],
        **kwargs,
    ) -> None:
        self.name = name
        self.fn: Callable[..., torch.Tensor] = MASKERS.get(name)
        self.ratio = float(ratio)
        self.unit = tuple(int(u) for u in unit)
        self.kwargs = kwargs

    def grid(self, input_shape: Sequence[int]) -> Grid:
        """The mask-unit grid for an input of (T, H, W) frames/pixels."""
        if len(input_shape) != 3 or any(s % u for s, u in zip(input_shape, self.unit)):
            raise ValueError(
                f"Input shape (T,H,W)={tuple(input_shape)} is not divisible by the mask unit "
                f"{self.unit} (MASK.UNIT): choose frames/crop sizes that are multiples of it."
            )
        return tuple(s // u for s, u in zip(input_shape, self.unit))  # type: ignore[return-value]

    def __call__(
        self,
        batch_size: int,
        input_shape: Sequence[int],
        *,
        generator: torch.Generator | None = None,
        device: Device = None,
    ) -> torch.Tensor:
        grid = self.grid(input_shape)
        return self.fn(
            batch_size, grid, self.ratio, generator=generator, device=device, **self.kwargs
        )

    def draw(
        self, seeds: Sequence[int], input_shape: Sequence[int], *, device: Device = None
    ) -> torch.Tensor:
        """One mask per clip, bool [len(seeds), t, h, w], from `clip_generators(seeds)`: the
        same masks whether drawn in a loader worker or by the objective."""
        gens = clip_generators(seeds, MASK_STREAM)
        return torch.cat([self(1, input_shape, generator=g) for g in gens]).to(device)

    def __repr__(self) -> str:
        return f"Masker({self.name!r}, ratio={self.ratio}, unit={self.unit}, {self.kwargs})"


def build_masker(cfg: CfgNode) -> Masker:
    """Masker from cfg.MASK (TYPE, RATIO, UNIT and the cube block ranges)."""
    m = cfg.MASK
    if m.TYPE not in MASKERS:
        valid = sorted(n for n, _ in MASKERS)
        raise ValueError(f"MASK.TYPE={m.TYPE!r} is not a registered masker; choose from {valid}.")
    kwargs: dict = {}
    if m.TYPE == "cube":
        kwargs = dict(
            min_area_frac=m.MIN_AREA_FRAC,
            max_area_frac=m.MAX_AREA_FRAC,
            aspect_range=tuple(m.ASPECT_RANGE),
            temporal_range=tuple(m.TEMPORAL_RANGE),
        )
    return Masker(m.TYPE, m.RATIO, m.UNIT, **kwargs)
