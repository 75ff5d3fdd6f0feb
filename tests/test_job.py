"""videossl/job.py: a whole training job from a config (periodic evaluation)."""

from pathlib import Path

import pytest

from videossl.cli import main
from videossl.data.demo import write_demo_dataset
from videossl.plotting import read_metrics

REPO = Path(__file__).resolve().parents[1]
FINETUNE = str(REPO / "configs" / "demo" / "finetune.yaml")
TINY = ["VIT.EMBED_DIM", "32", "VIT.DEPTH", "1", "VIT.NUM_HEADS", "2", "DATA.NUM_WORKERS", "0"]
TINY += ["TRAIN.BATCH_SIZE", "4", "LOG.PERIOD", "1", "DATA.NUM_FRAMES", "4"]


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    write_demo_dataset(
        str(root), num_train_per_class=1, num_val_per_class=1, num_test_per_class=1, num_frames=20
    )
    return root


def test_eval_period_evaluates_after_each_epoch(demo_root, tmp_path):
    out = tmp_path / "ft"
    opts = TINY + ["DATA.PATH_TO_DATA_DIR", str(demo_root), "OUTPUT_DIR", str(out)]
    opts += ["SOLVER.MAX_EPOCH", "2", "TRAIN.EVAL_PERIOD", "1", "LOG.TENSORBOARD", "True"]
    opts += ["TRAIN.CHECKPOINT_FILE_PATH", "", "TEST.ENABLE", "False", "TEST.BATCH_SIZE", "3"]
    assert main(["--cfg", FINETUNE, *opts]) == 0
    records = read_metrics(str(out))
    evals = [r for r in records if r.get("type") == "eval"]
    steps = [r["global_step"] for r in records if r.get("phase") == "train"]
    assert [r["epoch"] for r in evals] == [1, 2]
    assert [r["iter"] for r in evals] == [steps[len(steps) // 2 - 1], steps[-1]]
    for r in evals:
        assert r["split"] == "val" and r["num_videos"] == 6  # the val split: 1 per class
        assert 0.0 <= r["top1"] <= r["top5"] <= 100.0
        metrics = {k: v for k, v in r.items() if k not in ("type", "split", "epoch", "iter")}
        assert metrics and all(isinstance(v, float) for v in metrics.values())
    events = list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert events and sum(e.stat().st_size for e in events) > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("val/top1")] == [r["iter"] for r in evals]


def test_the_objective_registry_entry_names_the_evaluator(tmp_path):
    from videossl.config import load_config
    from videossl.engine.ava_evaluator import AVAEvaluator
    from videossl.engine.evaluators import ClassificationEvaluator
    from videossl.job import build_evaluator
    from videossl.models.build import objective_evaluator
    from videossl.models.registry import OBJECTIVES

    cfg = load_config([], ["OUTPUT_DIR", str(tmp_path), "TEST.ENSEMBLE_METHOD", "max"])
    evaluator = build_evaluator(cfg, dataset=None, tag="val")
    assert isinstance(evaluator, ClassificationEvaluator)
    assert (evaluator.ensemble, evaluator.tag, evaluator.output_dir) == (
        "max",
        "val",
        str(tmp_path),
    )
    names = {name: OBJECTIVES.spec(name).get("evaluator") for name, _ in OBJECTIVES}
    assert names == {
        "classification": "ClassificationEvaluator",
        "linear_probe": "ClassificationEvaluator",
        "ava": "AVAEvaluator",
        "maskfeat": None,
        "mae": None,
    }
    assert AVAEvaluator.from_config(cfg, None, "test")["cfg"] is cfg
    cfg.defrost()
    cfg.MODEL.OBJECTIVE = "maskfeat"
    assert objective_evaluator(cfg) is None
    with pytest.raises(ValueError, match="no evaluator"):
        build_evaluator(cfg, dataset=None, tag="test")
