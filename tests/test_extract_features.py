"""tools/extract_features.py end to end: a tiny ViT checkpoint of ours, demo videos, numpy files
that match features computed by hand from the same weights."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
import torch

import videossl.models.linear_probe  # noqa: F401  (registers the objective)
from videossl.config import load_config
from videossl.data.build import build_dataset
from videossl.data.demo import write_demo_dataset
from videossl.models.build import build_encoder, build_model

TOOL = os.path.join(os.path.dirname(__file__), "..", "tools", "extract_features.py")
CFG = """\
DATA:
  DATASET: kinetics
  PATH_TO_DATA_DIR: {root}
  NUM_FRAMES: 4
  SAMPLING_RATE: 2
  TRAIN_CROP_SIZE: 32
  TEST_CROP_SIZE: 32
  NUM_WORKERS: 0
  RANDOM_FLIP: False
MODEL:
  OBJECTIVE: linear_probe
  ARCH: vit
  NUM_CLASSES: 6
  POOL: mean
VIT:
  PRESET: custom
  EMBED_DIM: 32
  DEPTH: 2
  NUM_HEADS: 2
TEST:
  BATCH_SIZE: 4
  NUM_ENSEMBLE_VIEWS: 2
  NUM_SPATIAL_CROPS: 1
"""


def _tool():
    spec = importlib.util.spec_from_file_location("extract_features", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("extract")
    root = str(tmp / "data")
    write_demo_dataset(
        root,
        num_train_per_class=1,
        num_val_per_class=1,
        num_test_per_class=1,
        size=(40, 48),
        num_frames=16,
    )
    cfg_path = str(tmp / "probe.yaml")
    with open(cfg_path, "w") as f:
        f.write(CFG.format(root=root))
    cfg = load_config([cfg_path], ["OUTPUT_DIR", str(tmp / "run")])
    torch.manual_seed(3)
    model = build_model(cfg)  # an objective: encoder weights under "encoder."
    ckpt_path = str(tmp / "ckpt.pyth")
    torch.save({"model": model.state_dict(), "epoch": 1}, ckpt_path)
    return tmp, cfg_path, cfg, model, ckpt_path


def test_extract_writes_view_averaged_features(setup):
    tmp, cfg_path, cfg, model, ckpt_path = setup
    out = str(tmp / "feats")
    tool = _tool()
    assert (
        tool.main(
            [
                "--cfg",
                cfg_path,
                "--checkpoint",
                ckpt_path,
                "--out",
                out,
                "--per-clip",
                "--device",
                "cpu",
                "--opts",
                "OUTPUT_DIR",
                str(tmp / "run"),
            ]
        )
        == 0
    )
    feats = np.load(os.path.join(out, "features.npy"))
    labels = np.load(os.path.join(out, "labels.npy"))
    paths = open(os.path.join(out, "paths.txt")).read().splitlines()
    clips = np.load(os.path.join(out, "clip_features.npy"))
    valid = np.load(os.path.join(out, "clip_valid.npy"))
    dataset = build_dataset(cfg, "test")
    assert feats.shape == (6, 32) and feats.dtype == np.float32
    assert labels.tolist() == dataset.labels and paths == dataset.paths
    assert clips.shape == (6, 2, 32) and valid.all()
    np.testing.assert_allclose(feats, clips.mean(1), rtol=1e-5, atol=1e-6)
    # The same weights by hand: video 4, view 1.
    encoder = model.encoder.eval()
    item = dataset[4 * 2 + 1]
    with torch.no_grad():
        video = (item["video"][None].float() / 255 - 0.45) / 0.225  # uint8 clip, normalised here
        expected = encoder(video).mean(1)[0].numpy()
    np.testing.assert_allclose(clips[4, 1], expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(clips[4, 0], clips[4, 1])


def test_extract_uses_the_checkpoint_weights(setup):
    tmp, cfg_path, cfg, model, ckpt_path = setup
    torch.manual_seed(99)
    other = build_encoder(cfg)
    other_path = str(tmp / "other.pyth")
    torch.save({"model": {"encoder." + k: v for k, v in other.state_dict().items()}}, other_path)
    tool = _tool()
    a, b = str(tmp / "a"), str(tmp / "b")
    base = ["--cfg", cfg_path, "--device", "cpu", "--split", "val"]
    tool.main(base + ["--checkpoint", ckpt_path, "--out", a])
    tool.main(base + ["--checkpoint", other_path, "--out", b])
    fa, fb = np.load(os.path.join(a, "features.npy")), np.load(os.path.join(b, "features.npy"))
    assert fa.shape == fb.shape == (6, 32)
    assert not np.allclose(fa, fb)
    assert not os.path.exists(os.path.join(a, "clip_features.npy"))


def test_missing_checkpoint_is_a_clear_error(setup):
    tmp, cfg_path, *_ = setup
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        _tool().main(
            [
                "--cfg",
                cfg_path,
                "--checkpoint",
                str(tmp / "nope.pyth"),
                "--out",
                str(tmp / "x"),
                "--device",
                "cpu",
            ]
        )
