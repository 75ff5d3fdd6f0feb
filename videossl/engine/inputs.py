"""Interim input normalisation for objectives that do not normalise their clips yet.

The data contract (docs/architecture.md, "Data pipeline and engine contracts"): loaders ship
uint8 clips ``[B,3,T,H,W]`` and the objective normalises them on the device with its own
mean/std buffers (``videossl/models/normalize.py``). Until every objective holds that module,
``ensure_normalised_inputs`` gives an objective without it the same behaviour from the outside:
uint8 ``video`` entries of its batches are normalised before its ``forward``/``predict`` run.
An objective that owns a normalisation module is left alone, so clips are never normalised
twice; once all objectives own one this module can go.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

NORMALIZE_MODULE = "videossl.models.normalize"


def normalize_clips(video: torch.Tensor, mean: Sequence[float], std: Sequence[float]):
    """uint8 (or float in 0..255) [B,3,T,H,W] -> float32 (x/255 - mean) / std per channel."""
    shape = (1, 3, 1, 1, 1)
    scale = torch.tensor([1.0 / (255.0 * s) for s in std], device=video.device).view(shape)
    shift = torch.tensor([m / s for m, s in zip(mean, std)], device=video.device).view(shape)
    return video.to(torch.float32).mul_(scale).sub_(shift)


def owns_normalisation(model: nn.Module) -> bool:
    """Whether a submodule of ``model`` comes from the objectives' normalisation module."""
    return any(type(m).__module__ == NORMALIZE_MODULE for m in model.modules())


class _Normalising:
    """``model.<method>`` with uint8 clips normalised first (an instance attribute that refers
    to its module, so ``copy.deepcopy(model)``, e.g. for EMA, wraps the copy)."""

    def __init__(self, model: nn.Module, method: str, mean: tuple, std: tuple) -> None:
        self.model, self.method, self.mean, self.std = model, method, mean, std

    def __call__(self, batch: Any, *args, **kwargs):
        video = batch.get("video") if isinstance(batch, dict) else None
        if isinstance(video, torch.Tensor) and video.dtype == torch.uint8:
            batch = {**batch, "video": normalize_clips(video, self.mean, self.std)}
        return getattr(type(self.model), self.method)(self.model, batch, *args, **kwargs)


def ensure_normalised_inputs(model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> bool:
    """Normalise uint8 clips before ``model.forward``/``model.predict`` unless the model owns
    its normalisation. Returns True when it wrapped the model (its state dict is unchanged)."""
    if owns_normalisation(model):
        return False
    mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    for method in ("forward", "predict"):
        if hasattr(type(model), method):
            model.__dict__[method] = _Normalising(model, method, mean, std)
    logger.info(
        "%s normalises no clips itself: uint8 clips are normalised before it runs",
        type(model).__name__,
    )
    return True
