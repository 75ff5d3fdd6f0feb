"""AVA objective end to end on toy AVA: loss, predict, evaluator, and learning above chance."""

from pathlib import Path

import pytest
import torch

from videossl.config import load_config
from videossl.data.ava import build_ava_dataset
from videossl.data.ava_toy import write_toy_ava
from videossl.engine.ava_evaluator import AVAEvaluator
from videossl.models import OBJECTIVES, ava_objective

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "ava" / "toy_vit.yaml"

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")


@pytest.fixture(scope="module")
def toy_cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp("ava_toy")
    write_toy_ava(str(root), fps=4, size=64, seed=0)
    return load_config(
        [str(CONFIG)],
        [
            "AVA.FRAME_DIR", str(root / "frames"),
            "AVA.ANNOTATION_DIR", str(root / "annotations"),
            "DATA.DEMO", "",
            "OUTPUT_DIR", str(root / "out"),
        ],
    )  # fmt: skip


def evaluate(model, dataset, cfg):
    evaluator = AVAEvaluator(cfg, dataset)
    model.eval()
    with torch.no_grad():
        for start in range(0, len(dataset), 8):
            batch = dataset.collate_fn(
                [dataset[i] for i in range(start, min(start + 8, len(dataset)))]
            )
            evaluator.process(batch, model.predict(batch))
    return evaluator.summarize()


def test_registered_and_loss(toy_cfg):
    torch.manual_seed(0)
    model = OBJECTIVES.get("ava")(toy_cfg)
    assert OBJECTIVES.spec("ava")["evaluator"] == "AVAEvaluator"  # the registry names it
    assert not hasattr(model, "evaluator")
    assert OBJECTIVES.get("ava") is ava_objective.build_ava
    train = build_ava_dataset(toy_cfg, "train")
    batch = train.collate_fn([train[0], train[1]])
    losses = model(batch)
    assert set(losses) == {"loss_bce"}
    assert losses["loss_bce"].ndim == 0 and torch.isfinite(losses["loss_bce"])
    losses["loss_bce"].backward()
    assert model.head.proj.weight.grad.abs().sum() > 0
    out = model.eval().predict(batch)
    assert out["scores"].shape == (batch["boxes"].shape[0], 3)
    assert ((out["scores"] >= 0) & (out["scores"] <= 1)).all()


def test_evaluator_writes_official_csv(toy_cfg):
    torch.manual_seed(0)
    model = OBJECTIVES.get("ava")(toy_cfg)
    val = build_ava_dataset(toy_cfg, "test")
    res = evaluate(model, val, toy_cfg)
    assert 0.0 <= res["mAP"] <= 100.0
    assert res["num_boxes"] == sum(len(r.boxes) for r in val.records)
    out = Path(toy_cfg.OUTPUT_DIR)
    rows = (out / "ava_detections_test.csv").read_text().splitlines()
    assert len(rows) == 3 * res["num_boxes"]
    fields = rows[0].split(",")
    assert len(fields) == 8 and fields[0].startswith("toy_val") and len(fields[1]) == 4
    assert (out / "ava_per_class_ap_test.csv").read_text().startswith("action_id,name,ap")


@pytest.mark.slow
def test_training_beats_random(toy_cfg):
    torch.manual_seed(0)
    model = OBJECTIVES.get("ava")(toy_cfg)
    train = build_ava_dataset(toy_cfg, "train")
    val = build_ava_dataset(toy_cfg, "test")
    before = evaluate(model, val, toy_cfg)["mAP"]
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    model.train()
    gen = torch.Generator().manual_seed(0)
    for _ in range(6):  # epochs
        order = torch.randperm(len(train), generator=gen).tolist()
        for start in range(0, len(order) - 7, 8):
            batch = train.collate_fn([train[i] for i in order[start : start + 8]])
            loss = model(batch)["loss_bce"]
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.train()
    after = evaluate(model, val, toy_cfg)["mAP"]
    print(f"toy AVA mAP before {before:.1f} after {after:.1f}")
    assert after > before + 15.0, (before, after)
