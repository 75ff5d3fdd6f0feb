"""tools/benchmark.py runs each benchmark and prints its numbers."""

import subprocess
import sys
from pathlib import Path

import pytest

TOOL = str(Path(__file__).resolve().parents[1] / "tools" / "benchmark.py")


def _run(*args):
    proc = subprocess.run(
        [sys.executable, TOOL, *args], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_targets_prints_hog_timings():
    out = _run(
        "targets",
        "--shape",
        "1",
        "3",
        "4",
        "32",
        "32",
        "--repeats",
        "1",
        "--warmup",
        "0",
        "--devices",
        "cpu",
    )
    assert "speedup" in out


@pytest.mark.slow
def test_loader_runs_on_generated_videos():
    out = _run(
        "loader",
        "--num-videos",
        "2",
        "--seconds",
        "3",
        "--clips",
        "2",
        "--runs",
        "1",
        "--workers",
        "0",
        "--repeats",
        "1",
    )
    assert "clips" in out


def test_model_benchmark_of_a_config():
    cfg = str(Path(TOOL).resolve().parents[1] / "configs" / "demo" / "pretrain_mae.yaml")
    out = _run("model", "--cfg", cfg, "--steps", "1", "--opts", "TRAIN.BATCH_SIZE", "2")
    assert "clips_per_s" in out and "peak_memory_mb" in out


@pytest.mark.slow
def test_loader_runs_on_the_demo_data_with_a_config(tmp_path):
    from videossl.data.demo import write_demo_dataset

    write_demo_dataset(
        str(tmp_path),
        num_train_per_class=1,
        num_val_per_class=1,
        num_test_per_class=1,
        num_frames=40,
    )
    cfg = str(Path(TOOL).resolve().parents[1] / "configs" / "demo" / "finetune.yaml")
    out = _run(
        "loader",
        "--cfg",
        cfg,
        "--data",
        str(tmp_path),
        "--clips",
        "4",
        "--runs",
        "1",
        "--workers",
        "0",
        "--repeats",
        "1",
    )
    assert "clips" in out
