import pytest
import torch

from videossl.config import get_defaults
from videossl.data.build import DATASETS, build_dataset, collate


def test_registry_names():
    for name in ("kinetics", "ssv2", "folder", "ava"):
        assert name in DATASETS


def test_unknown_dataset_and_split():
    cfg = get_defaults()
    cfg.DATA.DATASET = "kinetic"
    with pytest.raises(KeyError, match="kinetics"):
        build_dataset(cfg, "train")
    with pytest.raises(ValueError, match="split"):
        build_dataset(get_defaults(), "validation")


def test_collate_plain_and_repeated():
    def item(i, k=None):
        shape = (3, 2, 4, 4) if k is None else (k, 3, 2, 4, 4)
        return {
            "video": torch.full(shape, float(i)),
            "label": torch.tensor(i),
            "index": torch.tensor(i),
            "valid": torch.tensor(True),
        }

    b = collate([item(0), item(1)])
    assert b["video"].shape == (2, 3, 2, 4, 4) and b["label"].tolist() == [0, 1]
    b = collate([item(0, 2), item(1, 2)])
    assert b["video"].shape == (4, 3, 2, 4, 4)
    assert b["label"].tolist() == [0, 0, 1, 1]
    assert b["video"][:, 0, 0, 0, 0].tolist() == [0, 0, 1, 1]
    with pytest.raises(ValueError):
        collate([])


def test_demo_written_automatically(tmp_path, monkeypatch):
    import videossl.data.demo as demo

    calls = []
    real = demo.write_demo_dataset

    def small(root, **kw):
        calls.append(root)
        return real(
            root,
            num_train_per_class=1,
            num_val_per_class=1,
            num_test_per_class=1,
            size=(32, 32),
            num_frames=8,
        )

    monkeypatch.setattr(demo, "write_demo_dataset", small)
    cfg = get_defaults()
    cfg.DATA.DEMO = "default"
    cfg.DATA.PATH_TO_DATA_DIR = str(tmp_path / "demo")
    cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE, cfg.DATA.TEST_CROP_SIZE = 4, 16, 16
    cfg.OUTPUT_DIR = str(tmp_path / "out")
    ds = build_dataset(cfg, "train")
    assert len(ds) == 6 and calls == [str(tmp_path / "demo")]
    build_dataset(cfg, "val")
    assert len(calls) == 1


def test_mvit_maskfeat_targets_follow_the_output_stride():
    """MViTv2 MaskFeat predicts one HOG vector per stride-16 output token (2x16x16 of input):
    the published PT config builds, and a tiny MViT MaskFeat trains on 4x64x64 clips."""
    import torch

    from videossl.config import load_config
    from videossl.models.build import build_model

    cfg = load_config(["configs/kinetics/MVITv2_S_16x4_MaskFeat_PT.yaml"], [])
    with torch.device("meta"):
        model = build_model(cfg)
    ((hog, _),) = model.targets.values()
    assert hog.patch_size == (2, 16, 16) and hog.dim == 108
    opts = ["MVIT.PRESET", "custom", "MVIT.EMBED_DIM", "16", "MVIT.DEPTHS", "[1,1,1,1]"]
    opts += ["DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "64", "DATA.TEST_CROP_SIZE", "64"]
    opts += ["MASK.UNIT", "[2,16,16]"]
    cfg = load_config(["configs/kinetics/MVITv2_S_16x4_MaskFeat_PT.yaml"], opts)
    torch.manual_seed(0)
    model = build_model(cfg)
    losses = model({"video": torch.randn(2, 3, 4, 64, 64)})
    assert torch.isfinite(losses["loss_hog"])
    losses["loss_hog"].backward()
