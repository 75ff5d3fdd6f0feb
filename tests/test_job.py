"""engine/job.py: a whole training job from a config (periodic evaluation, uint8 inputs)."""

from pathlib import Path

import pytest
import torch

from videossl.cli import main
from videossl.data.demo import write_demo_dataset
from videossl.engine.inputs import ensure_normalised_inputs, normalize_clips
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


class _Objective(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, batch):
        return {"loss": batch["video"].float().mean() * self.w, "dtype": batch["video"].dtype}

    def predict(self, batch):
        return batch["video"]


def test_clips_are_normalised_once_for_objectives_without_their_own_normaliser():
    video = torch.randint(0, 256, (2, 3, 2, 4, 4), dtype=torch.uint8)
    expected = (video.float() / 255 - torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1, 1)) / 0.2
    torch.testing.assert_close(normalize_clips(video, (0.4, 0.5, 0.6), (0.2,) * 3), expected)
    model = _Objective()
    assert ensure_normalised_inputs(model, (0.4, 0.5, 0.6), (0.2,) * 3)
    torch.testing.assert_close(model.predict({"video": video}), expected)
    assert model({"video": video})["dtype"] == torch.float32
    assert list(model.state_dict()) == ["w"]
    import copy

    twin = copy.deepcopy(model)  # e.g. the EMA copy: wraps itself, not the original
    with torch.no_grad():
        twin.w.fill_(2.0)
    assert float(twin({"video": video})["loss"].detach()) == pytest.approx(
        2 * float(expected.mean()), rel=1e-4
    )

    class Owner(_Objective):
        def __init__(self):
            super().__init__()
            self.norm = type(
                "Normalize", (torch.nn.Module,), {"__module__": "videossl.models.normalize"}
            )()

    owner = Owner()
    assert not ensure_normalised_inputs(owner, (0.4, 0.5, 0.6), (0.2,) * 3)
    assert owner({"video": video})["dtype"] == torch.uint8  # the objective normalises itself
