"""The evaluation loop: `model.predict(batch)` for every batch, fed to an evaluator."""

from __future__ import annotations

import logging
import time
from typing import Any

import torch

from ..distributed import is_main_process
from .trainer import autocast, to_device

logger = logging.getLogger(__name__)


@torch.no_grad()
def run_evaluation(
    model: torch.nn.Module,
    loader: torch.utils.data.DataLoader,
    evaluator: Any,
    *,
    device: torch.device,
    amp: str = "",
    log_period: int = 20,
) -> dict[str, float]:
    """Run every batch through `model.predict` and return `evaluator.summarize()`."""
    model.eval()
    evaluator.reset()
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(0, 0)
    start = time.perf_counter()
    total = len(loader)
    for i, batch in enumerate(loader):
        batch = to_device(batch, device)
        with autocast(device, amp):
            outputs = model.predict(batch)
        evaluator.process(batch, outputs)
        if log_period and (i + 1) % log_period == 0:
            logger.info("eval batch %d/%d (%.1f s)", i + 1, total, time.perf_counter() - start)
    result = evaluator.summarize()
    failures = getattr(getattr(loader, "dataset", None), "failure_summary", None)
    if failures is not None and is_main_process():
        failures()  # one log line naming how many test videos failed to decode
    return result
