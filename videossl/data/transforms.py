"""Video transforms on uint8 clips (torchvision.transforms.v2 kernels, one random draw per clip).

Input to every pipeline: uint8 ``[T,H,W,3]`` (what the decoders return). Output: uint8
``[3,T,H,W]``: the loaders ship pixels and the objective normalises on the device (see
docs/architecture.md, "Data pipeline and engine contracts"). Geometric transforms crop before
resizing and resize in uint8.

The pipelines are module-level classes (picklable: loader workers started with "spawn" receive
them by pickling). Every random draw takes an explicit ``torch.Generator``: the dataset seeds
one per sample from the sampler's (epoch, position) seed, so a resumed run sees the same clips.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F


def to_video(frames: torch.Tensor) -> tv_tensors.Video:
    """uint8 [T,H,W,3] -> tv_tensors.Video [T,3,H,W] (a view, no copy)."""
    return tv_tensors.Video(frames.permute(0, 3, 1, 2))


def to_planar(video: torch.Tensor) -> torch.Tensor:
    """uint8 [T,3,H,W] (any memory layout) -> contiguous uint8 [3,T,H,W], not normalised."""
    x = video.as_subclass(torch.Tensor)
    if x.dtype == torch.uint8 and x.permute(0, 2, 3, 1).is_contiguous():
        # Channels-last memory (what the uint8 resize returns): numpy de-interleaves the
        # channels ~1.7x faster than torch's .contiguous() (~1.6 vs ~2.8 ms for 16x224x224).
        planar = np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy().transpose(3, 0, 1, 2))
        return torch.from_numpy(planar)
    return x.permute(1, 0, 2, 3).contiguous()


def default_generator() -> torch.Generator:
    """A generator seeded from torch's global RNG (callers that pass none stay reproducible
    under ``torch.manual_seed``)."""
    return torch.Generator().manual_seed(int(torch.randint(2**62, ())))


def _uniform(lo: float, hi: float, generator: torch.Generator) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=generator, dtype=torch.float64))


def _randint(lo: int, hi: int, generator: torch.Generator) -> int:
    """An integer in [lo, hi)."""
    return int(torch.randint(lo, hi, (), generator=generator))


def random_resized_crop_params(
    height: int,
    width: int,
    scale: Sequence[float],
    ratio: Sequence[float],
    generator: torch.Generator,
) -> tuple[int, int, int, int]:
    """(top, left, h, w) of an Inception-style random crop (torchvision's RandomResizedCrop
    algorithm: 10 tries of area x log-uniform aspect, then the central crop)."""
    area = height * width
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * _uniform(scale[0], scale[1], generator)
        aspect = math.exp(_uniform(log_lo, log_hi, generator))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = _randint(0, height - h + 1, generator)
            left = _randint(0, width - w + 1, generator)
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def short_side_jitter_params(
    height: int,
    width: int,
    size: int,
    scales: Sequence[int],
    generator: torch.Generator,
    inverse_uniform: bool = False,
) -> tuple[int, int, int, int]:
    """Scale jitter + random crop (PySlowFast) as one crop-then-resize: resizing the short side
    to a random size in ``scales`` and cropping ``size`` x ``size`` is cropping this square.
    ``inverse_uniform``: 1/size uniform in [1/max, 1/min] (PySlowFast's INV_UNIFORM_SAMPLE)."""
    if inverse_uniform:
        low, high = 1.0 / int(scales[-1]), 1.0 / int(scales[0])
        short = int(round(1.0 / _uniform(low, high, generator)))
    else:
        short = _randint(int(scales[0]), int(scales[-1]) + 1, generator)
    factor = short / min(height, width)
    side = max(1, round(min(size / factor, height, width)))  # crop side in source pixels
    top = _randint(0, height - side + 1, generator)
    left = _randint(0, width - side + 1, generator)
    return top, left, side, side


def multi_scale_crop_params(
    height: int,
    width: int,
    size: int,
    scales: Sequence[float],
    generator: torch.Generator,
    max_distort: int = 1,
) -> tuple[int, int, int, int]:
    """(top, left, h, w) of VideoMAE's multi-scale crop (its ``GroupMultiScaleCrop`` rule).

    Side candidates are ``int(short_side * s)`` for each scale, snapped to ``size`` when within
    3 pixels; a (width, height) pair is drawn uniformly among the pairs whose scale indices
    differ by at most ``max_distort``, then a position uniformly among 13 fixed ones on a 4x4
    grid of steps ``(free space) // 4``: the 4 corners, the centre, the 4 edge centres and the
    4 quarter points."""
    sides = [int(min(height, width) * s) for s in scales]
    sides = [size if abs(x - size) < 3 else x for x in sides]
    pairs = [
        (sides[j], sides[i])  # (w, h)
        for i in range(len(sides))
        for j in range(len(sides))
        if abs(i - j) <= max_distort
    ]
    w, h = pairs[_randint(0, len(pairs), generator)]
    w_step, h_step = (width - w) // 4, (height - h) // 4
    grid = ((0, 0), (4, 0), (0, 4), (4, 4), (2, 2), (0, 2), (4, 2), (2, 4), (2, 0))
    grid += ((1, 1), (3, 1), (1, 3), (3, 3))
    gx, gy = grid[_randint(0, len(grid), generator)]
    return gy * h_step, gx * w_step, h, w


def color_jitter_params(strength: float, generator: torch.Generator) -> list[tuple[str, float]]:
    """Brightness, contrast and saturation factors, each uniform in [max(0, 1-s), 1+s], in a
    random order (torchvision's ColorJitter with the same strength for all three, no hue)."""
    low, high = max(0.0, 1.0 - strength), 1.0 + strength
    names = ("brightness", "contrast", "saturation")
    order = torch.randperm(len(names), generator=generator).tolist()
    return [(names[i], _uniform(low, high, generator)) for i in order]


_JITTER_OPS = {
    "brightness": F.adjust_brightness,
    "contrast": F.adjust_contrast,
    "saturation": F.adjust_saturation,
}


def color_jitter(video: torch.Tensor, ops: Sequence[tuple[str, float]]) -> torch.Tensor:
    """Apply ``color_jitter_params`` output to a uint8 [T,3,H,W] video (the same factors on
    every frame; contrast blends each frame with its own mean grey level)."""
    for name, factor in ops:
        video = _JITTER_OPS[name](video, factor)
    return video


def random_erasing_box(
    height: int,
    width: int,
    generator: torch.Generator,
    scale: Sequence[float] = (0.02, 0.33),
    ratio: Sequence[float] = (0.3, 3.3),
) -> tuple[int, int, int, int] | None:
    """(top, left, h, w) of a random-erasing box (torchvision's RandomErasing algorithm), or
    None when 10 tries find none."""
    area = height * width
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        erase = area * _uniform(scale[0], scale[1], generator)
        aspect = math.exp(_uniform(log_lo, log_hi, generator))
        h = int(round(math.sqrt(erase * aspect)))
        w = int(round(math.sqrt(erase / aspect)))
        if h < height and w < width:
            top = _randint(0, height - h + 1, generator)
            return top, _randint(0, width - w + 1, generator), h, w
    return None


def parse_rand_augment(spec: str) -> dict:
    """timm-style ``rand-m7-n4-mstd0.5-inc1`` -> ``{magnitude, num_ops, mstd}``.

    Magnitudes are on timm's 0..10 scale; ``inc`` is accepted (torchvision's ops already use
    signed, increasing magnitudes)."""
    parts = spec.split("-")
    if parts[0] != "rand":
        raise ValueError(f"RandAugment spec {spec!r} must start with 'rand-' (e.g. rand-m7-n4).")
    out = {"magnitude": 10.0, "num_ops": 2, "mstd": 0.0}
    for part in parts[1:]:
        match = re.fullmatch(r"([a-z]+)([0-9.]+)", part)
        if match is None:
            raise ValueError(f"Cannot parse {part!r} in RandAugment spec {spec!r}.")
        key, value = match.groups()
        if key == "m":
            out["magnitude"] = float(value)
        elif key == "n":
            out["num_ops"] = int(value)
        elif key == "mstd":
            out["mstd"] = float(value)
        elif key not in ("inc", "mmax", "w", "p"):
            raise ValueError(f"Unknown RandAugment option {key!r} in {spec!r}.")
    return out


class VideoRandAugment(v2.RandAugment):
    """torchvision RandAugment with timm's magnitude scale (0..10) and magnitude noise
    (``mstd``): one magnitude and one list of ops per clip, applied to every frame.

    ``apply(video, generator)`` draws the magnitude noise from ``generator`` and runs
    torchvision's op choice on the global RNG forked and seeded from it (torchvision takes no
    generator), so the result depends on ``generator`` only."""

    BINS = 101

    def __init__(self, num_ops: int, magnitude: float, mstd: float = 0.0) -> None:
        super().__init__(num_ops=num_ops, magnitude=0, num_magnitude_bins=self.BINS)
        self.base, self.mstd = magnitude, mstd

    def apply(self, video: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        m = self.base
        if self.mstd > 0:
            m = m + self.mstd * float(torch.randn((), generator=generator))
        seed = int(torch.randint(2**62, (), generator=generator))
        self.magnitude = int(round(min(max(m, 0.0), 10.0) * (self.BINS - 1) / 10))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return super().forward(video)


class TrainTransform:
    """Training pipeline: uint8 [T,H,W,3] -> uint8 [3,T,crop,crop].

    Random resized crop (or short-side scale jitter, or VideoMAE's multi-scale crop when
    ``multi_scale_crop`` lists scales), horizontal flip, colour jitter, RandAugment and random
    erasing, each drawn once per clip from ``generator``. Erased boxes are filled with
    ``erase_fill`` (uint8 RGB; the dataset mean colour, i.e. 0 after normalisation, as
    torchvision's RandomErasing does on normalised clips)."""

    def __init__(
        self,
        *,
        crop_size: int,
        random_resized_crop: bool = True,
        area_range: Sequence[float] = (0.08, 1.0),
        aspect_range: Sequence[float] = (0.75, 1.3333),
        jitter_scales: Sequence[int] = (256, 320),
        flip: bool = True,
        rand_augment: str = "",
        random_erasing: float = 0.0,
        erase_fill: Sequence[int] = (115, 115, 115),
        inverse_uniform: bool = False,
        multi_scale_crop: Sequence[float] = (),
        max_distort: int = 1,
        color_jitter: float = 0.0,
    ) -> None:
        self.crop_size = int(crop_size)
        self.multi_scale_crop = tuple(float(s) for s in multi_scale_crop)
        self.max_distort = int(max_distort)
        self.color_jitter = float(color_jitter)
        self.inverse_uniform = bool(inverse_uniform)
        self.random_resized_crop = random_resized_crop
        self.area_range = tuple(float(a) for a in area_range)
        self.aspect_range = tuple(float(a) for a in aspect_range)
        self.jitter_scales = (int(jitter_scales[0]), int(jitter_scales[-1]))
        self.flip = flip
        self.rand_augment = (
            VideoRandAugment(**parse_rand_augment(rand_augment)) if rand_augment else None
        )
        self.random_erasing = float(random_erasing)
        self.erase_fill = tuple(int(v) for v in erase_fill)

    def __call__(
        self, frames: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        g = generator if generator is not None else default_generator()
        video = to_video(frames)
        height, width = video.shape[-2:]
        if self.multi_scale_crop:
            box = multi_scale_crop_params(
                height, width, self.crop_size, self.multi_scale_crop, g, self.max_distort
            )
        elif self.random_resized_crop:
            box = random_resized_crop_params(height, width, self.area_range, self.aspect_range, g)
        else:
            box = short_side_jitter_params(
                height, width, self.crop_size, self.jitter_scales, g, self.inverse_uniform
            )
        size = [self.crop_size, self.crop_size]
        video = F.resized_crop(video, *box, size, antialias=True)
        if self.flip and float(torch.rand((), generator=g)) < 0.5:
            video = F.horizontal_flip(video)
        if self.color_jitter > 0:
            video = color_jitter(video, color_jitter_params(self.color_jitter, g))
        if self.rand_augment is not None:
            video = self.rand_augment.apply(video, g)
        out = to_planar(video)  # uint8 [3,T,H,W]
        if self.random_erasing > 0 and float(torch.rand((), generator=g)) < self.random_erasing:
            erase = random_erasing_box(out.shape[-2], out.shape[-1], g)
            if erase is not None:
                top, left, h, w = erase
                fill = torch.tensor(self.erase_fill, dtype=torch.uint8).view(3, 1, 1, 1)
                out[:, :, top : top + h, left : left + w] = fill
        return out


def train_transform(**kwargs) -> TrainTransform:
    """``TrainTransform(**kwargs)`` (kept for callers of the function form)."""
    return TrainTransform(**kwargs)


def spatial_crop_box(
    height: int, width: int, spatial_idx: int, num_crops: int
) -> tuple[int, int, int]:
    """(top, left, side) of the square source region that becomes view ``spatial_idx``.

    Resizing the short side to the crop size and taking crop ``spatial_idx`` of ``num_crops``
    (0 = left/top, 1 = centre, 2 = right/bottom along the long side; one crop = centre) is the
    same as cropping this square and resizing it to the crop size."""
    side = min(height, width)
    if num_crops == 1:
        pos = 0.5
    elif num_crops == 3:
        pos = spatial_idx / 2
    else:
        raise ValueError(f"num_crops must be 1 or 3, got {num_crops}")
    top = math.floor((height - side) * pos) if height > width else 0
    left = math.floor((width - side) * pos) if width >= height else 0
    return top, left, side


def test_view(
    frames: torch.Tensor, *, crop_size: int, spatial_idx: int = 1, num_crops: int = 1
) -> torch.Tensor:
    """Test view: uint8 [T,H,W,3] -> uint8 [3,T,crop,crop] (short side = crop size)."""
    video = to_video(frames)
    top, left, side = spatial_crop_box(video.shape[-2], video.shape[-1], spatial_idx, num_crops)
    video = F.resized_crop(video, top, left, side, side, [crop_size, crop_size], antialias=True)
    return to_planar(video)
