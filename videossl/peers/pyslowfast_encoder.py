"""The encoder keys of a PySlowFast config (MVIT.*) -> videossl's MVIT.* or VIT.* keys.

PySlowFast's ViT is its MViT without stages (empty MVIT.DIM_MUL). Both functions write the
videossl keys into `out` and append to `bad` what videossl cannot reproduce.
"""

from __future__ import annotations

from .pyslowfast_table import Reader, as_list

__all__ = ["mvit", "vit"]


def _stage_starts(dim_mul: list) -> list[int]:
    return sorted(int(i) for i, _ in dim_mul)


def mvit(get: Reader, out: dict, bad: list, maskfeat: bool) -> None:
    """MViTv2: stages from MVIT.DIM_MUL, checked against the strides and stem videossl builds
    (maskfeat: MaskFeat pretraining keeps the last stage unpooled)."""
    depth = int(get("MVIT.DEPTH"))
    starts = _stage_starts(get("MVIT.DIM_MUL") or [])
    if [float(m) for _, m in get("MVIT.DIM_MUL")] != [2.0] * len(starts):
        bad.append("MVIT.DIM_MUL: only x2.0 at stage starts")
    if get("MVIT.HEAD_MUL") != get("MVIT.DIM_MUL"):
        bad.append("MVIT.HEAD_MUL: must equal MVIT.DIM_MUL")
    bounds = [0, *starts, depth]
    out["MVIT.DEPTHS"] = [b - a for a, b in zip(bounds[:-1], bounds[1:])]
    strides = {int(s[0]): [int(x) for x in s[1:]] for s in get("MVIT.POOL_Q_STRIDE") or []}
    for block in range(depth):
        want = [1, 2, 2] if block in starts else [1, 1, 1]
        if maskfeat and starts and block == starts[-1]:
            want = [1, 1, 1]  # MaskFeat keeps the last stage at stride 16
        if strides.get(block, [1, 1, 1]) != want:
            bad.append(f"MVIT.POOL_Q_STRIDE: block {block} has {strides.get(block)}, need {want}")
    for key, want in (
        ("MVIT.PATCH_KERNEL", [3, 7, 7]),
        ("MVIT.PATCH_STRIDE", [2, 4, 4]),
        ("MVIT.PATCH_PADDING", [1, 3, 3]),
    ):
        if as_list(get(key)) != want:
            bad.append(f"{key}: MViTv2's stem is {want}")
    if get("MVIT.REL_POS_SPATIAL") != get("MVIT.REL_POS_TEMPORAL"):
        bad.append("MVIT.REL_POS_SPATIAL / REL_POS_TEMPORAL: only both or neither")
    if float(get("MVIT.LAYER_SCALE_INIT_VALUE") or 0.0) != 0.0:
        bad.append("MVIT.LAYER_SCALE_INIT_VALUE: MViT has no layer scale")
    out.update(
        {
            "MODEL.ARCH": "mvit",
            "MVIT.PRESET": "custom",
            "MVIT.EMBED_DIM": int(get("MVIT.EMBED_DIM")),
            "MVIT.NUM_HEADS": int(get("MVIT.NUM_HEADS")),
            "MVIT.MLP_RATIO": float(get("MVIT.MLP_RATIO")),
            "MVIT.CLS_TOKEN": bool(get("MVIT.CLS_EMBED_ON")),
            "MVIT.ABS_POS_EMBED": bool(get("MVIT.USE_ABS_POS")),
            "MVIT.REL_POS": bool(get("MVIT.REL_POS_SPATIAL")),
            "MVIT.ZERO_DECAY_POS_CLS": bool(get("MVIT.ZERO_DECAY_POS_CLS")),
            "MVIT.RESIDUAL_POOLING": bool(get("MVIT.RESIDUAL_POOLING")),
            "MVIT.DIM_MUL_IN_ATT": bool(get("MVIT.DIM_MUL_IN_ATT")),
        }
    )


def vit(get: Reader, out: dict, bad: list) -> None:
    """ViT: patch embedding from MVIT.PATCH_KERNEL (stride = kernel, no padding)."""
    kernel = as_list(get("MVIT.PATCH_KERNEL"))
    if as_list(get("MVIT.PATCH_STRIDE")) != kernel or kernel[1] != kernel[2]:
        bad.append("MVIT.PATCH_STRIDE: a ViT patch embedding has stride = square kernel")
    if as_list(get("MVIT.PATCH_PADDING")) != [0, 0, 0]:
        bad.append("MVIT.PATCH_PADDING: a ViT patch embedding has no padding")
    if get("MVIT.REL_POS_SPATIAL") or get("MVIT.REL_POS_TEMPORAL"):
        bad.append("MVIT.REL_POS_*: ViT uses absolute position embeddings")
    if not get("MVIT.USE_ABS_POS"):
        bad.append("MVIT.USE_ABS_POS: ViT needs absolute position embeddings")
    out.update(
        {
            "MODEL.ARCH": "vit",
            "VIT.PRESET": "custom",
            "VIT.EMBED_DIM": int(get("MVIT.EMBED_DIM")),
            "VIT.DEPTH": int(get("MVIT.DEPTH")),
            "VIT.NUM_HEADS": int(get("MVIT.NUM_HEADS")),
            "VIT.MLP_RATIO": float(get("MVIT.MLP_RATIO")),
            "VIT.PATCH_SIZE": int(kernel[1]),
            "VIT.TUBELET_SIZE": int(kernel[0]),
            "VIT.QKV_BIAS": "fused",
            "VIT.POS_EMBED": "separable" if get("MVIT.SEP_POS_EMBED") else "learned",
            "VIT.CLS_TOKEN": bool(get("MVIT.CLS_EMBED_ON")),
            "VIT.LAYER_SCALE_INIT": float(get("MVIT.LAYER_SCALE_INIT_VALUE") or 0.0),
        }
    )
