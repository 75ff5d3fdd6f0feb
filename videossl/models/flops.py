"""Parameter and FLOP counting (fvcore; 1 FLOP = 1 multiply-add) and a model report table.

`scaled_dot_product_attention` is counted as its two matmuls (q·kᵀ and attn·v), which is what
fvcore reports for an explicit-matmul attention, so numbers match the published tables.
Counting traces the model on the meta device by default: no weights or activations are
allocated, so ViT-H at 16x224² costs seconds and no memory.
"""

from __future__ import annotations

import copy
import logging
import math
from collections import Counter
from typing import Any, Sequence

import torch
from fvcore.nn import FlopCountAnalysis, flop_count_table
from fvcore.nn.jit_handles import get_shape
from torch import nn

logger = logging.getLogger(__name__)


def sdpa_flop_jit(inputs: list[Any], outputs: list[Any]) -> Counter:
    """fvcore handle for aten::scaled_dot_product_attention: B·H·L·S·(d_qk + d_v)."""
    q, k, v = (get_shape(i) for i in inputs[:3])
    batch = math.prod(q[:-2])
    return Counter({"scaled_dot_product_attention": batch * q[-2] * k[-2] * (q[-1] + v[-1])})


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (works for models on the meta device)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def flop_analysis(
    model: nn.Module, inputs: tuple[Any, ...], *, device: str = "meta"
) -> FlopCountAnalysis:
    """fvcore FlopCountAnalysis of model(*inputs) on `device` (the model is copied there)."""
    if device == "meta":
        model = copy.deepcopy(model).to("meta") if _has_real(model) else model
    inputs = tuple(i.to(device) if torch.is_tensor(i) else i for i in inputs)
    analysis = FlopCountAnalysis(model.eval(), inputs)
    analysis.set_op_handle("aten::scaled_dot_product_attention", sdpa_flop_jit)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analysis


def _has_real(model: nn.Module) -> bool:
    return any(not p.is_meta for p in model.parameters())


def count_gflops(
    model: nn.Module,
    input_shape: Sequence[int] = (1, 3, 16, 224, 224),
    *,
    device: str = "meta",
    **forward_kwargs: Any,
) -> float:
    """GFLOPs (1e9 multiply-adds, fvcore) of one forward of a [B,3,T,H,W] input, divided by B."""
    x = torch.zeros(*input_shape)
    if forward_kwargs:
        model = _KwargsWrapper(model, forward_kwargs)
    with torch.no_grad():
        total = flop_analysis(model, (x,), device=device).total()
    return total / 1e9 / input_shape[0]


class _KwargsWrapper(nn.Module):
    def __init__(self, model: nn.Module, kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.model, self.kwargs = model, kwargs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, **self.kwargs)


def model_report(
    model: nn.Module,
    input_shape: Sequence[int] = (1, 3, 16, 224, 224),
    *,
    max_depth: int = 2,
    device: str = "meta",
) -> tuple[int, float, str]:
    """(params, GFLOPs per view, fvcore table by module) and logs a one-line summary."""
    x = torch.zeros(*input_shape)
    with torch.no_grad():
        analysis = flop_analysis(model, (x,), device=device)
        gflops = analysis.total() / 1e9 / input_shape[0]
        table = flop_count_table(analysis, max_depth=max_depth)
    params = count_params(model)
    logger.info(
        "model: %.2fM params, %.1f GFLOPs per %s view",
        params / 1e6,
        gflops,
        "x".join(str(s) for s in input_shape[2:]),
    )
    return params, gflops, table
