"""Losses on masked tokens, and weighting of several targets."""

from __future__ import annotations

from typing import Mapping

import torch

__all__ = ["combine_losses", "masked_mse"]


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the masked tokens and all D values (computed in float32).

    target [B,N,D]; mask [B,N] bool (True = masked, the tokens that count).
    pred is either [B,N,D] (predictions for every token; unmasked ones are ignored) or only the
    masked tokens in token order: [B,Nm,D] (same count per sample) or [M,D] with M = mask.sum().
    With no masked token the loss is 0 (still connected to pred's graph).
    """
    if mask.shape != target.shape[:2]:
        raise ValueError(
            f"masked_mse: mask {tuple(mask.shape)} does not match target {tuple(target.shape)}."
        )
    mask = mask.bool()
    tgt = target[mask].float()  # [M, D]
    if pred.shape == target.shape:
        prd = pred[mask]
    else:
        prd = pred.reshape(-1, pred.shape[-1])
        if prd.shape != tgt.shape:
            raise ValueError(
                f"masked_mse: pred {tuple(pred.shape)} is neither [B,N,D] = "
                f"{tuple(target.shape)} nor the {tgt.shape[0]} masked tokens."
            )
    if tgt.numel() == 0:
        return pred.float().sum() * 0.0
    return torch.mean((prd.float() - tgt) ** 2)


def combine_losses(losses: Mapping[str, tuple[torch.Tensor, float]]) -> dict[str, torch.Tensor]:
    """{name: (loss, weight)} -> {"loss_<name>": weight * loss}."""
    return {f"loss_{name}": loss * float(weight) for name, (loss, weight) in losses.items()}
