"""Cross-field rules that must hold before any work starts."""

from __future__ import annotations

import os
import shutil

from fvcore.common.config import CfgNode

from .load import ConfigError
from .names import OBJECTIVE_ENCODERS, REGISTRY_KEYS, name_error


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def input_divisor(cfg: CfgNode) -> tuple[int, int]:
    """(temporal, spatial) stride the INPUT must be divisible by, for the torch-free pre-flight.

    ViT: the tubelet. MViTv2: its conv stem (stride 2x4x4; later poolings round up). This is
    not the token patch: the built encoder owns that (`encoder.patch_size`, `output_grid`), and
    every consumer reads it there. `tests/test_recipe_matrix.py` checks this divisor against the
    built encoder's input grid for every recipe.
    """
    if cfg.MODEL.ARCH == "mvit":
        return 2, 4
    return cfg.VIT.TUBELET_SIZE, cfg.VIT.PATCH_SIZE


def _get(cfg: CfgNode, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def check_names(cfg: CfgNode) -> None:
    """Every registry name in the config is known (with the nearest valid name if not)."""
    for key in REGISTRY_KEYS:
        value = _get(cfg, key)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            message = name_error(key, item)
            _check(message is None, message or "")
    if cfg.MODEL.OBJECTIVE in OBJECTIVE_ENCODERS:
        encoders, why = OBJECTIVE_ENCODERS[cfg.MODEL.OBJECTIVE]
        _check(
            cfg.MODEL.ARCH in encoders,
            f"MODEL.OBJECTIVE='{cfg.MODEL.OBJECTIVE}' does not run on "
            f"MODEL.ARCH='{cfg.MODEL.ARCH}': {why}.",
        )


# key -> (lowest allowed value, inclusive?)
RANGES = {
    "SOLVER.BASE_LR": (0.0, False),
    "SOLVER.MIN_LR": (0.0, True),
    "SOLVER.WARMUP_START_LR": (0.0, True),
    "SOLVER.WARMUP_EPOCHS": (0.0, True),
    "SOLVER.WEIGHT_DECAY": (0.0, True),
    "SOLVER.MOMENTUM": (0.0, True),
    "SOLVER.CLIP_GRAD": (0.0, True),
    "SOLVER.REFERENCE_BATCH": (1, True),
    "DATA.NUM_WORKERS": (0, True),
    "DATA.NUM_FRAMES": (1, True),
    "DATA.SAMPLING_RATE": (1, True),
    "DATA.NUM_RETRIES": (1, True),
    "DATA.MAX_BAD_FRACTION": (0.0, False),
    "DATA.NUM_REPEATED_SAMPLES": (1, True),
    "DATA.DECODER_THREADS": (0, True),
    "DATA.DECODE_SHORT_SIDE": (0, True),
    "DATA.MULTI_SCALE_MAX_DISTORT": (0, True),
    "DATA.COLOR_JITTER": (0.0, True),
    "MODEL.NUM_CLASSES": (1, True),
    "MODEL.DROP_PATH": (0.0, True),
    "MODEL.DROPOUT": (0.0, True),
    "TRAIN.CHECKPOINT_PERIOD": (1, True),
    "TRAIN.CHECKPOINT_ITER_PERIOD": (0, True),
    "TRAIN.EVAL_PERIOD": (0, True),
    "TRAIN.MAX_ITERS_PER_EPOCH": (0, True),
    "TRAIN.EMA": (0.0, True),
    "TRAIN.LOSS_GUARD_WINDOW": (1, True),
    "TRAIN.LOSS_GUARD_MAX_ROLLBACKS": (0, True),
    "TEST.NUM_ENSEMBLE_VIEWS": (1, True),
    "LOG.PERIOD": (1, True),
    "TRAIN.LOSS_GUARD_ABS_MAX": (0.0, True),
    "TRAIN.LOSS_GUARD_GRAD_FACTOR": (0.0, True),
    "TRAIN.LOSS_GUARD_LR_FACTOR": (0.0, False),
    "DISTRIBUTED.TIMEOUT_S": (0, False),
}


def check_ranges(cfg: CfgNode) -> None:
    for key, (low, inclusive) in RANGES.items():
        try:
            value = _get(cfg, key)
        except KeyError:  # a key another family module has not added (yet)
            continue
        ok = value >= low if inclusive else value > low
        relation = ">=" if inclusive else ">"
        _check(ok, f"{key}={value} must be {relation} {low}.")
    for scale in cfg.DATA.MULTI_SCALE_CROP:
        _check(
            0.0 < float(scale) <= 1.0,
            f"DATA.MULTI_SCALE_CROP={list(cfg.DATA.MULTI_SCALE_CROP)}: every scale must be in "
            "(0, 1] (fractions of the short side, e.g. [1.0, 0.875, 0.75, 0.66]).",
        )
    _check(cfg.TRAIN.EMA < 1.0, f"TRAIN.EMA={cfg.TRAIN.EMA} must be < 1 (a decay rate).")
    if cfg.TRAIN.ENABLE:
        _check(
            cfg.SOLVER.MAX_EPOCH >= 1,
            f"SOLVER.MAX_EPOCH={cfg.SOLVER.MAX_EPOCH} trains nothing: set it >= 1, or "
            "TRAIN.ENABLE False to only test.",
        )
    _check(cfg.TRAIN.ENABLE or cfg.TEST.ENABLE, "TRAIN.ENABLE and TEST.ENABLE are both off.")


def validate(cfg: CfgNode) -> None:
    """Raise ConfigError naming the keys of the first broken rule."""
    check_names(cfg)
    check_ranges(cfg)
    pt, ps = input_divisor(cfg)
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
    _check(cfg.TEST.NUM_SPATIAL_CROPS in (1, 3), "TEST.NUM_SPATIAL_CROPS must be 1 or 3.")


# ---- the environment: paths, lists, OUTPUT_DIR, disk space (run by the command line) --------


def estimate_params(cfg: CfgNode) -> int:
    """A rough parameter count of the encoder from the config (no model is built)."""
    if cfg.MODEL.ARCH == "mvit":
        dim, total = cfg.MVIT.EMBED_DIM, 0
        for stage, depth in enumerate(cfg.MVIT.DEPTHS):
            d = dim * 2**stage
            total += depth * int((4 + 2 * cfg.MVIT.MLP_RATIO) * d * d)
        return total
    dim = cfg.VIT.EMBED_DIM
    return cfg.VIT.DEPTH * int((4 + 2 * cfg.VIT.MLP_RATIO) * dim * dim)


def checkpoint_bytes(cfg: CfgNode) -> int:
    """Bytes of one training checkpoint: fp32 weights, two optimiser moments, EMA if on."""
    copies = 3 + (1 if cfg.TRAIN.EMA > 0 else 0)
    return int(estimate_params(cfg) * 4 * copies * 1.1)


def _existing_parent(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def check_output_dir(cfg: CfgNode) -> None:
    """OUTPUT_DIR can be created and written, and holds room for one checkpoint."""
    out = cfg.OUTPUT_DIR
    parent = _existing_parent(out)
    _check(
        os.path.isdir(parent),
        f"OUTPUT_DIR={out} cannot be created: {parent} is a file, not a folder.",
    )
    try:
        os.makedirs(out, exist_ok=True)
        probe = os.path.join(out, f".write_test_{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise ConfigError(f"OUTPUT_DIR={out} is not writable ({e.strerror or e}).") from None
    if cfg.TRAIN.ENABLE:
        need, free = checkpoint_bytes(cfg), shutil.disk_usage(out).free
        _check(
            free >= need,
            f"OUTPUT_DIR={out} has {free / 2**20:.0f} MiB free; one checkpoint needs about "
            f"{need / 2**20:.0f} MiB. Free some space or point OUTPUT_DIR elsewhere.",
        )


def _has_checkpoint(path: str) -> bool:
    if os.path.isfile(path):
        return True
    for folder in (os.path.join(path, "checkpoints"), path):
        if os.path.isdir(folder) and any(n.endswith(".pyth") for n in os.listdir(folder)):
            return True
    return False


def _will_hold_checkpoint(path: str, earlier_runs: tuple[str, ...]) -> bool:
    """Whether `path` is (the checkpoints folder of) a run an earlier chained job writes."""
    target = os.path.abspath(path).rstrip(os.sep)
    for run in earlier_runs:
        run = os.path.abspath(run).rstrip(os.sep)
        if target in (run, os.path.join(run, "checkpoints")):
            return True
    return False


def check_checkpoints(cfg: CfgNode, earlier_runs: tuple[str, ...] = ()) -> None:
    """`earlier_runs`: OUTPUT_DIRs of jobs chained before this one (their checkpoints do not
    exist yet when everything is checked up front)."""
    own = os.path.join(cfg.OUTPUT_DIR, "checkpoints")
    resuming = cfg.TRAIN.AUTO_RESUME and _has_checkpoint(own)
    path = cfg.TRAIN.CHECKPOINT_FILE_PATH
    if cfg.TRAIN.ENABLE and path and not resuming:
        _check(
            _has_checkpoint(path) or _will_hold_checkpoint(path, earlier_runs),
            f"TRAIN.CHECKPOINT_FILE_PATH={path}: no checkpoint there (a file, or a run or "
            "checkpoints folder that holds one).",
        )
    path = cfg.TEST.CHECKPOINT_FILE_PATH
    if cfg.TEST.ENABLE and path:
        _check(
            _has_checkpoint(path) or _will_hold_checkpoint(path, earlier_runs),
            f"TEST.CHECKPOINT_FILE_PATH={path}: no checkpoint there (a file, or a run or "
            "checkpoints folder that holds one).",
        )
    if cfg.TEST.ENABLE and not cfg.TRAIN.ENABLE and not path:
        _check(
            _has_checkpoint(cfg.OUTPUT_DIR),
            f"TRAIN.ENABLE is off and TEST.CHECKPOINT_FILE_PATH is empty, but OUTPUT_DIR="
            f"{cfg.OUTPUT_DIR} holds no checkpoint to test: set TEST.CHECKPOINT_FILE_PATH.",
        )


def _splits(cfg: CfgNode) -> list[str]:
    splits = []
    if cfg.TRAIN.ENABLE:
        splits.append("train")
        if cfg.TRAIN.EVAL_PERIOD > 0:
            splits.append("val")
    if cfg.TEST.ENABLE:
        splits.append("test")
    return splits


def check_data(cfg: CfgNode) -> None:
    """The data folder exists; Kinetics-style lists are valid line by line."""
    from ..data.records import ListFormatError, validate_list

    root = cfg.DATA.PATH_TO_DATA_DIR
    if cfg.DATA.DEMO and cfg.DATA.DATASET == "kinetics":
        if not all(os.path.isfile(os.path.join(root, f"{s}.csv")) for s in _splits(cfg)):
            return  # the demo data is written there at start-up
    _check(bool(root), "DATA.PATH_TO_DATA_DIR is empty: set it to the folder with the lists.")
    _check(os.path.isdir(root), f"DATA.PATH_TO_DATA_DIR={root} does not exist or is no folder.")
    if cfg.DATA.DATASET != "kinetics":
        return
    classify = cfg.MODEL.OBJECTIVE in ("classification", "linear_probe")
    for split in _splits(cfg):
        try:
            validate_list(
                os.path.join(root, f"{split}.csv"),
                separator=cfg.DATA.PATH_LABEL_SEPARATOR,
                prefix=cfg.DATA.PATH_PREFIX,
                fmt=cfg.DATA.LIST_FORMAT,
                num_classes=cfg.MODEL.NUM_CLASSES if classify else 0,
            )
        except ListFormatError as e:
            raise ConfigError(str(e)) from None


def check_environment(cfg: CfgNode, earlier_runs: tuple[str, ...] = ()) -> None:
    """Everything about the machine a config needs, checked before any model is built:
    data folder and lists, checkpoint paths, a writable OUTPUT_DIR with room for a checkpoint."""
    check_data(cfg)
    check_checkpoints(cfg, earlier_runs)
    check_output_dir(cfg)
