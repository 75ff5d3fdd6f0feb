"""Tests for videossl.targets.hog against a slow reference written from the spec, and against
an independent straightforward re-implementation of PySlowFast's HOGLayerC arithmetic."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from videossl.models.normalize import Normalize
from videossl.targets.hog import (
    HOGTarget,
    gaussian_window_2d,
    hog_cells,
    hog_reference,
    sobel_gradients,
)

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


def test_constant_image_matches_hoglayerc():
    # conv2d leaves ~1e-7 leftovers on a constant image; HOGLayerC's L2 normalisation turns
    # them into unit-norm histograms, and so does ours
    video = torch.full((1, 3, 2, 32, 32), 0.7)
    expected = hoglayerc_tokens(video)
    torch.testing.assert_close(HOGTarget()(video), expected, atol=1e-5, rtol=0)


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


# --- PySlowFast HOGLayerC parity --------------------------------------------------------------


def hoglayerc_hist(frames, nbins=9, pool=8, gkern=None, raw=False):
    """HOGLayerC's arithmetic on [N,3,H,W] float frames -> [N,3,nbins,H/pool,W/pool].

    Reflect pad, grouped conv2d with the Sobel kernels, norm of the stacked (gx, gy), atan2(gx,
    gy)/pi*nbins, floor mod nbins, one-hot pixel histograms, avg-pool x pool^2 (cell sums),
    optional gaussian tiled over the frame, F.normalize over the bins (unless raw)."""
    wx = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]).view(1, 1, 3, 3).repeat(3, 1, 1, 1)
    wy = wx.transpose(2, 3)
    x = F.pad(frames, pad=(1, 1, 1, 1), mode="reflect")
    gx = F.conv2d(x, wx, bias=None, stride=1, padding=0, groups=3)
    gy = F.conv2d(x, wy, bias=None, stride=1, padding=0, groups=3)
    mag = torch.stack([gx, gy], dim=-1).norm(dim=-1)
    phase = torch.atan2(gx, gy) / math.pi * nbins
    n, c, h, w = mag.shape
    if gkern is not None:
        mag = mag * gkern.repeat(h // gkern.shape[0], w // gkern.shape[1])
    onehot = F.one_hot(phase.floor().long() % nbins, nbins).permute(0, 1, 4, 2, 3).float()
    per_pixel = (onehot * mag[:, :, None]).reshape(n, c * nbins, h, w)
    cells = F.avg_pool2d(per_pixel, pool) * (pool * pool)
    cells = cells.view(n, c, nbins, h // pool, w // pool)
    return cells if raw else F.normalize(cells, p=2, dim=2)


def hoglayerc_tokens(video, patch=(2, 16, 16), pool=8, gkern=None):
    """PySlowFast's _get_hog_label_3d layout: frames ::pt, [B,N,C*nbins*(ph/pool)*(pw/pool)]."""
    pt, ph, _ = patch
    frames = video[:, :, ::pt].transpose(1, 2)
    b, t = frames.shape[:2]
    hog = hoglayerc_hist(frames.flatten(0, 1), pool=pool, gkern=gkern).flatten(1, 2)
    hc, wc = hog.shape[-2:]
    u = ph // pool
    tok = hog.permute(0, 2, 3, 1).unfold(1, u, u).unfold(2, u, u)  # BT h w C*nb u u
    tok = tok.flatten(3).reshape(b, t, hc // u, wc // u, -1)
    return tok.flatten(1, 3)


def _assert_matches_hoglayerc(video, gaussian=False):
    target = HOGTarget(gaussian_window=gaussian)
    gkern = target.window if gaussian else None
    out, expected = target(video), hoglayerc_tokens(video, gkern=gkern)
    assert out.shape == expected.shape
    assert (out - expected).abs().max().item() <= 1e-5
    # unit-norm cells (flat-region leftovers included) are the same cells
    hist = hog_cells(video, window=gkern)
    ref = hoglayerc_hist(video[:, :, ::2].transpose(1, 2).flatten(0, 1), gkern=gkern)
    ours_unit = hist.norm(dim=2) > 0.5  # [B,C,T',Hc,Wc]
    ref_unit = ref.norm(dim=2) > 0.5  # [BT',C,Hc,Wc]
    assert int(ours_unit.sum()) == int(ref_unit.sum())
    assert torch.equal(ours_unit.transpose(1, 2).flatten(0, 1), ref_unit)


def _quantised_clip(seed, t=4, h=48, w=64):
    """uint8 clip with flat blocks, ramps and noise, normalised as the loader does."""
    g = torch.Generator().manual_seed(seed)
    clip = torch.randint(0, 256, (1, 3, t, h, w), generator=g, dtype=torch.uint8)
    clip[..., :16, :32] = 77  # flat
    clip[..., 16:32, :] = torch.arange(w, dtype=torch.uint8) * 3  # horizontal ramp: gy = 0
    clip[..., 32:, :16] = (torch.arange(h - 32, dtype=torch.uint8) * 5)[:, None]  # vertical
    return Normalize((0.45, 0.45, 0.45), (0.225, 0.225, 0.225))(clip)


def test_hoglayerc_parity_random_floats():
    video = torch.randn(2, 3, 4, 32, 48, generator=torch.Generator().manual_seed(10))
    _assert_matches_hoglayerc(video)
    _assert_matches_hoglayerc(video, gaussian=True)


def test_hoglayerc_parity_smooth_images():
    y, x = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    chans = [torch.sin(x / 7 + y / 11), torch.cos(x / 5 - y / 13), torch.sin((x * y) / 300)]
    frame = torch.stack(chans)  # [3,H,W]
    video = torch.stack([frame, frame.roll(3, -1), frame * 0.5, frame.flip(-1)], 1)[None]
    _assert_matches_hoglayerc(video)


@pytest.mark.parametrize("seed", [0, 1])
def test_hoglayerc_parity_8bit_quantised(seed):
    video = _quantised_clip(seed)
    _assert_matches_hoglayerc(video)
    _assert_matches_hoglayerc(video, gaussian=True)
    # the clip exercises the gx = 0 ties that separable shifts round differently
    frames = video[:, :, ::2].transpose(1, 2).flatten(0, 1)
    x = F.pad(frames, (1, 1, 1, 1), mode="reflect")
    wx = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]).view(1, 1, 3, 3).repeat(3, 1, 1, 1)
    gx = F.conv2d(x, wx, groups=3)
    assert (gx == 0).float().mean() > 0.1


def _decoded_video(path, frames=8, size=(96, 128)):
    """Write an H.264 clip with flat regions, decode it, resize to 64x64, normalise."""
    import av
    from torchvision.transforms.v2 import functional as TF

    from videossl.data.demo import write_video

    h, w = size
    rng = np.random.default_rng(0)
    video = np.zeros((frames, h, w, 3), dtype=np.uint8)
    video[:] = (40, 90, 160)  # flat background
    ramp = np.linspace(0, 255, w, dtype=np.float32)
    for i in range(frames):
        video[i, 60:, :, 0] = ramp.astype(np.uint8)  # smooth ramp
        video[i, 10 + i : 40 + i, 20 + 3 * i : 60 + 3 * i] = (230, 30, 30)  # moving box
        video[i, 70:90, 90:120] = rng.integers(0, 255, (20, 30, 3))  # texture
    write_video(str(path), video, crf=23)
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    clip = torch.from_numpy(np.stack(decoded)).permute(3, 0, 1, 2)  # [3,T,H,W] uint8
    clip = TF.resize(clip.transpose(0, 1), [64, 64], antialias=True).transpose(0, 1)
    return Normalize((0.45, 0.45, 0.45), (0.225, 0.225, 0.225))(clip[None])


def test_hoglayerc_parity_decoded_video_with_flat_regions(tmp_path):
    video = _decoded_video(tmp_path / "flat.mp4")
    assert video.shape == (1, 3, 8, 64, 64)
    _assert_matches_hoglayerc(video)
    _assert_matches_hoglayerc(video, gaussian=True)
    # flat regions: cells whose histogram is float leftovers only, unit norm after L2 (HOGLayerC)
    frames = video[:, :, ::2].transpose(1, 2).flatten(0, 1)
    raw = hoglayerc_hist(frames, raw=True)
    leftover = (raw.sum(dim=2) < 1e-4) & (raw.sum(dim=2) > 0)
    assert leftover.any()
    assert torch.allclose(hoglayerc_hist(frames).norm(dim=2)[leftover], torch.tensor(1.0))


@pytest.mark.parametrize("size", [(48, 64), (224, 224), (40, 56), (32, 200)])
def test_channels_last_gradients_bit_identical_to_grouped_conv(size):
    # the fast path's CPU conv runs on channels-last memory; HOGLayerC's NCHW grouped conv is
    # the reference, bit for bit (vector tails of several widths, 8-bit ties, random floats)
    h, w = size
    clips = [_quantised_clip(3, t=2, h=h, w=w), torch.randn(1, 3, 2, h, w)]
    wx = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]).view(1, 1, 3, 3).repeat(3, 1, 1, 1)
    for video in clips:
        frames = video[:, :, ::2].transpose(1, 2).flatten(0, 1).contiguous()
        x = F.pad(frames, (1, 1, 1, 1), mode="reflect")
        want = (F.conv2d(x, wx, groups=3), F.conv2d(x, wx.transpose(2, 3), groups=3))
        got = sobel_gradients(frames, channels_last=True)
        assert got[0].is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_hoglayerc_parity_8bit_full_size():
    _assert_matches_hoglayerc(_quantised_clip(4, t=2, h=224, w=224))
