"""Tests for videossl.targets.hog against a slow reference written from the spec."""

import math

import numpy as np
import pytest
import torch

from videossl.targets.hog import HOGTarget, gaussian_window_2d, hog_cells, hog_reference

KX = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64)
KY = KX.T


def spec_hog_tokens(video, patch=(2, 16, 16), cell=8, nbins=9, window=None):
    """Pixel loops, float64: [B,3,T,H,W] -> [B, N, 3*nbins*(ph/cell)*(pw/cell)]."""
    video = np.asarray(video, dtype=np.float64)
    b, c, t, h, w = video.shape
    pt, ph, pw = patch
    hc, wc = h // cell, w // cell
    hist = np.zeros((b, c, t // pt, nbins, hc, wc))
    for bi in range(b):
        for ci in range(c):
            for ti, f in enumerate(range(0, t, pt)):
                img = np.pad(video[bi, ci, f], 1, mode="reflect")
                for y in range(h):
                    for x in range(w):
                        win = img[y : y + 3, x : x + 3]
                        gx, gy = (win * KX).sum(), (win * KY).sum()
                        mag = math.sqrt(gx * gx + gy * gy)
                        if window is not None:
                            mag *= window[y % window.shape[0], x % window.shape[1]]
                        k = math.floor(math.atan2(gx, gy) / math.pi * nbins) % nbins
                        hist[bi, ci, ti, k, y // cell, x // cell] += mag
    norm = np.sqrt((hist**2).sum(axis=3, keepdims=True))
    hist = hist / np.maximum(norm, 1e-12)
    tokens = []
    uh, uw = ph // cell, pw // cell
    for bi in range(b):
        rows = []
        for ti in range(t // pt):
            for i in range(h // ph):
                for j in range(w // pw):
                    vals = [
                        hist[bi, ci, ti, k, i * uh + r, j * uw + q]
                        for ci in range(c)
                        for k in range(nbins)
                        for r in range(uh)
                        for q in range(uw)
                    ]
                    rows.append(vals)
        tokens.append(rows)
    return np.array(tokens)


def test_matches_spec_reference():
    video = torch.randn(1, 3, 4, 32, 32, generator=torch.Generator().manual_seed(0)).double()
    out = HOGTarget()(video)
    assert out.shape == (1, 2 * 2 * 2, 108)
    expected = spec_hog_tokens(video.numpy())
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-5)


def test_matches_spec_reference_with_gaussian_window():
    video = torch.rand(1, 3, 2, 32, 32, generator=torch.Generator().manual_seed(1)).double()
    target = HOGTarget(gaussian_window=True)
    expected = spec_hog_tokens(video.numpy(), window=target.window.double().numpy())
    np.testing.assert_allclose(target(video).numpy(), expected, atol=1e-5)
    # the window changes the result
    assert not np.allclose(HOGTarget()(video).numpy(), expected, atol=1e-3)


def test_fast_equals_scatter_reference():
    video = torch.randn(2, 3, 8, 64, 48, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(hog_cells(video), hog_reference(video), atol=1e-5, rtol=0)
    window = gaussian_window_2d(16, 8)
    torch.testing.assert_close(
        hog_cells(video, window=window), hog_reference(video, window=window), atol=1e-5, rtol=0
    )


def test_constant_image_gives_zero():
    video = torch.full((1, 3, 2, 32, 32), 0.7)
    assert HOGTarget()(video).abs().max() == 0


def _edge_video(axis):
    video = torch.zeros(1, 3, 2, 16, 16)
    if axis == "vertical":  # dark left, bright right
        video[..., 8:] = 1.0
    else:  # dark top, bright bottom
        video[..., 8:, :] = 1.0
    return video


@pytest.mark.parametrize("axis,expected_bin", [("vertical", 4), ("horizontal", 0)])
def test_edges_land_in_expected_bins(axis, expected_bin):
    hist = hog_cells(_edge_video(axis), cell_size=8, nbins=9, frame_stride=2)
    total = hist.sum(dim=(0, 1, 3, 4, 5))  # per bin
    assert total.argmax().item() == expected_bin
    assert (total[torch.arange(9) != expected_bin] == 0).all()


def test_diagonal_edge_bin():
    y, x = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    video = (x + y).float().expand(1, 3, 2, 16, 16)  # gx = gy < 0 inside: atan2 = -3pi/4
    hist = hog_cells(video, frame_stride=2)
    assert hist.sum(dim=(0, 1, 3, 4, 5)).argmax().item() == math.floor(-0.75 * 9) % 9


def test_output_shape_and_ordering_full_clip():
    video = torch.randn(1, 3, 16, 224, 224, generator=torch.Generator().manual_seed(3))
    target = HOGTarget()
    out = target(video)
    assert target.dim == 108 and out.shape == (1, 8 * 14 * 14, 108)
    hist = hog_cells(video)  # [1,3,9,8,28,28]
    t, i, j = 5, 3, 11
    token = out[0, t * 196 + i * 14 + j].view(3, 9, 2, 2)
    torch.testing.assert_close(token, hist[0, :, :, t, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2])


def test_normalisation_invariance_and_frames():
    video = torch.rand(1, 3, 4, 32, 32, generator=torch.Generator().manual_seed(4))
    mean = torch.tensor([0.45, 0.4, 0.5]).view(1, 3, 1, 1, 1)
    std = torch.tensor([0.225, 0.2, 0.25]).view(1, 3, 1, 1, 1)
    target = HOGTarget()
    torch.testing.assert_close(target(video), target((video - mean) / std), atol=1e-5, rtol=0)
    # only the first frame of each temporal patch is used
    changed = video.clone()
    changed[:, :, 1::2] = torch.rand_like(changed[:, :, 1::2])
    assert torch.equal(target(video), target(changed))
    both = HOGTarget(frame_stride=1)
    assert both.dim == 216 and both(video).shape == (1, 8, 216)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="divisible"):
        HOGTarget()(torch.zeros(1, 3, 4, 24, 32))
    with pytest.raises(ValueError, match="cell_size"):
        HOGTarget(cell_size=5)


def test_autocast_and_half_input_computed_in_float32():
    video = torch.randn(1, 3, 2, 32, 32, generator=torch.Generator().manual_seed(5))
    expected = HOGTarget()(video)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = HOGTarget()(video)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected)


def test_benchmark_runs_and_reports():
    import argparse

    from videossl.benchmarks import hog as bench

    parser = argparse.ArgumentParser()
    bench.add_args(parser)
    args = parser.parse_args(["--shape", "1", "3", "4", "32", "32", "--repeats", "1"])
    result = bench.run(args)
    assert result["cpu_equal"] and result["cpu_cells_differing"] == 0
    assert result["cpu_ms_fast"] > 0 and result["cpu_speedup"] > 0
