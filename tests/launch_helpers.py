"""Shared by tests/test_launch.py and tests/test_submit.py: the Slurm cluster fixture and a toy job.

The toy "training" counts steps (one every STEP_S seconds, with an all-reduce across ranks),
records each attempt in OUTPUT_DIR/attempts.jsonl, and checkpoints the step count when
`save_count()` is called (the job's pre-emption hook). Job processes import this module by name,
so tests put the tests directory on PYTHONPATH before submitting (see `toy_pythonpath`).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from slurm_cluster import SlurmCluster, unavailable_reason

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(TESTS_DIR)
STEP_S = 0.1
_STATE: dict = {}


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def count_steps(cfg) -> dict:
    """Count to cfg.TRAIN.MAX_ITERS_PER_EPOCH, resuming from OUTPUT_DIR/count.ckpt."""
    ckpt = os.path.join(cfg.OUTPUT_DIR, "count.ckpt")
    start = int(Path(ckpt).read_text()) if os.path.exists(ckpt) else 0
    rank, world = _world()
    _STATE.update(step=start, path=ckpt)
    record = {"rank": rank, "world_size": world, "start": start, "pid": os.getpid()}
    with open(os.path.join(cfg.OUTPUT_DIR, "attempts.jsonl"), "a") as f:
        f.write(json.dumps(record) + "\n")
    total = torch.zeros(1)
    for step in range(start, cfg.TRAIN.MAX_ITERS_PER_EPOCH):
        time.sleep(STEP_S)
        one = torch.ones(1)
        if world > 1:
            dist.all_reduce(one)
        total += one
        _STATE["step"] = step + 1
        if rank == 0:
            Path(cfg.OUTPUT_DIR, "progress").write_text(str(step + 1))
    return {**record, "final": _STATE["step"], "summed": float(total.item())}


def save_count() -> str:
    tmp = _STATE["path"] + ".tmp"
    Path(tmp).write_text(str(_STATE["step"]))
    os.replace(tmp, _STATE["path"])
    return _STATE["path"]


def attempts(job_dir: str | Path) -> list[dict]:
    path = Path(job_dir, "attempts.jsonl")
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def progress(job_dir: str | Path) -> int:
    try:
        return int(Path(job_dir, "progress").read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def wait_for(predicate, timeout_s: float, what: str, poll_s: float = 0.2) -> None:
    end = time.time() + timeout_s
    while time.time() < end:
        if predicate():
            return
        time.sleep(poll_s)
    raise TimeoutError(f"Timed out after {timeout_s}s waiting for {what}")


@pytest.fixture
def toy_pythonpath(monkeypatch):
    """Job processes (local or Slurm) inherit the environment: let them import this module."""
    paths = [TESTS_DIR, REPO_DIR, os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))


_CLUSTER: list[SlurmCluster] = []


@pytest.fixture(scope="session")
def slurm_cluster(request):
    """One real Slurm cluster for the whole session, shared by every module that imports this.

    Each importing module gets its own fixture instance; the first one starts the cluster and
    stops it at the end of the session, the others reuse it.
    """
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"Slurm tests skipped: {reason}")
    if _CLUSTER:
        return _CLUSTER[0]
    cluster = SlurmCluster().start()
    _CLUSTER.append(cluster)

    def stop() -> None:
        _CLUSTER.clear()
        cluster.stop()

    request.addfinalizer(stop)
    return cluster


def release_requeued(job_id: str, timeout_s: float = 60) -> None:
    """Slurm holds a requeued job for 120 s (BeginTime); start it now to keep tests short."""

    def pending() -> bool:
        out = subprocess.run(
            ["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True
        )
        return out.stdout.strip() == "PENDING"

    wait_for(pending, timeout_s, f"job {job_id} to be requeued")
    subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True)


def final_state(job_id: str, timeout_s: float = 60) -> str:
    """The job's state in accounting once it has left the queue."""
    active = ("PENDING", "RUNNING", "REQUEUED", "COMPLETING", "")
    wait_for(lambda: sacct_state(job_id) not in active, timeout_s, f"job {job_id} to end")
    return sacct_state(job_id)


def sacct_state(job_id: str) -> str:
    out = subprocess.run(
        ["sacct", "-n", "-X", "--parsable2", "-o", "State", "-j", str(job_id)],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
