"""The PySlowFast keys of kind "convert": videossl values that depend on several keys.

`derive` writes them into `out` and appends to `bad` what videossl cannot reproduce. The
per-node batch and learning-rate conversion is explained in the docstring of
`videossl.peers.pyslowfast_config`.
"""

from __future__ import annotations

from typing import Any

from .pyslowfast_encoder import mvit, vit
from .pyslowfast_table import Reader

__all__ = ["derive"]


def derive(get: Reader, flat: dict[str, Any], out: dict, bad: list) -> None:
    """All multi-key conversions, in order (later ones may overwrite earlier ones' keys)."""
    shards = int(get("NUM_SHARDS"))
    arch = str(get("MODEL.ARCH")).lower()
    if arch not in ("mvit", "maskmvit"):
        bad.append(f"MODEL.ARCH: {arch!r} (only mvit / maskmvit have an equivalent)")
        return
    name = get("MODEL.MODEL_NAME")
    if name not in (None, "MViT", "MaskMViT"):
        bad.append(f"MODEL.MODEL_NAME: {name!r} (only MViT / MaskMViT)")
    masked = bool(get("MASK.ENABLE"))
    mae = masked and bool(get("MASK.MAE_ON"))
    detection = bool(get("DETECTION.ENABLE"))
    _objective(get, flat, out, bad, masked=masked, mae=mae, detection=detection)
    if not get("MVIT.DIM_MUL"):  # PySlowFast's ViT: MViT without stages
        vit(get, out, bad)
    else:
        mvit(get, out, bad, maskfeat=masked and not mae)
    if not masked and not detection:
        mean_pool = bool(get("MVIT.USE_MEAN_POOLING"))
        out["MODEL.POOL"] = "mean" if mean_pool else "cls"
        out["MODEL.FC_NORM"] = mean_pool
    if masked:
        _mask_unit(get, out, mae=mae)
    repeated = _augmentation(get, flat, out, bad, masked=masked)
    _channels(get, out)
    _batch_and_lr(get, out, shards=shards, repeated=repeated)
    _schedule_and_test(flat, out)


def _objective(
    get: Reader, flat: dict, out: dict, bad: list, *, masked: bool, mae: bool, detection: bool
) -> None:
    """MODEL.OBJECTIVE, its targets and loss, and the masking type."""
    if masked and not mae:
        if not get("MASK.PRED_HOG"):
            bad.append("MASK.PRED_HOG: MaskFeat here predicts HOG (set True)")
        out.update({"MODEL.OBJECTIVE": "maskfeat", "TARGET.NAMES": ["hog"]})
        out["TARGET.WEIGHTS"] = [1.0]
    elif mae:
        out.update(
            {
                "MODEL.OBJECTIVE": "mae",
                "TARGET.NAMES": ["pixel"],
                "TARGET.WEIGHTS": [1.0],
                "TARGET.PIXEL_NORM": "maest",
                "MASK.TYPE": "random" if get("MASK.MAE_RND_MASK") else "tube",
                "MODEL.DECODER_HEADS": max(1, int(get("MASK.DECODER_EMBED_DIM")) // 64),
            }
        )
    elif detection:
        out["MODEL.OBJECTIVE"] = "ava"
        out["AVA.NUM_CLASSES"] = int(get("MODEL.NUM_CLASSES"))
        out.pop("MODEL.NUM_CLASSES", None)
    else:
        out["MODEL.OBJECTIVE"] = "classification"
        loss = str(flat.get("MODEL.LOSS_FUNC", "cross_entropy"))
        if loss not in ("cross_entropy", "soft_cross_entropy"):
            bad.append(f"MODEL.LOSS_FUNC: {loss!r} for classification")
        out["MODEL.LOSS"] = loss
    if masked and "MASK.PRETRAIN_DEPTH" in flat:
        if [int(d) for d in flat["MASK.PRETRAIN_DEPTH"]] != [int(get("MVIT.DEPTH")) - 1]:
            bad.append("MASK.PRETRAIN_DEPTH: only the last block's output is predicted from")
    if masked and not mae:
        out["MASK.TYPE"] = "tube" if get("AUG.MASK_TUBE") else "cube"


def _mask_unit(get: Reader, out: dict, *, mae: bool) -> None:
    """MaskFeat's mask unit = clip size / PySlowFast's mask window (MAE: the window is read
    and checked, and the patch is the unit)."""
    window = [int(x) for x in get("AUG.MASK_WINDOW_SIZE")]
    frames, crop = int(get("DATA.NUM_FRAMES")), int(get("DATA.TRAIN_CROP_SIZE"))
    if not mae:
        out["MASK.UNIT"] = [frames // window[0], crop // window[1], crop // window[2]]


def _augmentation(get: Reader, flat: dict, out: dict, bad: list, *, masked: bool) -> int:
    """Repeated samples, RandAugment, random erasing, crops and mixup; returns the clips drawn
    per video."""
    aug = bool(get("AUG.ENABLE"))
    repeated = int(get("AUG.NUM_SAMPLE")) if aug else 1
    temporal = int(flat.get("DATA.TRAIN_CROP_NUM_TEMPORAL", 1))
    if repeated > 1 and temporal > 1:
        bad.append("AUG.NUM_SAMPLE with DATA.TRAIN_CROP_NUM_TEMPORAL: only one of them")
    repeated = max(repeated, temporal)
    out["DATA.NUM_REPEATED_SAMPLES"] = repeated
    out["DATA.RAND_AUGMENT"] = (get("AUG.AA_TYPE") or "") if aug and not masked else ""
    out["DATA.RANDOM_ERASING"] = float(get("AUG.RE_PROB") or 0.0) if aug and not masked else 0.0
    relative = get("DATA.TRAIN_JITTER_SCALES_RELATIVE") or []
    out["DATA.USE_RANDOM_RESIZED_CROP"] = bool(relative)
    if relative:
        out["DATA.TRAIN_JITTER_SCALES_RELATIVE"] = [float(x) for x in relative]
    mixup = bool(get("MIXUP.ENABLE"))
    out["TRAIN.MIXUP"] = float(get("MIXUP.ALPHA")) if mixup else 0.0
    out["TRAIN.CUTMIX"] = float(get("MIXUP.CUTMIX_ALPHA")) if mixup else 0.0
    if mixup:
        out["MODEL.LABEL_SMOOTHING"] = float(get("MIXUP.LABEL_SMOOTH_VALUE"))
        out["MODEL.LOSS"] = "soft_cross_entropy"
    return repeated


def _channels(get: Reader, out: dict) -> None:
    """Channel order: PySlowFast normalises RGB, then reverses; videossl reverses first."""
    mean, std = list(get("DATA.MEAN")), list(get("DATA.STD"))
    if get("DATA.REVERSE_INPUT_CHANNEL"):
        mean, std = mean[::-1], std[::-1]
    out["DATA.MEAN"], out["DATA.STD"] = [float(x) for x in mean], [float(x) for x in std]


def _batch_and_lr(get: Reader, out: dict, *, shards: int, repeated: int) -> None:
    """Per-node batches -> global ones; the rate's reference batch, so that the effective rate
    is PySlowFast's at any node count (see pyslowfast_config's docstring)."""
    batch = int(get("TRAIN.BATCH_SIZE"))
    scale = bool(get("SOLVER.BASE_LR_SCALE_NUM_SHARDS"))
    out["TRAIN.BATCH_SIZE"] = batch * shards
    out["TEST.BATCH_SIZE"] = int(get("TEST.BATCH_SIZE")) * shards
    out["SOLVER.BASE_LR"] = float(get("SOLVER.BASE_LR"))
    out["SOLVER.REFERENCE_BATCH"] = batch * repeated * (1 if scale else shards)
    out["SOLVER.SCALE_MIN_LR"] = scale
    out["SOLVER.MIN_LR"] = float(get("SOLVER.COSINE_END_LR"))
    out["SOLVER.WARMUP_START_LR"] = float(get("SOLVER.WARMUP_START_LR"))


def _schedule_and_test(flat: dict, out: dict) -> None:
    """Evaluation period, loss guard and test views."""
    # Evaluation period: PySlowFast writes a huge period to mean "never".
    if "TRAIN.EVAL_PERIOD" in flat:
        period = int(flat["TRAIN.EVAL_PERIOD"])
        max_epoch = int(flat.get("SOLVER.MAX_EPOCH", 300))
        out["TRAIN.EVAL_PERIOD"] = 0 if period > max_epoch else period
    if "TRAIN.KILL_LOSS_EXPLOSION_FACTOR" in flat:
        factor = float(flat["TRAIN.KILL_LOSS_EXPLOSION_FACTOR"] or 0.0)
        if factor > 0:
            out["TRAIN.LOSS_GUARD_FACTOR"] = factor
    clips = flat.get("TEST.NUM_TEMPORAL_CLIPS")
    if clips:
        clips = [int(c) for c in clips]
        out["TEST.NUM_ENSEMBLE_VIEWS"] = max(clips)
        out["TEST.VIEW_SWEEP"] = [c for c in clips if c != max(clips)]
