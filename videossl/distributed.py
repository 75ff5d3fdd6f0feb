"""Process-group set-up (torchrun, PySlowFast-style spawn, Slurm) and rank helpers."""

from __future__ import annotations

import datetime
import logging
import os
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

logger = logging.getLogger(__name__)


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_initialized() else 1


def get_local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0))


def is_main_process() -> bool:
    return get_rank() == 0


def barrier() -> None:
    if is_initialized() and get_world_size() > 1:
        dist.barrier()


def all_gather_object(obj: Any) -> list[Any]:
    """Gather a picklable object from every rank; `[obj]` when not distributed."""
    if not is_initialized() or get_world_size() == 1:
        return [obj]
    out: list[Any] = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean of a tensor over ranks (returned as a new tensor)."""
    if not is_initialized() or get_world_size() == 1:
        return value
    value = value.clone()
    dist.all_reduce(value)
    return value / get_world_size()


def _slurm_env() -> dict[str, int]:
    """Rank information from Slurm's variables when launched by srun without torchrun."""
    if "SLURM_PROCID" not in os.environ or "RANK" in os.environ:
        return {}
    return {
        "rank": int(os.environ["SLURM_PROCID"]),
        "world_size": int(os.environ["SLURM_NTASKS"]),
        "local_rank": int(os.environ.get("SLURM_LOCALID", 0)),
    }


def init_distributed(
    *,
    backend: str = "auto",
    init_method: str | None = None,
    rank: int | None = None,
    world_size: int | None = None,
    local_rank: int | None = None,
    timeout_s: int = 600,
) -> None:
    """Initialise the default process group; a no-op for a world of one.

    Arguments left as None come from the environment: torchrun's RANK/WORLD_SIZE/LOCAL_RANK with
    MASTER_ADDR/MASTER_PORT, or Slurm's SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID. A collective
    that waits longer than `timeout_s` fails with an error instead of hanging.
    """
    slurm = _slurm_env()
    if rank is None:
        rank = slurm.get("rank", int(os.environ.get("RANK", 0)))
    if world_size is None:
        world_size = slurm.get("world_size", int(os.environ.get("WORLD_SIZE", 1)))
    if local_rank is None:
        local_rank = slurm.get("local_rank", int(os.environ.get("LOCAL_RANK", 0)))
    os.environ["LOCAL_RANK"] = str(local_rank)
    if world_size <= 1 or is_initialized():
        return
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    if init_method is None:
        init_method = "env://"
    if init_method == "env://":
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29500")
    logger.info(
        "Joining process group: rank %d of %d (local %d), %s via %s; collectives time out "
        "after %d s (DISTRIBUTED.TIMEOUT_S)",
        rank,
        world_size,
        local_rank,
        backend,
        init_method,
        timeout_s,
    )
    dist.init_process_group(
        backend=backend,
        init_method=init_method,
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=timeout_s),
    )


def cleanup() -> None:
    if is_initialized():
        dist.destroy_process_group()


def _spawned(
    local_rank: int,
    fn: Callable[..., Any],
    procs_per_node: int,
    shard_id: int,
    num_shards: int,
    init_method: str,
    backend: str,
    timeout_s: int,
    args: tuple,
) -> None:
    init_distributed(
        backend=backend,
        init_method=init_method,
        rank=shard_id * procs_per_node + local_rank,
        world_size=num_shards * procs_per_node,
        local_rank=local_rank,
        timeout_s=timeout_s,
    )
    try:
        fn(*args)
    finally:
        cleanup()


def launch(
    fn: Callable[..., Any],
    args: tuple,
    *,
    procs_per_node: int,
    num_shards: int = 1,
    shard_id: int = 0,
    init_method: str = "tcp://localhost:9999",
    backend: str = "auto",
    timeout_s: int = 600,
) -> None:
    """Run `fn(*args)` on every process of this node (PySlowFast's --num-shards/--shard-id).

    One process per GPU (or `procs_per_node` CPU processes with gloo); when the whole job is a
    single process, `fn` runs here without a process group.
    """
    if procs_per_node * num_shards == 1:
        fn(*args)
        return
    mp.start_processes(
        _spawned,
        args=(fn, procs_per_node, shard_id, num_shards, init_method, backend, timeout_s, args),
        nprocs=procs_per_node,
        join=True,
        start_method="spawn",
    )
