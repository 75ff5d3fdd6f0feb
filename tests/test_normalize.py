"""models/normalize.py: the objective owns its normalisation; loaders ship uint8 clips."""

import pytest
import torch

from videossl.config import load_config
from videossl.models.build import build_model
from videossl.models.normalize import Normalize
from videossl.targets import HOGTarget
from videossl.targets.losses import masked_mse

MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
TINY = ["VIT.PRESET", "custom", "VIT.EMBED_DIM", "32", "VIT.DEPTH", "1", "VIT.NUM_HEADS", "2"]
TINY += ["DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32"]
TINY += ["MODEL.NUM_CLASSES", "5", "MODEL.DECODER_DIM", "16", "MODEL.DECODER_HEADS", "2"]
TINY += ["DATA.MEAN", str(list(MEAN)), "DATA.STD", str(list(STD)), "MODEL.DROP_PATH", "0.0"]


def _cfg(*opts):
    return load_config([], TINY + list(opts))


def _uint8(shape=(2, 3, 4, 32, 32), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)


def _by_hand(video):
    """(x/255 - mean)/std per channel, computed in float64 from the uint8 clip."""
    mean = torch.tensor(MEAN, dtype=torch.float64).view(1, 3, 1, 1, 1)
    std = torch.tensor(STD, dtype=torch.float64).view(1, 3, 1, 1, 1)
    return ((video.double() / 255 - mean) / std).float()


def test_normalize_uint8_and_float_pixels():
    video = _uint8()
    norm = Normalize(MEAN, STD)
    out = norm(video)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, _by_hand(video), atol=1e-6, rtol=0)
    torch.testing.assert_close(norm(video.float()), out, atol=0, rtol=0)  # 0..255 floats
    torch.testing.assert_close(Normalize.unit(video), video.double().div(255).float())
    assert norm.state_dict() == {}  # non-persistent: old checkpoints load strictly
    with pytest.raises(ValueError, match="clips"):
        norm(torch.zeros(2, 4, 4, 8, 8))
    with pytest.raises(ValueError, match="positive"):
        Normalize(MEAN, (0.2, 0.0, 0.3))


@pytest.mark.parametrize("objective", ["classification", "linear_probe", "maskfeat", "mae", "ava"])
def test_every_objective_owns_its_normalisation(objective):
    opts = ["MODEL.OBJECTIVE", objective]
    if objective == "mae":
        opts += ["TARGET.NAMES", "['pixel']", "MASK.TYPE", "tube", "MASK.UNIT", "[2, 16, 16]"]
    model = build_model(_cfg(*opts))
    assert isinstance(model.normalize, Normalize)
    torch.testing.assert_close(model.normalize.mean.flatten(), torch.tensor(MEAN))
    torch.testing.assert_close(model.normalize.std.flatten(), torch.tensor(STD))
    assert not any(k.startswith("normalize") for k in model.state_dict())


def test_uint8_batch_equals_hand_normalised_float_through_the_encoder():
    model = build_model(_cfg("MODEL.OBJECTIVE", "classification")).eval()
    video = _uint8()
    out = model.predict({"video": video})["logits"]
    with torch.no_grad():
        expected = model.head(model.encoder(_by_hand(video)))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_maskfeat_feeds_the_normalised_clip_to_encoder_and_hog():
    model = build_model(_cfg("MODEL.OBJECTIVE", "maskfeat", "MASK.UNIT", "[2, 16, 16]"))
    video = _uint8()
    mask = torch.zeros(2, 2, 2, 2, dtype=torch.bool)
    mask[:, 1, 0] = True
    loss = model({"video": video, "mask": mask})["loss_hog"]
    # HOG bins flip on 1-ulp changes at gradient ties: the same float32 formula, by hand
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1, 1), torch.tensor(STD).view(1, 3, 1, 1, 1)
    clip = (video.float() / 255 - mean) / std
    torch.testing.assert_close(clip, _by_hand(video), atol=1e-6, rtol=0)
    tokens_mask = mask.flatten(1)  # ViT 2x16x16 tokens: the unit grid is the token grid
    with torch.no_grad():
        tokens = model.encoder(clip, mask=tokens_mask)[:, model.encoder.num_prefix_tokens :]
        pred = model.head(tokens)["hog"]
        target = HOGTarget(patch_size=(2, 16, 16))(clip)
    expected = masked_mse(pred.float(), target, tokens_mask)
    torch.testing.assert_close(loss.detach(), expected, atol=1e-5, rtol=1e-4)


def _pixel_model(norm):
    opts = ["MODEL.OBJECTIVE", "mae", "TARGET.NAMES", "['pixel']", "TARGET.PIXEL_NORM", norm]
    return build_model(_cfg(*opts, "MASK.TYPE", "tube", "MASK.UNIT", "[2, 16, 16]"))


def test_videomae_pixel_target_from_uint8_equals_hand_computation():
    video = _uint8((1, 3, 4, 32, 32), seed=3)
    video[0, :, 2:4, 16:, :16] = 90  # a flat patch (token 6): std 0, the +1e-6 keeps it finite
    out = _pixel_model("videomae").target_for(video)
    assert out.shape == (1, 8, 1536)
    pixels = video[0].double() / 255  # [3,T,H,W] in [0,1], no round trip through mean/std
    for t, h, w in [(0, 0, 0), (1, 0, 1), (1, 1, 1)]:
        token = (t * 2 + h) * 2 + w
        cube = pixels[:, 2 * t : 2 * t + 2, 16 * h : 16 * h + 16, 16 * w : 16 * w + 16]
        for c in range(3):
            x = cube[c].reshape(-1)  # (dt, dh, dw) row-major
            expected = (x - x.mean()) / (x.std(unbiased=True) + 1e-6)
            got = out[0, token].view(512, 3)[:, c].double()
            torch.testing.assert_close(got, expected, atol=2e-5, rtol=1e-5)
    assert out[0, 6].abs().max() < 0.1  # the flat patch: float32 noise / 1e-6 at most


def test_maest_pixel_target_from_uint8_equals_hand_computation():
    video = _uint8((1, 3, 4, 32, 32), seed=4)
    out = _pixel_model("maest").target_for(video)
    assert out.shape == (1, 8, 768)
    mean = torch.tensor(MEAN, dtype=torch.float64).view(3, 1, 1, 1)
    std = torch.tensor(STD, dtype=torch.float64).view(3, 1, 1, 1)
    clip = (video[0].double() / 255 - mean) / std  # MAE-ST: the normalised clip
    frames = [0, 3]  # linspace(0, T-1, T/pt) truncated, T=4, pt=2
    for t, h, w in [(0, 0, 1), (1, 1, 0)]:
        sl = clip[:, frames[t], 16 * h : 16 * h + 16, 16 * w : 16 * w + 16]
        x = sl.permute(1, 2, 0).reshape(-1)  # (pixel, channel)
        expected = (x - x.mean()) / (x.var(unbiased=True) + 1e-6).sqrt()
        got = out[0, (t * 2 + h) * 2 + w].double()
        torch.testing.assert_close(got, expected, atol=2e-5, rtol=1e-5)
