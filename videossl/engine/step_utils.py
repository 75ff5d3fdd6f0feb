"""Trainer helpers without state: run options, step counts, device moves, AMP, log values."""

from __future__ import annotations

import contextlib
import copy
import math
import sys
from dataclasses import dataclass
from typing import Any

import torch

from ..distributed import is_main_process


@dataclass
class TrainOptions:
    """Everything about a run that is not an object."""

    output_dir: str
    max_epoch: int
    accum_steps: int = 1
    clip_grad: float = 0.0
    amp: str = ""  # "", "bf16" or "fp16"
    ema_decay: float = 0.0
    checkpoint_period: int = 1
    checkpoint_iter_period: int = 0
    checkpoint_keep: int = 3
    log_period: int = 10
    seed: int = 0
    max_iters_per_epoch: int = 0
    eval_period: int = 0
    config_yaml: str = ""


def steps_per_epoch(loader: Any, accum_steps: int, max_iters_per_epoch: int = 0) -> int:
    """Optimiser steps in one epoch of `loader` (what the scheduler's length is built from)."""
    micro = len(loader) if hasattr(loader, "__len__") else 0
    steps = max(micro // accum_steps, 1)
    return min(steps, max_iters_per_epoch) if max_iters_per_epoch > 0 else steps


def to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def autocast(device: torch.device, amp: str):
    if not amp:
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def base_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the base group (layer-decay scale 1.0, the largest scale), not of
    whichever group comes first (with layer decay, the most-decayed one)."""
    return max(optimizer.param_groups, key=lambda g: g.get("lr_scale", 1.0))["lr"]


def peak_memory_mb(device: torch.device) -> float:
    """Peak accelerator memory (CUDA) or peak resident memory of this process (CPU), in MB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _batch_len(batch: Any) -> int:
    video = batch.get("video") if isinstance(batch, dict) else None
    return int(video.shape[0]) if isinstance(video, torch.Tensor) else 1


def _fmt(values: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.4g}" for k, v in values.items() if math.isfinite(v))


def numeric(results: dict[str, Any] | None) -> dict[str, float]:
    """The int/float entries of an evaluator's results, as floats (bools and text left out)."""
    return {
        k: float(v)
        for k, v in (results or {}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def snapshot(model, optimizer, scaler, ema_module, global_step: int) -> dict[str, Any]:
    """A CPU copy of the weights, optimiser, scaler and EMA weights (None without EMA)."""

    def cpu(module) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}

    return {
        "model": cpu(model),
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "scaler": scaler.state_dict(),
        "ema": cpu(ema_module) if ema_module is not None else None,
        "global_step": global_step,
    }


def progress_bar(total: int, initial: int, desc: str):
    """A tqdm bar on an interactive terminal of rank 0, else None (plain log lines carry the
    ETA)."""
    if not (is_main_process() and sys.stdout.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True, leave=False)
