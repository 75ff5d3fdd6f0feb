"""Cluster launch through submitit: a checkpointable job that requeues itself on pre-emption.

One task per GPU (or `tasks_per_node` CPU processes with gloo). Every task joins the process
group from its own job environment: global rank, local rank and world size from
`submitit.JobEnvironment`, the first node of the job as master and a port derived from the job
id. All output goes to the job directory (`<root>/<job id>` unless given), which becomes the
config's OUTPUT_DIR, so a requeued job resumes from its own newest checkpoint.

On Slurm's pre-emption / time-limit signal (USR2, `--signal=USR2@LAUNCH.SIGNAL_DELAY_S`)
submitit calls `TrainJob.checkpoint()` on rank 0: it saves the running trainer
(`videossl.engine.preemption.save_now`) and returns the job itself with one more requeue
counted; submitit then requeues it (`scontrol requeue`). After `LAUNCH.MAX_REQUEUES` requeues
the checkpoint is still written but the job ends instead of requeuing.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from typing import Any, Callable

import submitit
from fvcore.common.config import CfgNode

logger = logging.getLogger(__name__)

JOB_ID_PATTERN = "%j"  # submitit/Slurm replace it with the job id


@dataclasses.dataclass(frozen=True)
class Resources:
    """What one job asks the scheduler for (Slurm's names in comments)."""

    nodes: int = 1  # --nodes
    gpus_per_node: int = 0  # --gpus-per-node; one task per GPU
    cpu_tasks_per_node: int = 1  # tasks per node when there are no GPUs (gloo)
    cpus_per_task: int = 10  # --cpus-per-task
    time_min: int = 4320  # --time
    mem_per_gpu_gb: int = 0  # --mem-per-gpu (0: the partition's default)
    partition: str = ""
    account: str = ""
    qos: str = ""
    constraint: str = ""
    comment: str = ""
    name: str = "videossl"  # --job-name
    signal_delay_s: int = 120  # USR2 this many seconds before the time limit

    @property
    def tasks_per_node(self) -> int:
        return self.gpus_per_node if self.gpus_per_node > 0 else self.cpu_tasks_per_node


def resources_from_cfg(
    cfg: CfgNode, *, nodes: int, gpus_per_node: int, cpu_tasks_per_node: int = 1
) -> Resources:
    """Resources for `nodes` x `gpus_per_node` tasks (CPU tasks when no GPUs), rest from LAUNCH."""
    launch = cfg.LAUNCH
    return Resources(
        nodes=nodes,
        gpus_per_node=gpus_per_node,
        cpu_tasks_per_node=cpu_tasks_per_node,
        cpus_per_task=launch.CPUS_PER_TASK,
        time_min=launch.TIME_MIN,
        mem_per_gpu_gb=launch.MEM_PER_GPU_GB,
        partition=launch.PARTITION,
        account=launch.ACCOUNT,
        qos=launch.QOS,
        constraint=launch.CONSTRAINT,
        comment=launch.COMMENT,
        name=launch.NAME,
        signal_delay_s=launch.SIGNAL_DELAY_S,
    )


def slurm_parameters(res: Resources) -> dict[str, Any]:
    """submitit.SlurmExecutor parameters; empty strings and zeros are left to the cluster."""
    params: dict[str, Any] = {
        "job_name": res.name,
        "nodes": res.nodes,
        "ntasks_per_node": res.tasks_per_node,
        "cpus_per_task": res.cpus_per_task,
        "time": res.time_min,
        "signal_delay_s": res.signal_delay_s,
        # requeueable even where the cluster's JobRequeue=0
        "additional_parameters": {"requeue": True},
    }
    if res.gpus_per_node > 0:
        params["gpus_per_node"] = res.gpus_per_node
        if res.mem_per_gpu_gb > 0:
            params["mem_per_gpu"] = f"{res.mem_per_gpu_gb}G"
    for key in ("partition", "account", "qos", "constraint", "comment"):
        if getattr(res, key):
            params[key] = getattr(res, key)
    return params


def make_executor(
    folder: str, res: Resources, *, max_requeues: int, local: bool = False
) -> submitit.Executor:
    """A Slurm executor, or submitit's LocalExecutor (one node) with `local=True`.

    `folder` may contain `%j`, replaced by the job id. submitit's own time-out budget is one
    more than `max_requeues`, so that `TrainJob.checkpoint` is the one deciding when to stop.
    """
    budget = max_requeues + 1
    if local:
        if res.nodes != 1:
            raise ValueError(f"A local launch runs on this machine only; got nodes={res.nodes}.")
        executor: submitit.Executor = submitit.LocalExecutor(folder, max_num_timeout=budget)
        executor.update_parameters(
            timeout_min=res.time_min,
            tasks_per_node=res.tasks_per_node,
            gpus_per_node=res.gpus_per_node,
            signal_delay_s=res.signal_delay_s,
        )
        return executor
    executor = submitit.SlurmExecutor(folder, max_num_timeout=budget)
    executor.update_parameters(**slurm_parameters(res))
    return executor


def rendezvous_port(job_id: str, attempt: int = 0) -> int:
    """A port in [20000, 60000) from the job id, different for each requeued attempt."""
    digits = int("".join(re.findall(r"\d", job_id)) or 0)
    return 20000 + (digits * 7 + attempt * 997) % 40000


def job_rendezvous(env: submitit.JobEnvironment, attempt: int = 0) -> dict[str, Any]:
    """rank / local_rank / world_size / master address and port of this task."""
    master = "127.0.0.1" if env.num_nodes == 1 else env.hostnames[0]
    return {
        "rank": env.global_rank,
        "local_rank": env.local_rank,
        "world_size": env.num_tasks,
        "master_addr": master,
        "master_port": rendezvous_port(env.job_id, attempt),
    }


class TrainJob(submitit.helpers.Checkpointable):
    """Runs `run_fn(cfg)` (default: `videossl.job.run_job`) in every task of a job.

    `save_fn()` (default: `videossl.engine.preemption.save_now`) checkpoints the running
    trainer when the job is pre-empted or reaches its time limit.
    """

    def __init__(
        self,
        cfg: CfgNode,
        *,
        max_requeues: int,
        run_fn: Callable[[CfgNode], Any] | None = None,
        save_fn: Callable[[], str | None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.max_requeues = max_requeues
        self.requeues = 0
        self.run_fn = run_fn
        self.save_fn = save_fn

    def job_cfg(self, output_dir: str) -> CfgNode:
        cfg = self.cfg.clone()
        cfg.defrost()
        cfg.OUTPUT_DIR = output_dir
        cfg.freeze()
        return cfg

    def __call__(self) -> Any:
        from .distributed import cleanup, init_distributed
        from .logs import setup_logging

        env = submitit.JobEnvironment()
        job_dir = str(env.paths.folder)
        rdv = job_rendezvous(env, self.requeues)
        os.environ.update(
            RANK=str(rdv["rank"]),
            LOCAL_RANK=str(rdv["local_rank"]),
            WORLD_SIZE=str(rdv["world_size"]),
            MASTER_ADDR=rdv["master_addr"],
            MASTER_PORT=str(rdv["master_port"]),
        )
        cfg = self.job_cfg(job_dir)
        init_distributed(
            backend=cfg.DISTRIBUTED.BACKEND,
            init_method=f"tcp://{rdv['master_addr']}:{rdv['master_port']}",
            rank=rdv["rank"],
            world_size=rdv["world_size"],
            local_rank=rdv["local_rank"],
            timeout_s=cfg.DISTRIBUTED.TIMEOUT_S,
        )
        setup_logging(job_dir)
        logger.info(
            "Job %s (attempt %d, %d requeue(s) left): rank %d of %d, output in %s",
            env.job_id,
            self.requeues + 1,
            self.max_requeues - self.requeues,
            rdv["rank"],
            rdv["world_size"],
            job_dir,
        )
        run_fn = self.run_fn
        if run_fn is None:
            from .job import run_job as run_fn
        try:
            return run_fn(cfg)
        finally:
            cleanup()

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission | None:
        """Called by submitit on rank 0 when the job is pre-empted or times out."""
        save_fn = self.save_fn
        if save_fn is None:
            from .engine.preemption import save_now as save_fn
        path = save_fn()
        logger.warning("Pre-emption/time limit: checkpoint %s", path or "(none: no trainer)")
        if self.requeues >= self.max_requeues:
            logger.error(
                "Not requeuing: the job was already requeued %d time(s), LAUNCH.MAX_REQUEUES=%d. "
                "Resubmit with --job-dir pointing at this job's directory to continue.",
                self.requeues,
                self.max_requeues,
            )
            return None
        self.requeues += 1
        logger.warning("Requeuing (%d of at most %d).", self.requeues, self.max_requeues)
        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def job_folder(cfg: CfgNode, job_dir: str | None = None) -> str:
    """Absolute job directory: `job_dir`, else `<OUTPUT_DIR>/%j` (named by the job id)."""
    return os.path.abspath(job_dir or os.path.join(cfg.OUTPUT_DIR, JOB_ID_PATTERN))


def submit(
    cfg: CfgNode,
    res: Resources,
    *,
    job_dir: str | None = None,
    local: bool = False,
    run_fn: Callable[[CfgNode], Any] | None = None,
    save_fn: Callable[[], str | None] | None = None,
) -> submitit.Job:
    """Submit `cfg` as one job (Slurm, or the local executor); returns the submitit job.

    The world size (`res.nodes * res.tasks_per_node`) must match the config's
    NUM_SHARDS x NUM_GPUS, which the config's validation checked batch sizes against.
    """
    if (cfg.NUM_SHARDS, cfg.NUM_GPUS) != (res.nodes, res.tasks_per_node):
        raise ValueError(
            f"The config says NUM_SHARDS={cfg.NUM_SHARDS} x NUM_GPUS={cfg.NUM_GPUS} but the job "
            f"asks for {res.nodes} node(s) x {res.tasks_per_node} task(s); make them agree."
        )
    max_requeues = cfg.LAUNCH.MAX_REQUEUES
    executor = make_executor(job_folder(cfg, job_dir), res, max_requeues=max_requeues, local=local)
    job = executor.submit(TrainJob(cfg, max_requeues=max_requeues, run_fn=run_fn, save_fn=save_fn))
    logger.info("Submitted job %s; logs in %s", job.job_id, job.paths.folder)
    return job
