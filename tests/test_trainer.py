import math
import os

import pytest
import torch
from toy import NoisyDataset, ToyObjective

from videossl import checkpoint as ckpt
from videossl.data.loader import make_loader
from videossl.engine.guard import LossGuard, TrainingDiverged
from videossl.engine.optim import build_optimizer, build_scheduler
from videossl.engine.trainer import Trainer, TrainOptions


def make_trainer(out, *, max_epoch=2, iter_period=0, model=None, accum=1):
    torch.manual_seed(0)
    model = model or ToyObjective()
    loader = make_loader(NoisyDataset(), batch_size=4, shuffle=True, drop_last=True, seed=3)
    opt = build_optimizer(model, lr=0.1, weight_decay=0.05)
    options = TrainOptions(
        output_dir=str(out),
        max_epoch=max_epoch,
        accum_steps=accum,
        checkpoint_iter_period=iter_period,
        checkpoint_keep=0,
        log_period=2,
        seed=1,
    )
    trainer = Trainer(model, opt, None, loader, options, device=torch.device("cpu"))
    trainer.scheduler = build_scheduler(
        opt,
        total_steps=trainer.steps_per_epoch * max_epoch,
        warmup_steps=2,
        min_lr=1e-4,
        warmup_start_lr=1e-3,
    )
    return trainer


def test_trains_and_writes_checkpoints_and_metrics(tmp_path):
    trainer = make_trainer(tmp_path)
    trainer.train()
    files = ckpt.list_checkpoints(ckpt.checkpoint_dir(str(tmp_path)))
    assert [os.path.basename(f) for f in files] == [
        "checkpoint_e00001_i0000000.pyth",
        "checkpoint_e00002_i0000000.pyth",
    ]
    lines = (tmp_path / "metrics.jsonl").read_text().strip().splitlines()
    assert any('"phase": "train"' in line for line in lines)
    assert trainer.global_step == 2 * trainer.steps_per_epoch


def test_mid_epoch_resume_is_exact(tmp_path):
    straight = make_trainer(tmp_path / "a")
    straight.train()

    first = make_trainer(tmp_path / "b", iter_period=2)
    first.train()
    directory = ckpt.checkpoint_dir(str(tmp_path / "b"))
    # Pretend the run died right after the mid-epoch checkpoint of epoch 2, step 2.
    for path in ckpt.list_checkpoints(directory):
        if not path.endswith("checkpoint_e00001_i0000002.pyth"):
            os.remove(path)
    resumed = make_trainer(tmp_path / "b", iter_period=2)
    assert resumed.resume()
    assert (resumed.epoch, resumed.step_in_epoch) == (1, 2)
    resumed.train()
    for (n, p), (_, q) in zip(straight.model.named_parameters(), resumed.model.named_parameters()):
        assert torch.equal(p, q), n
    assert resumed.global_step == straight.global_step


def test_resume_skips_a_truncated_checkpoint(tmp_path):
    trainer = make_trainer(tmp_path, max_epoch=1)
    trainer.train()
    directory = ckpt.checkpoint_dir(str(tmp_path))
    (tmp_path / "checkpoints" / "checkpoint_e00002_i0000000.pyth").write_bytes(b"garbage")
    found = ckpt.newest_complete(directory)
    assert found is not None and found[0].endswith("checkpoint_e00001_i0000000.pyth")


def test_accumulation_counts_optimizer_steps(tmp_path):
    trainer = make_trainer(tmp_path, max_epoch=1, accum=2)
    trainer.train()
    assert trainer.steps_per_epoch == 3  # 6 micro-batches / 2
    assert trainer.global_step == 3


def test_nan_loss_rolls_back_and_continues(tmp_path, caplog):
    model = ToyObjective(explode_at=9)
    trainer = make_trainer(tmp_path, max_epoch=2, model=model)
    trainer.train()
    assert trainer.guard.rollbacks == 1
    assert "rolled back" in caplog.text
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_guard_stops_after_repeated_failures():
    guard = LossGuard(factor=10.0, window=4, max_rollbacks=1)
    for v in (1.0, 1.1, 0.9):
        assert not guard.is_bad(v)
        guard.accept(v)
    assert guard.is_bad(50.0)
    assert guard.is_bad(math.inf)
    guard.record_rollback(50.0, "here")
    with pytest.raises(TrainingDiverged, match="TRAIN.LOSS_GUARD_MAX_ROLLBACKS"):
        guard.record_rollback(50.0, "here")


def test_bf16_autocast_and_ema_run(tmp_path):
    torch.manual_seed(0)
    model = ToyObjective()
    loader = make_loader(NoisyDataset(), batch_size=4, shuffle=True, drop_last=True, seed=3)
    opt = build_optimizer(model, lr=0.1, weight_decay=0.05)
    options = TrainOptions(output_dir=str(tmp_path), max_epoch=1, amp="bf16", ema_decay=0.9)
    trainer = Trainer(model, opt, None, loader, options, device=torch.device("cpu"))
    trainer.scheduler = build_scheduler(
        opt, total_steps=6, warmup_steps=1, min_lr=1e-4, warmup_start_lr=1e-3
    )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.train()
    ema = trainer.ema.module.state_dict()
    assert not torch.equal(ema["fc.weight"], model.state_dict()["fc.weight"])
    assert not torch.equal(before["fc.weight"], model.state_dict()["fc.weight"])
    state = ckpt.load(ckpt.list_checkpoints(ckpt.checkpoint_dir(str(tmp_path)))[-1])
    assert torch.equal(state["ema"]["fc.weight"], ema["fc.weight"])


def test_eval_fn_results_become_one_eval_record_and_tensorboard_scalars(tmp_path):
    from videossl.logs import MetricWriter
    from videossl.plotting import read_metrics

    calls = []

    def eval_fn(epoch):
        calls.append(epoch)
        return {"top1": 50.0 + epoch, "top5": 100, "loss": 1.25, "tag": "val", "ok": True}

    trainer = make_trainer(tmp_path, max_epoch=3)
    trainer.opt.eval_period = 2
    trainer.eval_fn = eval_fn
    trainer.metrics = MetricWriter(str(tmp_path), tensorboard=True)
    trainer.train()
    assert calls == [2]
    evals = [r for r in read_metrics(str(tmp_path)) if r.get("type") == "eval"]
    assert len(evals) == 1
    record = {k: v for k, v in evals[0].items() if k != "time"}
    step = 2 * trainer.steps_per_epoch
    expected = {"type": "eval", "split": "val", "epoch": 2, "iter": step}
    assert record == {**expected, "top1": 52.0, "top5": 100.0, "loss": 1.25}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert {"val/top1", "val/top5", "val/loss"} <= set(acc.Tags()["scalars"])
    assert [(e.step, e.value) for e in acc.Scalars("val/top1")] == [(step, 52.0)]


def test_log_lines_carry_an_eta_that_counts_down_to_zero(tmp_path, caplog):
    import json

    trainer = make_trainer(tmp_path, max_epoch=3)
    with caplog.at_level("INFO", logger="videossl.engine.trainer"):
        trainer.train()
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r.get("phase") == "train"]
    total = 3 * trainer.steps_per_epoch
    for r in steps:  # steps left after this one, at the window's seconds per step
        left = total - (r["epoch"] - 1) * trainer.steps_per_epoch - r["iter"]
        assert r["eta_s"] == pytest.approx(left * r["step_time"])
    assert steps[-1]["eta_s"] == 0.0 and steps[0]["eta_s"] > 0.0
    lines = [m for m in caplog.messages if " step " in m and "clips/s" in m]
    assert lines and all(" eta " in m for m in lines) and lines[-1].endswith("eta 0m00s")
