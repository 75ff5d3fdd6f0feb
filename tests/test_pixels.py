"""Tests for videossl.targets.pixels and build_targets."""

import pytest
import torch

from videossl.config import get_defaults
from videossl.targets import TARGETS, build_targets
from videossl.targets.pixels import (
    PixelTarget,
    denormalize_videomae_patches,
    patchify,
    unpatchify,
)

MEAN, STD = (0.45, 0.4, 0.5), (0.225, 0.2, 0.25)


def _video(shape=(2, 3, 4, 32, 48), seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _unnorm(video):
    return video * torch.tensor(STD).view(1, 3, 1, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1, 1)


def test_patchify_layout_and_inverse():
    video = _video()
    x = patchify(video, (2, 16, 16))
    assert x.shape == (2, 2 * 2 * 3, 2 * 16 * 16 * 3)
    # token (t=1, h=1, w=2), pixel (dt=1, dh=3, dw=5), channel 2
    token, pixel = 1 * 6 + 1 * 3 + 2, (1 * 16 + 3) * 16 + 5
    assert x[1, token, pixel * 3 + 2] == video[1, 2, 2 + 1, 16 + 3, 32 + 5]
    assert torch.equal(unpatchify(x, (2, 16, 16), (2, 2, 3)), video)


def test_videomae_normalisation_matches_direct_computation():
    video = _video()
    pix = _unnorm(video)  # [0,1] pixels: the clip a "videomae" target is fed
    out = PixelTarget((2, 16, 16), norm="videomae")(pix)
    assert out.shape == (2, 12, 1536)
    # token 7 = (t=1, h=0, w=1); channel 1
    patch = pix[0, 1, 2:4, 0:16, 16:32].reshape(-1)
    expected = (patch - patch.mean()) / (patch.std(unbiased=True) + 1e-6)
    torch.testing.assert_close(out[0, 7].view(512, 3)[:, 1], expected)
    per = out.view(2, 12, 512, 3)
    torch.testing.assert_close(per.mean(2), torch.zeros(2, 12, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(per.std(2), torch.ones(2, 12, 3), atol=1e-4, rtol=0)


def test_maest_normalisation_and_frames():
    video = _video((1, 3, 16, 16, 32))
    target = PixelTarget((2, 16, 16), norm="maest")
    assert target.input_space == "normalized"
    out = target(video)
    assert target.dim == 768 and out.shape == (1, 8 * 2, 768)
    frames = torch.linspace(0, 15, 8).long().tolist()
    assert frames == [0, 2, 4, 6, 8, 10, 12, 15]
    # last temporal token (t=7, w=1) uses frame 15, from the normalised clip as given
    vec = video[0, :, 15, :, 16:32].permute(1, 2, 0).reshape(-1)
    expected = (vec - vec.mean()) / (vec.var() + 1e-6) ** 0.5
    torch.testing.assert_close(out[0, 7 * 2 + 1], expected)


def test_none_is_raw_pixels():
    video = _video()
    out = PixelTarget(norm="none")(_unnorm(video))
    torch.testing.assert_close(out, patchify(_unnorm(video), (2, 16, 16)))


def test_denormalize_inverts_videomae_target():
    video = _video()
    pix = _unnorm(video)
    target = PixelTarget(norm="videomae")(pix)
    back = denormalize_videomae_patches(target, pix, (2, 16, 16))
    torch.testing.assert_close(back, patchify(pix, (2, 16, 16)), atol=1e-5, rtol=0)
    clip = unpatchify(back, (2, 16, 16), (2, 2, 3))
    torch.testing.assert_close(clip, pix, atol=1e-5, rtol=0)


def test_no_grad_and_bad_norm():
    video = _video().requires_grad_(True)
    assert not PixelTarget()(video).requires_grad
    with pytest.raises(ValueError, match="norm"):
        PixelTarget(norm="bogus")


def test_build_targets_from_config():
    cfg = get_defaults()
    cfg.TARGET.NAMES, cfg.TARGET.WEIGHTS = ["hog", "pixel"], [1.0, 0.5]
    targets = build_targets(cfg, patch_size=(2, 16, 16))
    assert set(targets) == {"hog", "pixel"} and set(n for n, _ in TARGETS) >= {"hog", "pixel"}
    hog, w_hog = targets["hog"]
    pix, w_pix = targets["pixel"]
    assert (hog.dim, w_hog, pix.dim, w_pix) == (108, 1.0, 1536, 0.5)
    assert pix.input_space == "unit" and hog.input_space == "normalized"
    cfg.TARGET.NAMES, cfg.TARGET.WEIGHTS = ["nope"], [1.0]
    with pytest.raises(ValueError, match="nope"):
        build_targets(cfg, patch_size=(2, 16, 16))
