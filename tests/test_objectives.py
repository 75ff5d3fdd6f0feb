import pytest
import torch

from videossl.config import load_config
from videossl.models.build import build_model
from videossl.models.objectives import _prefixed
from videossl.targets import PixelTarget, denormalize_videomae_patches, unpatchify

TINY = ["VIT.PRESET", "custom", "VIT.EMBED_DIM", "32", "VIT.DEPTH", "2", "VIT.NUM_HEADS", "2"]
TINY += ["DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32"]
TINY += ["MODEL.NUM_CLASSES", "5", "MODEL.DECODER_DIM", "16", "MODEL.DECODER_HEADS", "2"]


def _cfg(*opts):
    return load_config([], TINY + list(opts))


def _video(b=2):
    """uint8 clips, as loaders ship them (the objective normalises)."""
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (b, 3, 4, 32, 32), generator=g, dtype=torch.uint8)


def test_maskfeat_loss_only_depends_on_masked_predictions():
    cfg = _cfg("MODEL.OBJECTIVE", "maskfeat", "MASK.UNIT", "[2, 16, 16]", "MASK.RATIO", "0.5")
    model = build_model(cfg)
    mask = torch.zeros(2, 2, 2, 2, dtype=torch.bool)
    mask[:, 0] = True
    losses = model({"video": _video(), "mask": mask})
    assert set(losses) == {"loss_hog"} and torch.isfinite(losses["loss_hog"])
    losses["loss_hog"].backward()
    assert model.encoder.mask_token.grad is not None  # the mask token is used and trained
    with pytest.raises(ValueError, match="dividing the token grid"):
        model({"video": _video(), "mask": torch.zeros(2, 3, 2, 2, dtype=torch.bool)})


def test_maskfeat_with_hog_and_pixel_targets_weights_both():
    cfg = _cfg(
        "MODEL.OBJECTIVE",
        "maskfeat",
        "MASK.UNIT",
        "[2, 16, 16]",
        "TARGET.NAMES",
        "['hog', 'pixel']",
        "TARGET.WEIGHTS",
        "[1.0, 0.5]",
    )
    losses = build_model(cfg)({"video": _video()})
    assert set(losses) == {"loss_hog", "loss_pixel"}


@pytest.mark.parametrize("decoder_type", ["", "running_cell"])
def test_mae_trains_with_tube_masks(decoder_type):
    cfg = _cfg(
        "MODEL.OBJECTIVE",
        "mae",
        "MASK.TYPE",
        "tube",
        "MASK.RATIO",
        "0.75",
        "MASK.UNIT",
        "[2, 16, 16]",
        "TARGET.NAMES",
        "['pixel']",
        "MASK.DECODER_TYPE",
        decoder_type,
    )
    model = build_model(cfg)
    loss = model({"video": _video()})["loss_pixel"]
    loss.backward()
    assert torch.isfinite(loss)
    assert model.encoder.patch_embed.proj.weight.grad is not None


def test_mae_reconstruct_and_denormalise_inverts_the_target():
    cfg = _cfg(
        "MODEL.OBJECTIVE",
        "mae",
        "MASK.TYPE",
        "tube",
        "MASK.RATIO",
        "0.75",
        "MASK.UNIT",
        "[2, 16, 16]",
        "TARGET.NAMES",
        "['pixel']",
    )
    model = build_model(cfg).eval()
    out = model.reconstruct(_video(1))
    assert out["pred"].shape == (1, 8, 1536) and out["mask"].sum() == 6
    assert (out["pred"][~out["mask"]] == 0).all()
    frames = torch.rand(1, 3, 4, 32, 32)
    target = PixelTarget((2, 16, 16), norm="videomae")(frames)
    pixels = denormalize_videomae_patches(target, frames, (2, 16, 16))
    torch.testing.assert_close(
        unpatchify(pixels, (2, 16, 16), (2, 2, 2)), frames, atol=1e-4, rtol=1e-4
    )


def test_classifier_with_mixup_and_predict():
    cfg = _cfg(
        "MODEL.OBJECTIVE",
        "classification",
        "TRAIN.MIXUP",
        "0.8",
        "TRAIN.CUTMIX",
        "1.0",
        "MODEL.LABEL_SMOOTHING",
        "0.1",
    )
    model = build_model(cfg)
    batch = {"video": _video(), "label": torch.tensor([1, 3])}
    loss = model(batch)["loss_cls"]
    assert torch.isfinite(loss)
    model.eval()
    assert model.predict(batch)["logits"].shape == (2, 5)
    assert model.features(batch["video"]).shape == (2, 32)


def test_group_matcher_is_prefixed_for_layer_decay():
    from timm.optim import param_groups_layer_decay

    model = build_model(_cfg("MODEL.OBJECTIVE", "classification"))
    groups = param_groups_layer_decay(model, weight_decay=0.05, layer_decay=0.5)
    scales = sorted({g["lr_scale"] for g in groups})
    assert len(scales) == 4  # stem, 2 blocks, head/norm: 0.125, 0.25, 0.5, 1.0
    assert _prefixed("^a|^b", "x.") == "^x.a|^x.b"
    assert _prefixed([(r"^blocks\.(\d+)", None)], r"encoder\.") == [
        (r"^encoder\.blocks\.(\d+)", None)
    ]


@pytest.mark.parametrize("objective", ["maskfeat", "mae"])
def test_objective_draws_the_loader_masks_from_the_clip_seeds(objective):
    """MASK.IN_LOADER moves the draw, not its result: both come from the clip's seed."""
    from videossl.data.build import MaskingCollate

    opts = ["MODEL.OBJECTIVE", objective, "MASK.UNIT", "[2, 16, 16]", "MASK.RATIO", "0.5"]
    if objective == "mae":
        opts += ["MASK.TYPE", "tube", "TARGET.NAMES", "['pixel']"]
        opts += ["MASK.DECODER_TYPE", "running_cell", "MASK.DECODER_RATIO", "0.5"]
    model = build_model(_cfg(*opts)).eval()
    video, seeds = _video(), torch.tensor([11, 12])
    in_loader = MaskingCollate(model.masker)(
        [{"video": v, "seed": s} for v, s in zip(video, seeds)]
    )
    assert in_loader["mask"].shape == (2, 2, 2, 2) and in_loader["mask"].any()
    with torch.no_grad():
        expected = model(in_loader)
        torch.manual_seed(123)  # the global RNG plays no part
        drawn = model({"video": video, "seed": seeds})
        other = model({"video": video, "seed": torch.tensor([13, 14])})
    assert drawn.keys() == expected.keys()
    for k in expected:
        torch.testing.assert_close(drawn[k], expected[k], atol=0, rtol=0)
    assert any(not torch.equal(other[k], expected[k]) for k in expected)


def test_running_cell_phase_comes_from_the_clip_seed():
    from videossl.models.build import running_cell_decode_mask

    mask = torch.zeros(4, 32, dtype=torch.bool)
    torch.manual_seed(0)
    a = running_cell_decode_mask(mask, (2, 4, 4), [1, 2, 3, 4], ratio=0.5)
    torch.manual_seed(1)
    b = running_cell_decode_mask(mask, (2, 4, 4), [1, 2, 3, 4], ratio=0.5)
    assert torch.equal(a, b) and a.shape == (4, 32) and a.sum() == 4 * 16
    phases = {
        tuple(running_cell_decode_mask(mask[:1], (2, 4, 4), [s], ratio=0.5)[0].tolist())
        for s in range(20)
    }
    assert len(phases) == 4  # every phase is reachable
