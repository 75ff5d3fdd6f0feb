"""videossl.launch: submitit jobs, rendezvous, requeue on pre-emption (local executor and Slurm)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess

import pytest
import submitit
from launch_helpers import (
    attempts,
    count_steps,
    final_state,
    progress,
    release_requeued,
    save_count,
    slurm_cluster,  # noqa: F401  (session fixture)
    toy_pythonpath,  # noqa: F401
    wait_for,
)
from submitit.slurm.slurm import _make_sbatch_string

from videossl.config import load_config
from videossl.launch import (
    Resources,
    TrainJob,
    make_executor,
    rendezvous_port,
    resources_from_cfg,
    slurm_parameters,
    submit,
)


def toy_cfg(tmp_path, *, steps: int, tasks: int = 1, max_requeues: int = 3, time_min: int = 5):
    opts = [
        "OUTPUT_DIR", str(tmp_path / "jobs"), "NUM_GPUS", str(tasks),
        "TRAIN.BATCH_SIZE", "4", "TEST.BATCH_SIZE", "4",
        "TRAIN.MAX_ITERS_PER_EPOCH", str(steps), "LAUNCH.MAX_REQUEUES", str(max_requeues),
        "LAUNCH.TIME_MIN", str(time_min), "LAUNCH.CPUS_PER_TASK", "1",
        "LAUNCH.SIGNAL_DELAY_S", "10", "DISTRIBUTED.TIMEOUT_S", "60",
    ]  # fmt: skip
    return load_config([], opts)


def toy_submit(cfg, tasks: int = 1, **kw) -> submitit.Job:
    res = resources_from_cfg(cfg, nodes=1, gpus_per_node=0, cpu_tasks_per_node=tasks)
    return submit(cfg, res, run_fn=count_steps, save_fn=save_count, **kw)


# ---- unit: no scheduler ---------------------------------------------------------------------
def test_rendezvous_port_is_stable_in_range_and_changes_per_attempt():
    assert rendezvous_port("123456") == rendezvous_port("123456")
    ports = {rendezvous_port("123456", a) for a in range(5)}
    assert len(ports) == 5
    assert all(20000 <= p < 60000 for p in ports | {rendezvous_port("98765_3")})
    assert rendezvous_port("1") != rendezvous_port("2")


def test_slurm_parameters_become_sbatch_flags(tmp_path):
    res = Resources(
        nodes=2, gpus_per_node=8, cpus_per_task=10, time_min=60, mem_per_gpu_gb=40,
        partition="learn", account="vision", qos="high", signal_delay_s=90,
    )  # fmt: skip
    params = slurm_parameters(res)
    assert params["ntasks_per_node"] == 8 and "comment" not in params and "constraint" not in params
    text = _make_sbatch_string(command="run", folder=str(tmp_path), **params)
    for flag in (
        "--nodes=2", "--ntasks-per-node=8", "--gpus-per-node=8", "--cpus-per-task=10",
        "--time=60", "--mem-per-gpu=40G", "--partition=learn", "--account=vision",
        "--qos=high", "--signal=USR2@90", "--requeue",
    ):  # fmt: skip
        assert flag in text, flag


def test_cpu_job_asks_for_no_gpus():
    params = slurm_parameters(Resources(gpus_per_node=0, cpu_tasks_per_node=2, mem_per_gpu_gb=40))
    assert params["ntasks_per_node"] == 2
    assert "gpus_per_node" not in params and "mem_per_gpu" not in params


def test_submit_refuses_a_world_size_the_config_was_not_validated_for(tmp_path):
    cfg = toy_cfg(tmp_path, steps=1, tasks=1)
    res = resources_from_cfg(cfg, nodes=1, gpus_per_node=2)
    with pytest.raises(ValueError, match="NUM_GPUS=1"):
        submit(cfg, res, local=True)


def test_local_executor_is_one_node_only(tmp_path):
    with pytest.raises(ValueError, match="nodes=2"):
        make_executor(str(tmp_path), Resources(nodes=2), max_requeues=1, local=True)


def test_checkpoint_saves_and_requeues_until_max_requeues(tmp_path, caplog):
    saved = []
    job = TrainJob(toy_cfg(tmp_path, steps=1), max_requeues=2, save_fn=lambda: saved.append(1))
    first = job.checkpoint()
    assert isinstance(first, submitit.helpers.DelayedSubmission)
    assert first.function is job and job.requeues == 1
    assert job.checkpoint() is not None and job.requeues == 2
    with caplog.at_level(logging.ERROR, logger="videossl.launch"):
        assert job.checkpoint() is None
    assert "LAUNCH.MAX_REQUEUES=2" in caplog.text
    assert len(saved) == 3 and job.requeues == 2


# ---- submitit's local executor ----------------------------------------------------------------
@pytest.mark.slow
def test_local_two_tasks_share_a_gloo_group(tmp_path, toy_pythonpath):  # noqa: F811
    cfg = toy_cfg(tmp_path, steps=3, tasks=2)
    job = toy_submit(cfg, tasks=2, local=True)
    results = job.results()
    assert sorted(r["rank"] for r in results) == [0, 1]
    assert all(r["world_size"] == 2 for r in results)
    assert all(r["summed"] == 2 * 3 for r in results)  # every all-reduce saw both ranks
    assert str(job.paths.folder) == str(tmp_path / "jobs" / job.job_id)


def _task_pid(job_dir, timeout_s: float = 180) -> int:
    """The running task's pid once it has made progress. The wait includes the job's start: a
    Slurm job submitted while the node still completes the previous one waits for the next
    scheduling pass (a CI run hit the old 60 s limit that way)."""
    wait_for(lambda: progress(job_dir) >= 5, timeout_s, f"the toy job in {job_dir} to progress")
    return attempts(job_dir)[-1]["pid"]


@pytest.mark.slow
def test_local_preemption_checkpoints_requeues_and_resumes(tmp_path, toy_pythonpath):  # noqa: F811
    cfg = toy_cfg(tmp_path, steps=40)
    job = toy_submit(cfg, local=True)
    job_dir = job.paths.folder
    os.kill(_task_pid(job_dir), signal.SIGUSR2)
    result = job.result()
    runs = attempts(job_dir)
    assert len(runs) == 2 and runs[0]["start"] == 0
    assert 5 <= runs[1]["start"] < 40  # resumed from the pre-emption checkpoint, not from zero
    assert result["final"] == 40 and result["summed"] == 40 - runs[1]["start"]


# ---- a real Slurm -----------------------------------------------------------------------------
@pytest.mark.slurm
@pytest.mark.slow
def test_slurm_two_tasks_on_one_node_see_world_size_two(tmp_path, slurm_cluster, toy_pythonpath):  # noqa: F811
    cfg = toy_cfg(tmp_path, steps=3, tasks=2)
    job = toy_submit(cfg, tasks=2)
    results = job.results()
    assert sorted(r["rank"] for r in results) == [0, 1]
    assert all(r["world_size"] == 2 and r["summed"] == 6 for r in results)
    assert final_state(job.job_id) == "COMPLETED"
    assert (job.paths.folder / f"{job.job_id}_0_log.out").exists()


def _signal_slurm_job(job_id: str) -> None:
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)


@pytest.mark.slurm
@pytest.mark.slow
def test_slurm_preemption_requeues_and_resumes(tmp_path, slurm_cluster, toy_pythonpath):  # noqa: F811
    cfg = toy_cfg(tmp_path, steps=40)
    job = toy_submit(cfg)
    job_dir = job.paths.folder
    _task_pid(job_dir)
    _signal_slurm_job(job.job_id)
    release_requeued(job.job_id)
    result = job.result()
    runs = attempts(job_dir)
    assert len(runs) == 2 and runs[0]["start"] == 0
    assert 5 <= runs[1]["start"] < 40
    assert result["final"] == 40
    assert final_state(job.job_id) == "COMPLETED"


@pytest.mark.slurm
@pytest.mark.slow
def test_slurm_max_requeues_is_honoured(tmp_path, slurm_cluster, toy_pythonpath):  # noqa: F811
    cfg = toy_cfg(tmp_path, steps=200, max_requeues=0)
    job = toy_submit(cfg)
    job_dir = job.paths.folder
    _task_pid(job_dir)
    _signal_slurm_job(job.job_id)
    with pytest.raises(submitit.core.utils.UncompletedJobError):
        job.result()
    assert len(attempts(job_dir)) == 1
    assert int((job_dir / "count.ckpt").read_text()) >= 5  # still checkpointed before stopping
    assert "LAUNCH.MAX_REQUEUES=0" in (job_dir / f"{job.job_id}_0_log.out").read_text()
    assert final_state(job.job_id) == "FAILED"


@pytest.mark.slurm
@pytest.mark.slow
def test_slurm_cancelled_job_is_reported_cancelled(tmp_path, slurm_cluster, toy_pythonpath):  # noqa: F811
    cfg = toy_cfg(tmp_path, steps=600)
    job = toy_submit(cfg)
    _task_pid(job.paths.folder)
    job.cancel()
    wait_for(lambda: job.done(force_check=True), 60, "the cancelled job to be done")
    assert job.state.startswith("CANCELLED")
    with pytest.raises(submitit.core.utils.UncompletedJobError, match="CANCELLED"):
        job.result()
