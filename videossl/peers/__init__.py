"""Converters from other codebases' checkpoint layouts to videossl's layout.

Every converter returns a flat state dict in "our layout": encoder weights under `encoder.`,
the classification head under `head.` (`head.fc_norm.*`, `head.fc.*`) and the MAE decoder under
`decoder.` — the layout of videossl's objectives (`encoder`, `head`, `decoder` attributes).
`videossl.pretrained.load_pretrained` fits such a dict to a model.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported lazily: videossl.config reads peers' configs torch-free
    from torch import Tensor


def fuse_separate_qkv(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """`*.attn.{q,k,v}.{weight,bias}` -> `*.attn.qkv.{weight,bias}` (concatenated q, k, v)."""
    import torch

    out = dict(state)
    for key in [k for k in state if re.search(r"\.attn\.q\.(weight|bias)$", k)]:
        stem, kind = key.rsplit(".q.", 1)
        names = [f"{stem}.{n}.{kind}" for n in ("q", "k", "v")]
        if not all(n in out for n in names):
            raise ValueError(f"{key}: separate q/k/v layout without all of {names}")
        out[f"{stem}.qkv.{kind}"] = torch.cat([out.pop(n) for n in names], dim=0)
    return out


def rename_prefix(state: dict[str, Tensor], old: str, new: str) -> dict[str, Tensor]:
    """Keys starting with `old` get `new` instead; others are kept."""
    return {(new + k[len(old) :] if k.startswith(old) else k): v for k, v in state.items()}
