"""Tests for videossl.masking."""

import random

import numpy as np
import pytest
import torch

from videossl.config import get_defaults
from videossl.masking import (
    MASKERS,
    Masker,
    build_masker,
    clip_generators,
    cube_mask,
    cube_mask_one,
    draw_running_cell_masks,
    mask_to_grid,
    random_mask,
    running_cell_mask,
    sample_block,
    tube_mask,
)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(
    "grid,ratio,expected", [((8, 7, 7), 0.4, 157), ((4, 7, 7), 0.5, 98), ((2, 4, 6), 0.75, 36)]
)
def test_cube_exact_count(grid, ratio, expected):
    mask = cube_mask(16, grid, ratio, generator=_gen())
    assert mask.shape == (16, *grid) and mask.dtype == torch.bool
    assert mask.flatten(1).sum(1).tolist() == [expected] * 16


def test_cube_count_exact_where_reference_stops_short():
    # Near-full masks force the fallback after 100 failed blocks.
    mask = cube_mask(8, (8, 7, 7), 0.95, generator=_gen(3))
    assert mask.flatten(1).sum(1).tolist() == [round(392 * 0.95)] * 8


def test_cube_block_size_rules():
    rng = random.Random(0)
    grid = (8, 7, 7)
    seen_t = set()
    for _ in range(2000):
        size, fits = sample_block(rng, grid, (9.0, 49.0), (0.3, 1 / 0.3), (1, 8))
        if not fits:
            assert size[1] >= 7 or size[2] >= 7 or min(size) < 1
            continue
        bt, bh, bw = size
        seen_t.add(bt)
        assert 1 <= bt <= 8 and 1 <= bh < 7 and 1 <= bw < 7
        # area before rounding is in [9, 49]: the rounded sides bound it loosely
        assert (bh + 0.5) * (bw + 0.5) >= 9 and (bh - 0.5) * (bw - 0.5) <= 49
        assert 0.3 / 4 <= bh / bw <= 4 / 0.3
    assert seen_t == set(range(1, 9))


@pytest.mark.parametrize("grid", [(1, 1, 1), (2, 1, 5), (2, 2, 2), (3, 3, 3)])
def test_cube_tiny_grids_terminate_with_exact_count(grid):
    mask = cube_mask(4, grid, 0.5, generator=_gen())
    n = grid[0] * grid[1] * grid[2]
    assert mask.flatten(1).sum(1).tolist() == [round(n * 0.5)] * 4


def test_cube_single_block_is_a_box():
    # A small target reached by one block: the mask is one axis-aligned box.
    mask = cube_mask_one(random.Random(1), (4, 7, 7), 9, (9.0, 9.0), (1.0, 1.0), (1, 1))
    idx = mask.nonzero()
    assert mask.sum() == 9
    spans = [int(idx[i].max() - idx[i].min() + 1) for i in range(3)]
    assert spans == [1, 3, 3]


def test_cube_temporal_range():
    mask = cube_mask(4, (8, 7, 7), 0.1, generator=_gen(), temporal_range=(1, 1))
    # each block is one slice thick; with ~39 units over at most a few blocks, not all slices
    assert (mask.flatten(2).any(2).sum(1) < 8).all()


@pytest.mark.parametrize("grid,ratio", [((8, 14, 14), 0.9), ((3, 14, 14), 0.9), ((5, 4, 6), 0.5)])
def test_tube_count_and_same_over_time(grid, ratio):
    mask = tube_mask(4, grid, ratio, generator=_gen())
    t, h, w = grid
    assert (mask.flatten(2).sum(2) == int(ratio * h * w)).all()
    assert (mask == mask[:, :1]).all()
    if grid == (8, 14, 14):
        assert mask.flatten(1).sum(1).tolist() == [1408] * 4


@pytest.mark.parametrize("grid,ratio", [((8, 14, 14), 0.9), ((8, 14, 14), 0.75), ((3, 5, 7), 0.3)])
def test_random_count(grid, ratio):
    mask = random_mask(4, grid, ratio, generator=_gen())
    n = grid[0] * grid[1] * grid[2]
    assert mask.flatten(1).sum(1).tolist() == [int(n * ratio)] * 4


def test_random_keep_rounding_matches_maest():
    mask = random_mask(2, (8, 14, 14), 0.9, generator=_gen(), keep_rounding=True)
    assert mask.flatten(1).sum(1).tolist() == [1568 - int(1568 * (1 - 0.9))] * 2 == [1412] * 2


@pytest.mark.parametrize("name", ["cube", "tube", "random"])
def test_deterministic_and_differs_across_samples(name):
    fn = MASKERS.get(name)
    a = fn(4, (4, 7, 7), 0.5, generator=_gen(7))
    b = fn(4, (4, 7, 7), 0.5, generator=_gen(7))
    c = fn(4, (4, 7, 7), 0.5, generator=_gen(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a[0], a[1])


def test_bad_ratio_raises():
    with pytest.raises(ValueError, match="ratio"):
        random_mask(1, (2, 2, 2), 1.5)


def test_running_cell_pattern():
    m = running_cell_mask((4, 4, 6))
    assert m.shape == (4, 4, 6) and m.dtype == torch.bool
    # two of four kept in each 2x2 cell, every cell of a slice alike
    cells = m.view(4, 2, 2, 3, 2).permute(0, 1, 3, 2, 4).reshape(4, 6, 4)
    assert (cells.sum(-1) == 2).all()
    assert (cells == cells[:, :1]).all()
    # slice 0 with offset 0 keeps the VideoMAE v2 positions (0,1) and (1,0); then it shifts
    assert m[0, :2, :2].tolist() == [[False, True], [True, False]]
    assert not torch.equal(m[0], m[1])
    assert torch.equal(m[0], m[2].logical_not())
    # every position is kept in 2 of 4 consecutive slices
    assert (m.sum(0) == 2).all()


def test_running_cell_odd_grid_and_batch():
    assert running_cell_mask((2, 7, 7)).shape == (2, 7, 7)
    ms = draw_running_cell_masks(16, (2, 4, 4), generator=_gen())
    assert ms.shape == (16, 2, 4, 4)
    assert len({tuple(x.flatten().tolist()) for x in ms}) > 1


def test_mask_to_grid():
    mask = random_mask(2, (2, 3, 3), 0.5, generator=_gen())
    up = mask_to_grid(mask, (2, 6, 6))
    assert up.shape == (2, 2, 6, 6)
    assert torch.equal(up[:, :, ::2, ::2], mask)
    assert torch.equal(up[:, :, 1::2, 1::2], mask)
    assert up.sum() == mask.sum() * 4
    assert mask_to_grid(mask, (2, 3, 3)) is mask
    coarse = torch.tensor([[[[True, False]]]])  # [1,1,1,2] -> (2,2,4)
    up = mask_to_grid(coarse, (2, 2, 4))
    assert up[..., :2].all() and not up[..., 2:].any()
    with pytest.raises(ValueError, match="dividing the token grid"):
        mask_to_grid(torch.zeros(1, 3, 1, 1, dtype=torch.bool), (2, 2, 4))


def test_draw_is_per_clip_and_repeat_aware():
    masker = Masker("random", 0.5, (2, 8, 8))
    a = masker.draw([7, 7, 9], (4, 16, 16))
    assert a.shape == (3, 2, 2, 2) and a.dtype == torch.bool
    assert torch.equal(masker.draw([9], (4, 16, 16))[0], a[2])  # independent of the batch
    assert not torch.equal(a[0], a[1]) or not torch.equal(a[0], a[2])  # repeats differ
    g0, g1 = clip_generators([7, 7], stream=1)
    assert torch.rand(1, generator=g0) != torch.rand(1, generator=g1)  # k = repeat index


def test_one_mask_resolution_helper():
    """Only masking.py changes a mask's resolution (no other repeat_interleave of a mask)."""
    import ast
    from pathlib import Path

    import videossl

    root = Path(videossl.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "masking.py" and path.parent == root:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and (
                "upsample" in node.name and "mask" in node.name or node.name.endswith("to_grid")
            ):
                offenders.append(f"{path.name}:{node.name}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("repeat_interleave", "interpolate")
                and "mask" in ast.unparse(node.func.value).lower()
            ):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_build_masker_from_config():
    cfg = get_defaults()
    masker = build_masker(cfg)
    assert masker.unit == (2, 32, 32)
    mask = masker(3, (16, 224, 224), generator=_gen())
    assert mask.shape == (3, 8, 7, 7)
    assert mask.flatten(1).sum(1).tolist() == [157] * 3
    cfg.MASK.TYPE, cfg.MASK.RATIO, cfg.MASK.UNIT = "tube", 0.9, [2, 16, 16]
    mask = build_masker(cfg)(2, (16, 224, 224), generator=_gen())
    assert mask.flatten(1).sum(1).tolist() == [1408] * 2


def test_masker_rejects_indivisible_input():
    masker = build_masker(get_defaults())
    with pytest.raises(ValueError, match="MASK.UNIT"):
        masker(1, (16, 200, 224))


# ---- VideoMAE v2 running cell: an independent re-implementation of its
# dataset/masking_generator.py (Cell + RunningCellMaskingGenerator), in numpy. ----


class _VideoMAEv2Cell:
    def __init__(self, num_masks, num_patches):
        self.size = num_masks + num_patches
        self.queue = np.hstack([np.ones(num_masks), np.zeros(num_patches)])
        self.ptr = 0

    def get(self):
        return self.queue[(np.arange(self.size) + self.ptr) % self.size]


def videomae_v2_running_cell_maps(input_size, mask_ratio):
    """All maps [4, t, h*w]: 1 = not decoded ("masked" for the decoder), 0 = decoded."""
    t, h, w = input_size
    num_masks = int(4 * mask_ratio)
    cell = _VideoMAEv2Cell(num_masks, 4 - num_masks)
    maps = []
    for pos in range(cell.size):
        cell.ptr = pos
        frames = []
        for _ in range(t):
            cell.ptr += 1  # run_cell before get_cell
            frames.append(np.tile(cell.get().reshape(2, 2), [h // 2, w // 2]).flatten())
        maps.append(np.stack(frames))
    return np.stack(maps)


@pytest.mark.parametrize("grid", [(4, 4, 6), (8, 14, 14), (1, 2, 2)])
@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
def test_running_cell_equals_videomae_v2_generator(grid, ratio):
    ref = videomae_v2_running_cell_maps(grid, ratio)  # [4, t, h*w]
    for offset in range(4):
        ours = running_cell_mask(grid, ratio, offset=offset).flatten(1).numpy()
        np.testing.assert_array_equal(ours, ref[offset] == 0)
    drawn = draw_running_cell_masks(64, grid, ratio, generator=_gen()).flatten(2).numpy()
    phases = {
        int(np.flatnonzero((ref == 0).reshape(4, -1).__eq__(d.reshape(1, -1)).all(1))[0])
        for d in drawn
    }
    assert phases == {0, 1, 2, 3}  # one of the 4 maps per clip, all of them used
    with pytest.raises(ValueError, match="1..3"):
        running_cell_mask(grid, 0.2)
