"""Optimiser and per-iteration schedule, built from keyword arguments (timm underneath)."""

from __future__ import annotations

import logging

import torch
from timm.optim import create_optimizer_v2
from timm.scheduler import CosineLRScheduler

logger = logging.getLogger(__name__)


def scaled_lr(base_lr: float, global_batch: int, reference_batch: int) -> float:
    """Linear scaling rule: `base_lr` is the rate for `reference_batch` clips per step."""
    return base_lr * global_batch / reference_batch


def build_optimizer(
    model: torch.nn.Module,
    *,
    lr: float,
    weight_decay: float,
    name: str = "adamw",
    betas: tuple[float, float] = (0.9, 0.999),
    momentum: float = 0.9,
    layer_decay: float | None = None,
    fused: bool = True,
) -> torch.optim.Optimizer:
    """AdamW (or timm optimizer `name`); no weight decay on norms, biases, embeddings, tokens.

    The model's `no_weight_decay()` names the tokens/embeddings; 1-D parameters (norms,
    biases) are excluded automatically. `layer_decay` < 1 scales each layer's rate by
    `layer_decay ** (num_layers - layer)` using the model's `group_matcher`.
    """
    kwargs: dict = {}
    name = name.lower()
    if name in ("adamw", "adam", "lamb", "adamp", "nadamw"):
        kwargs["betas"] = tuple(betas)
    else:
        kwargs["momentum"] = momentum
    device = next(iter(model.parameters())).device.type
    if fused and name in ("adamw", "adam") and device in ("cuda", "cpu"):
        kwargs["fused"] = True
    return create_optimizer_v2(
        model,
        opt=name,
        lr=lr,
        weight_decay=weight_decay,
        layer_decay=layer_decay if layer_decay and layer_decay < 1.0 else None,
        **kwargs,
    )


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    *,
    total_steps: int,
    warmup_steps: int,
    min_lr: float,
    warmup_start_lr: float,
) -> CosineLRScheduler:
    """Linear warmup then cosine decay, stepped every optimiser step (`step_update`)."""
    return CosineLRScheduler(
        optimizer,
        t_initial=max(total_steps - warmup_steps, 1),
        lr_min=min_lr,
        warmup_t=warmup_steps,
        warmup_lr_init=warmup_start_lr,
        warmup_prefix=True,
        t_in_epochs=False,
    )
