"""Tests for videossl.visualize and tools/visualize.py."""

import importlib.util
import os

import numpy as np
import pytest
import torch

from videossl.targets.pixels import denormalize_videomae_patches, patchify, unpatchify
from videossl.visualize import (
    hog_glyph_segments,
    plot_reconstruction,
    read_clip,
    synthetic_clip,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["DATA.NUM_FRAMES", "4", "DATA.TEST_CROP_SIZE", "64", "DATA.TRAIN_CROP_SIZE", "64"]


def _tool():
    spec = importlib.util.spec_from_file_location(
        "visualize_tool", os.path.join(ROOT, "tools", "visualize.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _is_png(path):
    with open(path, "rb") as f:
        return os.path.getsize(path) > 1000 and f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("command,name", [("masks", "masks_cube.png"), ("hog", "hog.png")])
def test_cli_writes_png(tmp_path, command, name):
    paths = _tool().main([command, "--out", str(tmp_path), "--opts", *TINY])
    assert paths == [str(tmp_path / name)]
    assert _is_png(paths[0])


def _write_video(path, frames=6, size=(40, 56)):
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        for t in range(frames):
            img = np.zeros((*size, 3), dtype=np.uint8)
            img[:, : 8 + 6 * t] = 200
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_read_clip_and_cli_with_video(tmp_path):
    video = tmp_path / "clip.mp4"
    _write_video(video)
    clip = read_clip(str(video), 8, 32)
    assert clip.shape == (3, 8, 32, 32)
    assert 0 <= clip.min() and clip.max() <= 1
    assert torch.equal(clip[:, 6], clip[:, 7])  # 6 frames: the last one repeats
    assert not torch.allclose(clip[:, 0], clip[:, 5], atol=0.05)  # the bright band grows
    opts = ["MASK.TYPE", "tube", "MASK.RATIO", "0.9", "MASK.UNIT", "[2,16,16]", *TINY]
    paths = _tool().main(["masks", "--video", str(video), "--out", str(tmp_path), "--opts", *opts])
    assert _is_png(paths[0]) and paths[0].endswith("masks_tube.png")


def test_glyph_orientation():
    hist = np.zeros((9, 1, 2))
    hist[4, 0, 0] = 1.0  # vertical edge bin -> vertical glyph
    hist[0, 0, 1] = 1.0  # horizontal edge bin -> near-horizontal glyph
    segs, weights = hog_glyph_segments(hist, 8)
    seg_v = segs[4]  # cell 0, bin 4
    seg_h = segs[9 + 0]  # cell 1, bin 0
    assert weights[4] == 1 and weights[9] == 1 and weights.sum() == 2
    dv, dh = seg_v[1] - seg_v[0], seg_h[1] - seg_h[0]
    assert abs(dv[0]) < 1e-9 and abs(dv[1]) == pytest.approx(8)
    assert abs(dh[0]) > 5 * abs(dh[1])
    np.testing.assert_allclose(seg_h.mean(0), [12, 4])  # centre of cell (0, 1)


def test_reconstruction_plot(tmp_path):
    frames = synthetic_clip(4, 32)
    target = patchify(frames[None], (2, 16, 16))
    x = target.view(1, 8, 512, 3)
    norm = ((x - x.mean(2, keepdim=True)) / (x.std(2, keepdim=True) + 1e-6)).flatten(2)
    recon = unpatchify(
        denormalize_videomae_patches(norm, frames[None], (2, 16, 16)), (2, 16, 16), (2, 2, 2)
    )[0]
    torch.testing.assert_close(recon, frames, atol=1e-5, rtol=0)
    mask = torch.tensor([[[True, False], [False, True]]]).expand(2, 2, 2)
    path = plot_reconstruction(frames, mask, recon, str(tmp_path / "recon.png"))
    assert _is_png(path)
