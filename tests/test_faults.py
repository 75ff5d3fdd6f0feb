"""Injected faults: config mistakes, bad data, divergence, kills during a save (issue 15)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUN_NET = str(REPO / "tools" / "run_net.py")
FINETUNE = str(REPO / "configs" / "demo" / "finetune.yaml")


# ---- config mistakes: each exits 2 in < 5 s with one line naming the key or file ------------


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cfg")
    data = root / "data"
    data.mkdir()
    for split in ("train", "val", "test"):
        (data / f"{split}.csv").write_text("a.mp4 0\nb.mp4 5\n")
    bad = root / "bad_data"
    bad.mkdir()
    (bad / "train.csv").write_text("a.mp4 0\nb.mp4 7\nc.mp4 -3\nd.mp4 x\na.mp4 1\ne.mp4 1 2 3\n")
    (bad / "test.csv").write_text("a.mp4 0\n")
    (root / "a_file").write_text("not a folder")
    (root / "base.yaml").write_text(f"_BASE_: {FINETUNE}\nDATA:\n  DEMO: ''\n")
    for name, text in {
        "type.yaml": "_BASE_: base.yaml\nTRAIN:\n  BATCH_SIZE: eight\n",
        "lr_type.yaml": "_BASE_: base.yaml\nSOLVER:\n  BASE_LR: [1, 2]\n",
        "broken.yaml": "_BASE_: base.yaml\nTRAIN: [unclosed\n",
        "nobase.yaml": "_BASE_: missing_base.yaml\n",
        "unknown.yaml": "_BASE_: base.yaml\nTRAIN:\n  BATCH_SZE: 4\n",
        "section.yaml": "_BASE_: base.yaml\nSOLVER:\n  BASE_LR:\n    X: 1\n",
        "list.yaml": "- a\n- b\n",
    }.items():
        (root / name).write_text(text)
    common = ["DATA.PATH_TO_DATA_DIR", str(data), "OUTPUT_DIR", str(root / "out")]
    common += ["TRAIN.CHECKPOINT_FILE_PATH", ""]
    return root, common


# (name, config file or None for base.yaml, overrides, words the message must contain)
CASES = [
    ("arch", None, ["MODEL.ARCH", "vitt"], ["MODEL.ARCH", "'vit'"]),
    ("objective", None, ["MODEL.OBJECTIVE", "maskfet"], ["MODEL.OBJECTIVE", "'maskfeat'"]),
    ("mask_type", None, ["MASK.TYPE", "cubes"], ["MASK.TYPE", "'cube'"]),
    ("target", None, ["TARGET.NAMES", "['hogg']"], ["TARGET.NAMES", "'hog'"]),
    ("dataset", None, ["DATA.DATASET", "kinetic"], ["DATA.DATASET", "'kinetics'"]),
    ("optimizer", None, ["SOLVER.OPTIMIZER", "adamww"], ["SOLVER.OPTIMIZER", "'adamw'"]),
    ("decoder", None, ["DATA.DECODER", "pyavv"], ["DATA.DECODER", "'pyav'"]),
    ("list_format", None, ["DATA.LIST_FORMAT", "csv"], ["DATA.LIST_FORMAT"]),
    ("yaml_type", "type.yaml", [], ["type.yaml", "TRAIN.BATCH_SIZE"]),
    ("yaml_list_type", "lr_type.yaml", [], ["lr_type.yaml", "SOLVER.BASE_LR"]),
    ("cli_type", None, ["TRAIN.BATCH_SIZE", "eight"], ["TRAIN.BATCH_SIZE"]),
    ("negative_lr", None, ["SOLVER.BASE_LR", "-0.1"], ["SOLVER.BASE_LR"]),
    ("negative_workers", None, ["DATA.NUM_WORKERS", "-1"], ["DATA.NUM_WORKERS"]),
    ("max_epoch_0", None, ["SOLVER.MAX_EPOCH", "0"], ["SOLVER.MAX_EPOCH"]),
    ("negative_wd", None, ["SOLVER.WEIGHT_DECAY", "-1.0"], ["SOLVER.WEIGHT_DECAY"]),
    ("classes_0", None, ["MODEL.NUM_CLASSES", "0"], ["MODEL.NUM_CLASSES"]),
    ("batch_0", None, ["TRAIN.BATCH_SIZE", "0"], ["TRAIN.BATCH_SIZE"]),
    ("accum_0", None, ["SOLVER.ACCUM_STEPS", "0"], ["SOLVER.ACCUM_STEPS"]),
    ("ckpt_period_0", None, ["TRAIN.CHECKPOINT_PERIOD", "0"], ["TRAIN.CHECKPOINT_PERIOD"]),
    ("log_period_0", None, ["LOG.PERIOD", "0"], ["LOG.PERIOD"]),
    ("mask_ratio", None, ["MASK.RATIO", "1.5"], ["MASK.RATIO"]),
    ("crop", None, ["DATA.TRAIN_CROP_SIZE", "60"], ["DATA.TRAIN_CROP_SIZE"]),
    ("frames", None, ["DATA.NUM_FRAMES", "7"], ["DATA.NUM_FRAMES"]),
    ("amp", None, ["TRAIN.AMP", "fp8"], ["TRAIN.AMP"]),
    ("crops", None, ["TEST.NUM_SPATIAL_CROPS", "2"], ["TEST.NUM_SPATIAL_CROPS"]),
    ("unknown_cli", None, ["TRAIN.BATCH_SZE", "4"], ["TRAIN.BATCH_SZE", "TRAIN.BATCH_SIZE"]),
    ("unknown_yaml", "unknown.yaml", [], ["unknown.yaml", "TRAIN.BATCH_SIZE"]),
    ("value_as_section", "section.yaml", [], ["section.yaml", "SOLVER.BASE_LR"]),
    ("odd_overrides", None, ["SOLVER.BASE_LR"], ["KEY VALUE"]),
    ("no_file", "nope.yaml", [], ["nope.yaml"]),
    ("bad_yaml", "broken.yaml", [], ["broken.yaml"]),
    ("missing_base", "nobase.yaml", [], ["missing_base.yaml"]),
    ("not_mapping", "list.yaml", [], ["list.yaml"]),
    ("data_dir", None, ["DATA.PATH_TO_DATA_DIR", "/nonexistent/k400"], ["/nonexistent/k400"]),
    ("init_ckpt", None, ["TRAIN.CHECKPOINT_FILE_PATH", "/nonexistent/pt"], ["/nonexistent/pt"]),
    ("test_ckpt", None, ["TEST.CHECKPOINT_FILE_PATH", "/nonexistent/w.pyth"], ["/nonexistent/w"]),
    ("test_only", None, ["TRAIN.ENABLE", "False"], ["TEST.CHECKPOINT_FILE_PATH"]),
    ("output_dir", None, ["OUTPUT_DIR", "{root}/a_file/out"], ["OUTPUT_DIR", "a_file"]),
    ("bad_list", None, ["DATA.PATH_TO_DATA_DIR", "{root}/bad_data"], ["csv:2", "csv:6"]),
]  # fmt: skip


def _run(args: list[str]) -> tuple[int, str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, RUN_NET, *args], capture_output=True, text=True, env=env, timeout=60
    )
    return proc.returncode, proc.stderr + proc.stdout, time.perf_counter() - start


def test_config_mistakes_fail_fast_with_one_line(setup):
    root, common = setup
    assert len(CASES) >= 33
    jobs = []
    for name, cfg_file, overrides, words in CASES:
        cfg = str(root / (cfg_file or "base.yaml"))
        opts = common + [o.replace("{root}", str(root)) for o in overrides]
        if name == "odd_overrides":
            opts = overrides
        jobs.append((name, ["--cfg", cfg, *opts], words))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda job: _run(job[1]), jobs))
    problems = []
    for (name, _, words), (rc, out, seconds) in zip(jobs, results):
        lines = [line for line in out.splitlines() if line.strip()]
        missing = [w for w in words if w not in out]
        if rc != 2 or len(lines) != 1 or "Traceback" in out or missing or seconds > 5:
            problems.append(f"{name}: rc {rc}, {seconds:.1f} s, missing {missing}: {out[-300:]}")
    assert not problems, "\n".join(problems)


def test_debug_shows_the_traceback(setup):
    root, common = setup
    rc, out, _ = _run(["--cfg", str(root / "base.yaml"), "--debug", *common, "MODEL.ARCH", "x"])
    assert rc != 0 and "Traceback" in out


def test_valid_config_passes_the_checks(setup):
    from videossl.cli import load_checked

    root, common = setup
    cfg = load_checked(str(root / "base.yaml"), common)
    assert cfg.MODEL.ARCH == "vit"


def test_full_disk_is_caught(setup, monkeypatch):
    import shutil

    from videossl.cli import load_checked
    from videossl.config import ConfigError

    root, common = setup
    usage = shutil.disk_usage(str(root))
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=1000))
    with pytest.raises(ConfigError, match="MiB free"):
        load_checked(str(root / "base.yaml"), common)


def test_names_match_the_registries():
    """The torch-free name lists equal what the registries hold."""
    import timm.optim

    import videossl.data.build as data_build
    import videossl.data.decoders as decoders
    import videossl.data.records as records
    import videossl.masking as masking
    import videossl.models.build  # noqa: F401  (registers encoders and objectives)
    import videossl.models.linear_probe  # noqa: F401
    import videossl.targets as targets
    from videossl.config.names import REGISTRY_KEYS
    from videossl.models.registry import ENCODERS, OBJECTIVES

    def names(registry):
        return tuple(sorted(n for n, _ in registry))

    assert REGISTRY_KEYS["MODEL.ARCH"][0] == names(ENCODERS)
    assert REGISTRY_KEYS["MODEL.OBJECTIVE"][0] == names(OBJECTIVES)
    assert REGISTRY_KEYS["MASK.TYPE"][0] == names(masking.MASKERS)
    assert REGISTRY_KEYS["TARGET.NAMES"][0] == names(targets.TARGETS)
    assert REGISTRY_KEYS["DATA.DATASET"][0] == names(data_build.DATASETS)
    assert REGISTRY_KEYS["DATA.DECODER"][0] == tuple(sorted(decoders.BACKENDS))
    assert REGISTRY_KEYS["DATA.LIST_FORMAT"][0] == tuple(sorted(records.LIST_FORMATS))
    assert set(REGISTRY_KEYS["SOLVER.OPTIMIZER"][0]) <= set(timm.optim.list_optimizers())
    from videossl.config.names import OBJECTIVE_ENCODERS

    restricted = {n: OBJECTIVES.spec(n).get("encoders") for n, _ in OBJECTIVES}
    restricted = {n: tuple(e) for n, e in restricted.items() if e is not None}
    assert restricted == {n: e for n, (e, _) in OBJECTIVE_ENCODERS.items()}


# ---- bad data: every kind of broken entry is named or skipped once ------------------------


def _write_mp4(path, frames: int = 24, faststart: bool = True) -> None:
    import av
    import numpy as np

    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(frames):
            image = np.full((32, 32, 3), (i * 9) % 255, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.fixture(scope="module")
def bad_set(tmp_path_factory):
    """8 good videos and 7 broken files of different kinds, in a list with 5 broken lines."""
    root = tmp_path_factory.mktemp("bad")
    for i in range(8):
        _write_mp4(root / f"good{i}.mp4")
    _write_mp4(root / "full.mp4", frames=60)
    data = (root / "full.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) * 2 // 5])  # header kept, data cut
    assert data[:64] == (root / "truncated.mp4").read_bytes()[:64]
    (root / "empty.mp4").write_bytes(b"")
    (root / "text.mp4").write_text("this is not a video\n" * 50)
    (root / "random.mp4").write_bytes(bytes(range(256)) * 40)
    _write_mp4(root / "zero_frames.mp4", frames=0)
    (root / "a_folder.mp4").mkdir()
    files = ["missing.mp4", "truncated.mp4", "empty.mp4", "text.mp4", "random.mp4"]
    files += ["zero_frames.mp4", "a_folder.mp4"]
    good = [f"good{i}.mp4 {i % 6}" for i in range(8)]
    broken_files = [f"{name} 1" for name in files]
    broken_lines = ["good0.mp4 2", "x.mp4 7", "y.mp4 -3", "z.mp4 two", "w.mp4 1 2 3"]
    return root, good, broken_files, broken_lines, files


def _cfg(root, out):
    from videossl.config import get_defaults

    cfg = get_defaults()
    cfg.OUTPUT_DIR = str(out)
    cfg.DATA.PATH_TO_DATA_DIR = str(root)
    cfg.DATA.NUM_FRAMES, cfg.DATA.SAMPLING_RATE = 4, 2
    cfg.DATA.TRAIN_CROP_SIZE = cfg.DATA.TEST_CROP_SIZE = 16
    cfg.MODEL.NUM_CLASSES = 6
    cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_SPATIAL_CROPS = 1, 1
    return cfg


def test_broken_list_lines_are_all_named_at_start_up(bad_set):
    from videossl.data.records import ListFormatError, validate_list

    root, good, broken_files, broken_lines, _ = bad_set
    path = root / "train.csv"
    path.write_text("\n".join(good + broken_files + broken_lines) + "\n")
    with pytest.raises(ListFormatError) as e:
        validate_list(str(path), num_classes=6)
    message = str(e.value)
    first = len(good) + len(broken_files) + 1
    for offset, words in enumerate(
        ["duplicate of line 1", "label 7", "label -3", "'two'", "4 fields"]
    ):
        assert f"train.csv:{first + offset}" in message and words in message, words
    assert "\n" not in message and message.startswith("5 broken lines")


def test_broken_files_are_skipped_and_reported_once(bad_set, tmp_path):
    from videossl.data.base import read_bad_report
    from videossl.data.build import build_dataset, collate

    root, good, broken_files, _, files = bad_set
    (root / "train.csv").write_text("\n".join(good + broken_files) + "\n")
    train = build_dataset(_cfg(root, tmp_path), "train")
    for epoch in range(2):
        items = [train[(i, 100 * epoch + i)] for i in range(len(train))]
        batch = collate(items)
        assert bool(batch["valid"].all()) and len(batch["label"]) == len(good) + len(files)
        assert all("good" in train.records[int(i)].path for i in batch["index"])
        summary = train.failure_summary(epoch, log=False)
        if epoch == 0:  # counts are of files; each bad file appears once
            assert summary["files"] == summary["failures"] == len(files)
    rows = read_bad_report(str(tmp_path / "bad_videos.tsv"))
    assert sorted(os.path.basename(p) for _, p, _ in rows) == sorted(files)


def test_mostly_bad_data_stops_naming_the_report(bad_set, tmp_path):
    from videossl.data.base import DatasetMostlyBad
    from videossl.data.build import build_dataset

    root, good, broken_files, _, _ = bad_set
    (root / "train.csv").write_text("\n".join(good[:1] + broken_files * 0 + [
        f"missing{i}.mp4 0" for i in range(40)
    ]) + "\n")  # fmt: skip
    train = build_dataset(_cfg(root, tmp_path), "train")
    with pytest.raises(DatasetMostlyBad, match="bad_videos.tsv"):
        for i in range(len(train)):
            train[(i, i)]


# ---- divergence: LR 1e6 at step 1 and at step 30 ------------------------------------------


class _Spike:
    """A schedule at `lr`, with `spike` on the steps in `at` (1-based optimiser steps)."""

    def __init__(self, optimizer, at, lr=0.05, spike=1e6):
        self.optimizer, self.at, self.lr, self.spike = optimizer, set(at), lr, spike
        self.step_update(0)

    def step_update(self, num_updates):
        for group in self.optimizer.param_groups:
            group["lr"] = self.spike if num_updates + 1 in self.at else self.lr

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def _spiking_trainer(out, at, *, action="lower_lr", epochs=3):
    import torch
    from toy import NoisyDataset, ToyObjective

    from videossl.data.loader import make_loader
    from videossl.engine.guard import LossGuard
    from videossl.engine.optim import build_optimizer
    from videossl.engine.trainer import Trainer, TrainOptions

    torch.manual_seed(0)
    model = ToyObjective(dropout=0.0)
    loader = make_loader(NoisyDataset(48), batch_size=4, shuffle=True, drop_last=True, seed=3)
    opt = build_optimizer(model, lr=0.05, weight_decay=0.05)
    options = TrainOptions(
        output_dir=str(out), max_epoch=epochs, checkpoint_iter_period=5, checkpoint_keep=0
    )
    guard = LossGuard(action=action)
    trainer = Trainer(model, opt, None, loader, options, device=torch.device("cpu"), guard=guard)
    trainer.scheduler = _Spike(opt, at)
    return trainer


def _all_checkpoints_finite(out) -> int:
    from videossl import checkpoint as ckpt

    paths = ckpt.list_checkpoints(ckpt.checkpoint_dir(str(out)))
    for path in paths:
        ckpt.check_finite(ckpt.load(path))
    return len(paths)


def test_lr_1e6_for_ever_stops_with_advice_and_no_bad_checkpoint(tmp_path):
    from videossl.engine.guard import TrainingDiverged

    trainer = _spiking_trainer(tmp_path, at=range(1, 10**6))
    with pytest.raises(TrainingDiverged, match="SOLVER.BASE_LR"):
        trainer.train()
    assert trainer.global_step <= 6  # caught from the first steps, not after a warm-up window
    _all_checkpoints_finite(tmp_path)


@pytest.mark.parametrize("step", [1, 30])
def test_lr_1e6_spike_rolls_back_and_training_recovers(tmp_path, step):
    import math

    import torch

    trainer = _spiking_trainer(tmp_path, at=[step])
    summary = trainer.train()
    assert trainer.guard.rollbacks >= 1 and trainer.global_step == 36
    assert math.isfinite(summary["loss"]) and summary["loss"] < 5
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert _all_checkpoints_finite(tmp_path) >= 7


def test_stop_action_stops_at_the_first_divergence(tmp_path):
    from videossl.engine.guard import TrainingDiverged

    trainer = _spiking_trainer(tmp_path, at=[30], action="stop")
    with pytest.raises(TrainingDiverged, match="step"):
        trainer.train()
    assert trainer.guard.rollbacks == 1
    _all_checkpoints_finite(tmp_path)


def test_save_refuses_non_finite_state_and_follows_the_umask(tmp_path):
    import stat

    import torch

    from videossl import checkpoint as ckpt

    path = str(tmp_path / "c.pyth")
    with pytest.raises(ckpt.NonFiniteError, match="optimizer.state.0.exp_avg"):
        bad = torch.tensor([1.0, float("nan")])
        ckpt.save_atomic(
            {"model": {"w": torch.ones(2)}, "optimizer": {"state": {0: {"exp_avg": bad}}}}, path
        )
    assert not os.path.exists(path) and not os.listdir(tmp_path)
    old = os.umask(0o022)
    try:
        ckpt.save_atomic({"model": {"w": torch.ones(2)}}, path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_cli_reports_divergence_in_one_line(monkeypatch, capsys, setup):
    from videossl import cli
    from videossl.engine.guard import TrainingDiverged

    root, common = setup

    def diverge(cfg):
        raise TrainingDiverged("Loss went bad at epoch 1 step 3. Lower SOLVER.BASE_LR.")

    monkeypatch.setattr(cli, "run_config", diverge)
    assert cli.main(["--cfg", str(root / "base.yaml"), *common]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: Loss went bad at epoch 1 step 3. Lower SOLVER.BASE_LR."]


# ---- kill -9 during a save, then resume ---------------------------------------------------


def _toy_run(out, kill_at=0):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("TOY_KILL_AT_SAVE", None)
    if kill_at:
        env["TOY_KILL_AT_SAVE"] = str(kill_at)
    script = str(REPO / "tests" / "train_toy.py")
    return subprocess.run(
        [sys.executable, script, str(out), "4", "1", "2", "1"], env=env, capture_output=True
    ).returncode


def _records(out):
    import json

    with open(out / "metrics.jsonl") as f:
        return [json.loads(line) for line in f]


def _toy_in_process(out, monkeypatch):
    import train_toy

    monkeypatch.setattr(sys, "argv", ["train_toy.py", str(out), "4", "1", "2", "1"])
    train_toy.main()


def test_kill_during_save_then_resume_keeps_metrics_and_epoch_means(tmp_path, monkeypatch):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert _toy_run(killed, kill_at=17) == -9  # SIGKILL in the middle of the 17th save
    assert any(n.startswith(".tmp_") for n in os.listdir(killed / "checkpoints"))
    _toy_in_process(killed, monkeypatch)  # resume
    _toy_in_process(clean, monkeypatch)  # the same run, never interrupted
    assert not any(n.startswith(".tmp_") for n in os.listdir(killed / "checkpoints"))
    steps = [r["global_step"] for r in _records(killed) if r["phase"] == "train"]
    assert steps == list(range(1, 25))  # one record per step, none repeated
    epochs = [r for r in _records(killed) if r["phase"] == "train_epoch"]
    expected = [r for r in _records(clean) if r["phase"] == "train_epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2]
    for got, want in zip(epochs, expected):
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-6)


def test_chained_job_may_start_from_an_earlier_jobs_run(tmp_path):
    """`--cfg pretrain.yaml finetune.yaml`: the fine-tune's TRAIN.CHECKPOINT_FILE_PATH is the
    pretraining's OUTPUT_DIR, which holds no checkpoint yet when both are checked up front."""
    from videossl.config import ConfigError, load_config
    from videossl.config.validate import check_checkpoints

    run = tmp_path / "pretrain"
    cfg = load_config(
        [str(REPO / "configs" / "demo" / "finetune.yaml")],
        ["OUTPUT_DIR", str(tmp_path / "ft"), "TRAIN.CHECKPOINT_FILE_PATH", str(run)],
    )
    check_checkpoints(cfg, earlier_runs=(str(run),))
    with pytest.raises(ConfigError, match="TRAIN.CHECKPOINT_FILE_PATH"):
        check_checkpoints(cfg, earlier_runs=(str(tmp_path / "other"),))
