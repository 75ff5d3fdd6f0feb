"""Cross-field rules that must hold before any work starts."""

from __future__ import annotations

from fvcore.common.config import CfgNode

from .load import ConfigError


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def encoder_patch(cfg: CfgNode) -> tuple[int, int]:
    """(temporal, spatial) stride that the input must be divisible by.

    ViT: the tubelet. MViTv2: its conv stem (stride 2x4x4; later poolings round up).
    """
    if cfg.MODEL.ARCH == "mvit":
        return 2, 4
    return cfg.VIT.TUBELET_SIZE, cfg.VIT.PATCH_SIZE


def validate(cfg: CfgNode) -> None:
    """Raise ConfigError naming the keys of the first broken rule."""
    pt, ps = encoder_patch(cfg)
    for key in ("TRAIN_CROP_SIZE", "TEST_CROP_SIZE"):
        size = cfg.DATA[key]
        _check(
            size > 0 and size % ps == 0,
            f"DATA.{key}={size} must be a positive multiple of the patch size {ps}.",
        )
    _check(
        cfg.DATA.NUM_FRAMES % pt == 0,
        f"DATA.NUM_FRAMES={cfg.DATA.NUM_FRAMES} must be divisible by the temporal patch {pt}.",
    )
    if cfg.MODEL.OBJECTIVE in ("maskfeat", "mae"):
        unit = cfg.MASK.UNIT
        crop = cfg.DATA.TRAIN_CROP_SIZE
        _check(
            cfg.DATA.NUM_FRAMES % unit[0] == 0 and crop % unit[1] == 0 and crop % unit[2] == 0,
            f"MASK.UNIT={list(unit)} must divide DATA.NUM_FRAMES={cfg.DATA.NUM_FRAMES} and "
            f"DATA.TRAIN_CROP_SIZE={crop}.",
        )
    _check(0.0 < cfg.MASK.RATIO < 1.0, f"MASK.RATIO={cfg.MASK.RATIO} must be in (0, 1).")
    _check(
        len(cfg.TARGET.NAMES) == len(cfg.TARGET.WEIGHTS),
        "TARGET.NAMES and TARGET.WEIGHTS must have the same length.",
    )
    world = max(cfg.NUM_GPUS, 1) * cfg.NUM_SHARDS
    for key in ("TRAIN", "TEST"):
        batch = cfg[key].BATCH_SIZE
        _check(
            batch > 0 and batch % world == 0,
            f"{key}.BATCH_SIZE={batch} must be a positive multiple of the world size {world} "
            "(NUM_GPUS x NUM_SHARDS): it is the global batch, split evenly across processes.",
        )
    _check(
        0 <= cfg.SHARD_ID < cfg.NUM_SHARDS,
        f"SHARD_ID={cfg.SHARD_ID} must be in [0, NUM_SHARDS={cfg.NUM_SHARDS}).",
    )
    _check(world >= 1, "NUM_GPUS x NUM_SHARDS must be at least 1.")
    _check(cfg.SOLVER.ACCUM_STEPS >= 1, "SOLVER.ACCUM_STEPS must be >= 1.")
    _check(cfg.TRAIN.AMP in ("", "bf16", "fp16"), "TRAIN.AMP must be '', 'bf16' or 'fp16'.")
    _check(
        cfg.TEST.ENSEMBLE_METHOD in ("sum", "max"),
        "TEST.ENSEMBLE_METHOD must be 'sum' or 'max'.",
    )
    _check(
        not (cfg.DATA.NORMALIZE_ON_DEVICE and cfg.DATA.RANDOM_ERASING > 0),
        "DATA.NORMALIZE_ON_DEVICE needs float clips in the loader: set DATA.RANDOM_ERASING 0.",
    )
    _check(cfg.TEST.NUM_SPATIAL_CROPS in (1, 3), "TEST.NUM_SPATIAL_CROPS must be 1 or 3.")
