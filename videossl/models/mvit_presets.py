"""Published MViTv2 video configurations (PySlowFast `configs/Kinetics/MVITv2_*` and
`configs/masked_ssl/k400_MVITv2_*`), as keyword arguments of `videossl.models.mvit.MViT`.

Every preset uses the 3x7x7 stride-2x4x4 conv stem, 3x3x3 conv pooling of Q/K/V, Q stride 1x2x2
at each stage transition, adaptive KV stride starting at 1x8x8, decomposed relative positions
over (t, h, w), residual pooling, no absolute position embedding and a cls token. The input size
(frames, crop) is not part of a preset: the builder takes it from the data config, so the same
preset serves 16x4 and 32x3 (or 40x3 at 312) clips.

Sizes with a 400-way linear classification head (docs/reference.md §1):
S 34.5M / 64.5 GFLOPs at 16x224; S_MASKFEAT 36.5M / 71.4 GFLOPs at 16x224 (fine-tuning
layout); B 51.2M / 225.2 GFLOPs at 32x224; L_MASKFEAT 217.6M / 377.8 GFLOPs at 16x224.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MVIT_PRESETS", "mvit_preset"]

_COMMON: dict[str, Any] = dict(
    mlp_ratio=4.0,
    qkv_bias=True,
    cls_token=True,
    abs_pos_embed=False,
    rel_pos=True,
    residual_pooling=True,
)

MVIT_PRESETS: dict[str, dict[str, Any]] = {
    # Supervised variants (MViTv2 paper): the width doubles inside the first block's attention.
    "T": dict(embed_dim=96, num_heads=1, depths=(1, 2, 5, 2), dim_mul_in_att=True, **_COMMON),
    "S": dict(embed_dim=96, num_heads=1, depths=(1, 2, 11, 2), dim_mul_in_att=True, **_COMMON),
    "B": dict(embed_dim=96, num_heads=1, depths=(2, 3, 16, 3), dim_mul_in_att=True, **_COMMON),
    "L": dict(embed_dim=144, num_heads=2, depths=(2, 6, 36, 4), dim_mul_in_att=True, **_COMMON),
    # MaskFeat variants: the width doubles in the MLP of a stage's last block.
    "S_MASKFEAT": dict(
        embed_dim=96, num_heads=1, depths=(1, 2, 11, 2), dim_mul_in_att=False, **_COMMON
    ),
    "L_MASKFEAT": dict(
        embed_dim=144, num_heads=2, depths=(2, 6, 36, 4), dim_mul_in_att=False, **_COMMON
    ),
}


def mvit_preset(name: str) -> dict[str, Any]:
    """A copy of the keyword arguments of preset `name` (see `MVIT_PRESETS`)."""
    key = name.upper()
    if key not in MVIT_PRESETS:
        raise KeyError(
            f"unknown MViTv2 preset {name!r} (MVIT.PRESET); choose one of "
            f"{sorted(MVIT_PRESETS)} or 'custom' to use the MVIT.* fields"
        )
    return dict(MVIT_PRESETS[key])
