"""tools/submit.py: validation before submission; tiny pretraining jobs, local and on Slurm."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from launch_helpers import (
    REPO_DIR,
    final_state,
    release_requeued,
    slurm_cluster,  # noqa: F401  (session fixture)
    wait_for,
)

from videossl import checkpoint as ckpt
from videossl.config import load_config

SUBMIT = os.path.join(REPO_DIR, "tools", "submit.py")
DEMO = os.path.join(REPO_DIR, "configs", "demo", "pretrain_mae.yaml")


def submit_module():
    spec = importlib.util.spec_from_file_location("videossl_submit", SUBMIT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def submit_main():
    return submit_module().main


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    """One demo dataset for the module's jobs (the first job writes it)."""
    return str(tmp_path_factory.mktemp("demo_data"))


def tiny_opts(
    root, data_dir: str, *, epochs: int = 1, iters: int = 2, workers: int = 0
) -> list[str]:
    return [
        "OUTPUT_DIR", str(root / "jobs"), "DATA.PATH_TO_DATA_DIR", data_dir,
        "DATA.NUM_WORKERS", str(workers), "TRAIN.BATCH_SIZE", "4", "SOLVER.MAX_EPOCH", str(epochs),
        "TRAIN.MAX_ITERS_PER_EPOCH", str(iters), "LOG.PERIOD", "1",
        "LAUNCH.CPUS_PER_TASK", "1", "LAUNCH.TIME_MIN", "10", "DISTRIBUTED.TIMEOUT_S", "120",
    ]  # fmt: skip


def run_submit(args: list[str], cwd) -> tuple[str, str, Path]:
    """Run tools/submit.py; returns (job id, stdout, announced job dir)."""
    out = subprocess.run(
        [sys.executable, SUBMIT, *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    job_id = re.search(r"Submitted \w+ job (\S+):", out.stdout).group(1)
    job_dir = Path(re.search(r"job dir \(OUTPUT_DIR\): (\S+)", out.stdout).group(1))
    return job_id, out.stdout, job_dir


def final_global_step(job_dir: Path) -> int:
    path, state = ckpt.newest_complete(str(job_dir / "checkpoints"))
    return state["global_step"]


def train_steps(job_dir: Path) -> list[int]:
    lines = (job_dir / "metrics.jsonl").read_text().splitlines()
    return [r["global_step"] for r in map(json.loads, lines) if r.get("phase") == "train"]


# ---- no scheduler ------------------------------------------------------------------------------
def test_a_config_typo_fails_before_submission(tmp_path, capsys):
    code = submit_main()(
        ["--cfg", DEMO, "--local", "--opts", "OUTPUT_DIR", str(tmp_path), "SOLVER.BASE_LRR", "1"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "SOLVER.BASE_LRR" in err and "SOLVER.BASE_LR" in err and "Nothing was submitted" in err
    assert list(tmp_path.iterdir()) == []


def test_a_world_size_that_does_not_divide_the_batch_fails_before_submission(tmp_path, capsys):
    code = submit_main()(
        ["--cfg", DEMO, "--local", "--gpus-per-node", "3", "--opts", "OUTPUT_DIR", str(tmp_path)]
    )
    assert code == 2
    assert "world size 3" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_launch_flags_become_config_overrides():
    module = submit_module()
    ns = module.parse_args(
        ["--cfg", DEMO, "--partition", "p", "--time", "30", "--mem-per-gpu", "40"]
    )
    opts = module.launch_opts(ns, 2, 8)
    pairs = dict(zip(opts[0::2], opts[1::2]))
    assert pairs == {
        "NUM_SHARDS": "2",
        "NUM_GPUS": "8",
        "LAUNCH.PARTITION": "p",
        "LAUNCH.TIME_MIN": "30",
        "LAUNCH.MEM_PER_GPU_GB": "40",
    }


@pytest.mark.slow
def test_local_two_task_pretraining_writes_where_announced(tmp_path, data_dir):
    args = ["--cfg", DEMO, "--local", "--wait", "--gpus-per-node", "0", "--tasks-per-node", "2"]
    opts = tiny_opts(tmp_path, data_dir, workers=2)  # loader workers under each task
    job_id, stdout, job_dir = run_submit(args + ["--opts", *opts], tmp_path)
    assert job_dir == tmp_path / "jobs" / job_id
    assert "finished" in stdout
    assert final_global_step(job_dir) == 2
    assert f"rank 0 of 2, output in {job_dir}" in (job_dir / "log.txt").read_text()
    assert (job_dir / f"{job_id}_1_log.out").exists()


# ---- a real Slurm ----------------------------------------------------------------------------
@pytest.mark.slurm
@pytest.mark.slow
def test_slurm_two_task_pretraining_completes_where_announced(tmp_path, data_dir, slurm_cluster):  # noqa: F811
    args = ["--cfg", DEMO, "--nodes", "1", "--gpus-per-node", "0", "--tasks-per-node", "2"]
    opts = tiny_opts(tmp_path, data_dir, workers=2)  # loader workers under each Slurm task
    job_id, _, job_dir = run_submit(args + ["--opts", *opts], tmp_path)
    assert job_dir == tmp_path / "jobs" / job_id
    assert final_state(job_id, timeout_s=240) == "COMPLETED"
    assert final_global_step(job_dir) == 2
    log = (job_dir / "log.txt").read_text()
    clips = 4 * load_config([DEMO]).DATA.NUM_REPEATED_SAMPLES  # TRAIN.BATCH_SIZE 4 videos
    assert "rank 0 of 2" in log and f"Global batch {clips} clips" in log
    assert (job_dir / f"{job_id}_0_log.out").exists() and (job_dir / "config.yaml").exists()


@pytest.mark.slurm
@pytest.mark.slow
def test_slurm_requeued_pretraining_resumes_to_the_same_final_step(
    tmp_path,
    data_dir,
    slurm_cluster,  # noqa: F811
):
    args = ["--cfg", DEMO, "--gpus-per-node", "0", "--tasks-per-node", "1"]
    opts = tiny_opts(tmp_path, data_dir, epochs=2, iters=12)
    job_id, _, job_dir = run_submit(args + ["--opts", *opts, "TRAIN.BATCH_SIZE", "2"], tmp_path)
    metrics = job_dir / "metrics.jsonl"
    wait_for(lambda: metrics.exists() and max(train_steps(job_dir)) >= 3, 240, "training")
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
    release_requeued(job_id)
    assert final_state(job_id, timeout_s=240) == "COMPLETED"
    log = (job_dir / "log.txt").read_text()
    resumed = re.search(r"Resumed from \S+ \(epoch (\d+), step (\d+)", log)
    assert resumed, log
    assert (int(resumed.group(1)), int(resumed.group(2))) != (0, 0)
    assert final_global_step(job_dir) == 2 * 12  # what an uninterrupted run ends with
    steps = train_steps(job_dir)  # every optimiser step is logged (LOG.PERIOD 1)
    assert set(steps) == set(range(1, 2 * 12 + 1))
    assert steps.count(1) == 1  # the second attempt did not start again from zero
    assert "attempt 2" in log
