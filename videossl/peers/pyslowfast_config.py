"""PySlowFast YAML configs -> videossl configs (``--cfg`` auto-detects them).

Every key that PySlowFast's MaskFeat / MAE (``configs/masked_ssl``), MViTv2 Kinetics / SSv2 and
AVA configs use has one entry in ``TABLE``: the videossl key(s) it becomes, or why it needs
none. A key whose value videossl cannot reproduce, or a key missing from the table, is an
error; all of them are reported in one message.

Keys whose names match but whose meaning differs are converted exactly:

- ``TRAIN.BATCH_SIZE`` / ``TEST.BATCH_SIZE``: PySlowFast divides them by ``NUM_GPUS`` only, so
  they count the clips of one node (shard). videossl's batch is global:
  ``BATCH_SIZE x NUM_SHARDS``.
- ``SOLVER.BASE_LR``: PySlowFast uses the rate as written, multiplied by ``NUM_SHARDS`` (with
  ``WARMUP_START_LR`` and ``COSINE_END_LR``) when ``SOLVER.BASE_LR_SCALE_NUM_SHARDS`` is set.
  videossl's rate is per ``SOLVER.REFERENCE_BATCH`` clips and scales linearly with the global
  batch. The translation sets ``REFERENCE_BATCH`` to one node's clips (scaled by shards) or to
  the whole batch (not scaled), so the effective rate is the same at any node count, and
  ``SOLVER.SCALE_MIN_LR`` scales the warm-up and final rates with it.
- ``AUG.NUM_SAMPLE`` (repeated augmentation): PySlowFast's batch counts videos, each giving
  ``NUM_SAMPLE`` clips; so does videossl's (``DATA.NUM_REPEATED_SAMPLES``), and both learning
  rates count clips, so ``REFERENCE_BATCH`` includes the factor.
- ``DATA.REVERSE_INPUT_CHANNEL``: PySlowFast normalises RGB and then reverses the channels;
  videossl reverses the decoded frames (``DATA.INPUT_CHANNEL_ORDER: bgr``) and normalises with
  the reversed mean/std: the same numbers.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Callable

from ..config.load import ConfigError

__all__ = ["TABLE", "is_pyslowfast", "translate", "flatten"]

# Top-level sections or keys that only PySlowFast configs have.
_MARKERS = ("TASK", "DATA_LOADER", "AUG", "MIXUP", "BN", "DETECTION", "PREFETCH", "LOG_MODEL_INFO")
_MARKER_LEAVES = {
    "TRAIN": ("DATASET", "MIXED_PRECISION", "CHECKPOINT_TYPE", "CHECKPOINT_EPOCH_RESET"),
    "SOLVER": ("OPTIMIZING_METHOD", "BASE_LR_SCALE_NUM_SHARDS", "COSINE_END_LR", "LR_POLICY"),
    "MODEL": ("MODEL_NAME", "LOSS_FUNC", "DROPOUT_RATE"),
    "MVIT": ("DEPTH", "PATCH_KERNEL", "DIM_MUL", "POOL_Q_STRIDE", "DROPPATH_RATE"),
    "TEST": ("DATASET", "NUM_TEMPORAL_CLIPS"),
}

# PySlowFast's defaults (slowfast/config/defaults.py) for the keys the translation reads.
DEFAULTS: dict[str, Any] = {
    "NUM_GPUS": 1,
    "NUM_SHARDS": 1,
    "TRAIN.BATCH_SIZE": 64,
    "TEST.BATCH_SIZE": 8,
    "SOLVER.BASE_LR": 0.1,
    "SOLVER.BASE_LR_SCALE_NUM_SHARDS": False,
    "SOLVER.WARMUP_START_LR": 0.01,
    "SOLVER.COSINE_END_LR": 0.0,
    "SOLVER.LR_POLICY": "cosine",
    "SOLVER.COSINE_AFTER_WARMUP": False,
    "SOLVER.OPTIMIZING_METHOD": "sgd",
    "AUG.ENABLE": False,
    "AUG.NUM_SAMPLE": 1,
    "AUG.AA_TYPE": "rand-m9-mstd0.5-inc1",
    "AUG.RE_PROB": 0.25,
    "MIXUP.ENABLE": False,
    "MIXUP.ALPHA": 0.8,
    "MIXUP.CUTMIX_ALPHA": 1.0,
    "MIXUP.LABEL_SMOOTH_VALUE": 0.1,
    "MASK.ENABLE": False,
    "MASK.MAE_ON": False,
    "MASK.PRED_HOG": False,
    "MASK.MAE_RND_MASK": False,
    "MASK.DECODER_DEPTH": 0,
    "MASK.DECODER_EMBED_DIM": 512,
    "AUG.MASK_TUBE": False,
    "AUG.MASK_FRAMES": False,
    "AUG.MASK_WINDOW_SIZE": [8, 7, 7],
    "DETECTION.ENABLE": False,
    "DATA.NUM_FRAMES": 8,
    "DATA.TRAIN_CROP_SIZE": 224,
    "DATA.TRAIN_JITTER_SCALES_RELATIVE": [],
    "DATA.MEAN": [0.45, 0.45, 0.45],
    "DATA.STD": [0.225, 0.225, 0.225],
    "DATA.REVERSE_INPUT_CHANNEL": False,
    "MVIT.DEPTH": 16,
    "MVIT.EMBED_DIM": 96,
    "MVIT.NUM_HEADS": 1,
    "MVIT.MLP_RATIO": 4.0,
    "MVIT.PATCH_KERNEL": [3, 7, 7],
    "MVIT.PATCH_STRIDE": [2, 4, 4],
    "MVIT.PATCH_PADDING": [2, 4, 4],
    "MVIT.DIM_MUL": [],
    "MVIT.HEAD_MUL": [],
    "MVIT.POOL_Q_STRIDE": [],
    "MVIT.POOL_KVQ_KERNEL": None,
    "MVIT.POOL_KV_STRIDE_ADAPTIVE": None,
    "MVIT.CLS_EMBED_ON": True,
    "MVIT.USE_ABS_POS": True,
    "MVIT.SEP_POS_EMBED": False,
    "MVIT.REL_POS_SPATIAL": False,
    "MVIT.REL_POS_TEMPORAL": False,
    "MVIT.RESIDUAL_POOLING": False,
    "MVIT.DIM_MUL_IN_ATT": False,
    "MVIT.USE_MEAN_POOLING": False,
    "MVIT.LAYER_SCALE_INIT_VALUE": 0.0,
    "MVIT.DROPPATH_RATE": 0.1,
    "MVIT.ZERO_DECAY_POS_CLS": True,
    "MODEL.NUM_CLASSES": 400,
    "MODEL.ARCH": "slowfast",
    "MODEL.DROPOUT_RATE": 0.5,
    "SOLVER.WEIGHT_DECAY": 1e-4,
    "SOLVER.WARMUP_EPOCHS": 0.0,
    "SOLVER.CLIP_GRAD_L2NORM": 0.0,
    "DATA.SAMPLING_RATE": 8,
    "TEST.NUM_ENSEMBLE_VIEWS": 10,
}


# videossl keys whose default differs from PySlowFast's: set from PySlowFast's default when
# the file leaves the key out, so a translated config means what it meant there.
_DIFFERENT_DEFAULTS = {
    "MODEL.DROPOUT": "MODEL.DROPOUT_RATE",
    "SOLVER.WEIGHT_DECAY": "SOLVER.WEIGHT_DECAY",
    "SOLVER.WARMUP_EPOCHS": "SOLVER.WARMUP_EPOCHS",
    "SOLVER.CLIP_GRAD": "SOLVER.CLIP_GRAD_L2NORM",
    "SOLVER.OPTIMIZER": "SOLVER.OPTIMIZING_METHOD",
    "DATA.NUM_FRAMES": "DATA.NUM_FRAMES",
    "DATA.SAMPLING_RATE": "DATA.SAMPLING_RATE",
}


@dataclass(frozen=True)
class Rule:
    """How one PySlowFast key translates.

    kind: "same" (same name and meaning), "rename" (``to``, same meaning), "convert" (done by
    a function that reads several keys), "fixed" (videossl always behaves as ``expect``; other
    values are errors), "none" (no effect on training or testing here; ``why``).
    """

    kind: str
    to: str = ""
    why: str = ""
    expect: Any = None
    fn: Callable[[Any], Any] | None = None


def _same(why: str = "") -> Rule:
    return Rule("same", why=why)


def _rename(to: str, fn: Callable[[Any], Any] | None = None, why: str = "") -> Rule:
    return Rule("rename", to=to, fn=fn, why=why)


def _conv(to: str, why: str) -> Rule:
    return Rule("convert", to=to, why=why)


def _fixed(expect: Any, why: str) -> Rule:
    return Rule("fixed", expect=expect, why=why)


def _none(why: str) -> Rule:
    return Rule("none", why=why)


def _tuple(value: Any) -> list:
    """PySlowFast writes some lists as Python tuples in strings: "(0.9, 0.95)"."""
    if isinstance(value, str):
        value = ast.literal_eval(value)
    return list(value)


_DECODER = {"torchvision": "pyav", "pyav": "pyav", "decord": "decord"}

TABLE: dict[str, Rule] = {
    "TASK": _none("ssl / ssl_eval select PySlowFast's trainer; MODEL.OBJECTIVE implies it"),
    "NUM_GPUS": _same(),
    "NUM_SHARDS": _same("also scales the batch and learning rate, see the module docstring"),
    "SHARD_ID": _same(),
    "RNG_SEED": _same(),
    "OUTPUT_DIR": _same(),
    "LOG_MODEL_INFO": _none("model summary printing"),
    "LOG_PERIOD": _rename("LOG.PERIOD"),
    # TRAIN
    "TRAIN.ENABLE": _same(),
    "TRAIN.DATASET": _rename("DATA.DATASET", lambda v: str(v).lower()),
    "TRAIN.BATCH_SIZE": _conv("TRAIN.BATCH_SIZE", "per node in PySlowFast: x NUM_SHARDS"),
    "TRAIN.EVAL_PERIOD": _conv("TRAIN.EVAL_PERIOD", "epochs; past MAX_EPOCH means never (0)"),
    "TRAIN.CHECKPOINT_PERIOD": _same(),
    "TRAIN.AUTO_RESUME": _same(),
    "TRAIN.CHECKPOINT_FILE_PATH": _same("the format is detected (PySlowFast checkpoints load)"),
    "TRAIN.CHECKPOINT_TYPE": _fixed("pytorch", "only PyTorch checkpoints load (not caffe2)"),
    "TRAIN.CHECKPOINT_EPOCH_RESET": _none(
        "initial weights never carry an epoch here: fine-tuning always starts at epoch 0"
    ),
    "TRAIN.MIXED_PRECISION": _rename("TRAIN.AMP", lambda v: "fp16" if v else ""),
    "TRAIN.KILL_LOSS_EXPLOSION_FACTOR": _conv(
        "TRAIN.LOSS_GUARD_FACTOR",
        "PySlowFast stops the run on a loss above FACTOR x the previous one; videossl rolls "
        "back to the last checkpoint on a loss above FACTOR x the recent mean (0 = default)",
    ),
    # DATA
    "DATA.PATH_TO_DATA_DIR": _same(),
    "DATA.PATH_PREFIX": _same(),
    "DATA.PATH_LABEL_SEPARATOR": _same(),
    "DATA.NUM_FRAMES": _same(),
    "DATA.SAMPLING_RATE": _same(),
    "DATA.TARGET_FPS": _same(),
    "DATA.TRAIN_JITTER_SCALES": _same(),
    "DATA.TRAIN_CROP_SIZE": _same(),
    "DATA.TEST_CROP_SIZE": _same(),
    "DATA.MEAN": _conv("DATA.MEAN", "reversed with DATA.REVERSE_INPUT_CHANNEL"),
    "DATA.STD": _conv("DATA.STD", "reversed with DATA.REVERSE_INPUT_CHANNEL"),
    "DATA.INPUT_CHANNEL_NUM": _fixed([3], "one RGB pathway"),
    "DATA.DECODING_BACKEND": _rename(
        "DATA.DECODER",
        lambda v: _DECODER[str(v)],
        "torchvision's video decoding is PyAV underneath",
    ),
    "DATA.DECODING_SHORT_SIZE": _rename("DATA.DECODE_SHORT_SIDE"),
    "DATA.TRAIN_JITTER_SCALES_RELATIVE": _conv(
        "DATA.USE_RANDOM_RESIZED_CROP",
        "non-empty: RandomResizedCrop with this area range (PySlowFast's spatial_sampling); "
        "empty: short-side jitter + random crop",
    ),
    "DATA.TRAIN_JITTER_ASPECT_RELATIVE": _same(),
    "DATA.USE_OFFSET_SAMPLING": _none(
        "test clips are spread uniformly over the video in both (one clip: the centre)"
    ),
    "DATA.TRAIN_CROP_NUM_TEMPORAL": _conv(
        "DATA.NUM_REPEATED_SAMPLES", "clips drawn per video, as repeated samples"
    ),
    "DATA.RANDOM_FLIP": _same(),
    "DATA.INV_UNIFORM_SAMPLE": _rename("DATA.INV_UNIFORM_SAMPLE"),
    "DATA.REVERSE_INPUT_CHANNEL": _rename(
        "DATA.INPUT_CHANNEL_ORDER", lambda v: "bgr" if v else "rgb"
    ),
    "DATA_LOADER.NUM_WORKERS": _rename("DATA.NUM_WORKERS"),
    "DATA_LOADER.PIN_MEMORY": _rename("DATA.PIN_MEMORY"),
    "PREFETCH.NUM_LOADERS": _none("loader tuning, no effect on the numbers"),
    "BN.USE_PRECISE_STATS": _fixed(False, "no BatchNorm in ViT / MViTv2"),
    "BN.NUM_BATCHES_PRECISE": _none("used only with BN.USE_PRECISE_STATS"),
    # MVIT (ViT configs are MViT without pooling in PySlowFast)
    "MVIT.DEPTH": _conv("MVIT.DEPTHS / VIT.DEPTH", "stages split at the DIM_MUL blocks"),
    "MVIT.NUM_HEADS": _conv("MVIT.NUM_HEADS / VIT.NUM_HEADS", ""),
    "MVIT.EMBED_DIM": _conv("MVIT.EMBED_DIM / VIT.EMBED_DIM", ""),
    "MVIT.MLP_RATIO": _conv("MVIT.MLP_RATIO / VIT.MLP_RATIO", ""),
    "MVIT.PATCH_KERNEL": _conv("VIT.PATCH_SIZE / VIT.TUBELET_SIZE", "MViT: 3x7x7 only"),
    "MVIT.PATCH_STRIDE": _conv("", "must equal the kernel (ViT) or 2x4x4 (MViT)"),
    "MVIT.PATCH_PADDING": _conv("", "0 (ViT) or 1x3x3 (MViT)"),
    "MVIT.DIM_MUL": _conv("MVIT.DEPTHS", "x2 at each stage start"),
    "MVIT.HEAD_MUL": _conv("", "must equal DIM_MUL"),
    "MVIT.POOL_Q_STRIDE": _conv("", "1x2x2 at each stage start (MaskFeat PT: not the last)"),
    "MVIT.POOL_KVQ_KERNEL": _rename("MVIT.POOL_KERNEL"),
    "MVIT.POOL_KV_STRIDE_ADAPTIVE": _rename("MVIT.POOL_KV_STRIDE"),
    "MVIT.POOL_FIRST": _fixed(False, "pooling after the qkv projection"),
    "MVIT.MODE": _fixed("conv", "conv pooling only"),
    "MVIT.NORM": _fixed("layernorm", "LayerNorm only"),
    "MVIT.QKV_BIAS": _fixed(True, "qkv bias on"),
    "MVIT.CLS_EMBED_ON": _conv("MVIT.CLS_TOKEN / VIT.CLS_TOKEN", ""),
    "MVIT.USE_ABS_POS": _conv("MVIT.ABS_POS_EMBED / VIT.POS_EMBED", ""),
    "MVIT.SEP_POS_EMBED": _conv("VIT.POS_EMBED", "separable learned (MAE-ST); MViT: unused"),
    "MVIT.REL_POS_SPATIAL": _conv("MVIT.REL_POS", "spatial and temporal together"),
    "MVIT.REL_POS_TEMPORAL": _conv("MVIT.REL_POS", "spatial and temporal together"),
    "MVIT.RESIDUAL_POOLING": _rename("MVIT.RESIDUAL_POOLING"),
    "MVIT.DIM_MUL_IN_ATT": _rename("MVIT.DIM_MUL_IN_ATT"),
    "MVIT.ZERO_DECAY_POS_CLS": _conv("MVIT.ZERO_DECAY_POS_CLS", "MViT only"),
    "MVIT.DROPPATH_RATE": _rename("MODEL.DROP_PATH"),
    "MVIT.DROPOUT_RATE": _fixed(0.0, "no dropout inside the blocks"),
    "MVIT.HEAD_INIT_SCALE": _rename("MODEL.HEAD_INIT_SCALE"),
    "MVIT.LAYER_SCALE_INIT_VALUE": _conv("VIT.LAYER_SCALE_INIT", "MViT: 0 only"),
    "MVIT.USE_MEAN_POOLING": _conv("MODEL.POOL / MODEL.FC_NORM", "mean + norm, or cls token"),
    "MVIT.SEPARATE_QKV": _none("a checkpoint layout; the converter fuses q/k/v"),
    # MASK (pretraining)
    "MASK.ENABLE": _conv("MODEL.OBJECTIVE", "masked pretraining"),
    "MASK.MAE_ON": _conv("MODEL.OBJECTIVE", "mae (pixels) instead of maskfeat"),
    "MASK.MAE_RND_MASK": _conv("MASK.TYPE", "random (MAE-ST) masking"),
    "MASK.PRED_HOG": _conv("TARGET.NAMES", "HOG targets"),
    "MASK.PRETRAIN_DEPTH": _conv("", "must be the last block"),
    "MASK.HEAD_TYPE": _none("implied: linear head (MaskFeat) or transformer decoder (MAE)"),
    "MASK.TIME_STRIDE_LOSS": _fixed(True, "pixel targets of one frame per tubelet (MAE-ST)"),
    "MASK.DECODER_DEPTH": _rename("MODEL.DECODER_DEPTH"),
    "MASK.DECODER_EMBED_DIM": _rename("MODEL.DECODER_DIM"),
    # AUG
    "AUG.ENABLE": _conv("DATA.RAND_AUGMENT / DATA.RANDOM_ERASING", "off: both off"),
    "AUG.NUM_SAMPLE": _conv("DATA.NUM_REPEATED_SAMPLES", "counted in REFERENCE_BATCH"),
    "AUG.COLOR_JITTER": _none(
        "read only by PySlowFast's ImageNet dataset: its video datasets apply no colour jitter"
    ),
    "AUG.AA_TYPE": _conv("DATA.RAND_AUGMENT", ""),
    "AUG.INTERPOLATION": _fixed("bicubic", "RandAugment's interpolation"),
    "AUG.RE_PROB": _conv("DATA.RANDOM_ERASING", ""),
    "AUG.RE_MODE": _fixed("pixel", "per-pixel normal noise"),
    "AUG.RE_COUNT": _fixed(1, "one erased box"),
    "AUG.RE_SPLIT": _fixed(False, "no split"),
    "AUG.GEN_MASK_LOADER": _rename("MASK.IN_LOADER"),
    "AUG.MASK_RATIO": _rename("MASK.RATIO"),
    "AUG.MASK_TUBE": _conv("MASK.TYPE", "tube"),
    "AUG.MASK_FRAMES": _fixed(False, "no frame masking"),
    "AUG.MASK_WINDOW_SIZE": _conv("MASK.UNIT", "unit = clip size / window"),
    # MIXUP
    "MIXUP.ENABLE": _conv("TRAIN.MIXUP / TRAIN.CUTMIX", "off: both 0"),
    "MIXUP.ALPHA": _conv("TRAIN.MIXUP", ""),
    "MIXUP.CUTMIX_ALPHA": _conv("TRAIN.CUTMIX", ""),
    "MIXUP.PROB": _fixed(1.0, "mixing every batch"),
    "MIXUP.SWITCH_PROB": _fixed(0.5, "mixup or cutmix with equal odds"),
    "MIXUP.LABEL_SMOOTH_VALUE": _conv("MODEL.LABEL_SMOOTHING", "with mixup"),
    # SOLVER
    "SOLVER.BASE_LR": _conv("SOLVER.BASE_LR / SOLVER.REFERENCE_BATCH", "see the docstring"),
    "SOLVER.BASE_LR_SCALE_NUM_SHARDS": _conv("SOLVER.REFERENCE_BATCH", "see the docstring"),
    "SOLVER.LR_POLICY": _fixed("cosine", "linear warm-up + cosine"),
    "SOLVER.COSINE_AFTER_WARMUP": _fixed(True, "the cosine starts after the warm-up"),
    "SOLVER.COSINE_END_LR": _conv("SOLVER.MIN_LR", "x NUM_SHARDS when scaled"),
    "SOLVER.WARMUP_START_LR": _conv("SOLVER.WARMUP_START_LR", "x NUM_SHARDS when scaled"),
    "SOLVER.WARMUP_EPOCHS": _same(),
    "SOLVER.MAX_EPOCH": _same(),
    "SOLVER.MOMENTUM": _same(),
    "SOLVER.WEIGHT_DECAY": _same(),
    "SOLVER.ZERO_WD_1D_PARAM": _fixed(True, "norms and biases never decay"),
    "SOLVER.OPTIMIZING_METHOD": _rename("SOLVER.OPTIMIZER", lambda v: str(v).lower()),
    "SOLVER.CLIP_GRAD_L2NORM": _rename("SOLVER.CLIP_GRAD", lambda v: float(v or 0.0)),
    "SOLVER.LAYER_DECAY": _same(),
    "SOLVER.BETAS": _rename("SOLVER.BETAS", _tuple),
    # MODEL
    "MODEL.ARCH": _conv("MODEL.ARCH / MODEL.OBJECTIVE", "mvit / maskmvit"),
    "MODEL.MODEL_NAME": _fixed(None, "MViT or MaskMViT (checked with MODEL.ARCH)"),
    "MODEL.NUM_CLASSES": _conv("MODEL.NUM_CLASSES / AVA.NUM_CLASSES", ""),
    "MODEL.LOSS_FUNC": _conv("MODEL.LOSS", "implied by the objective when pretraining"),
    "MODEL.DROPOUT_RATE": _rename("MODEL.DROPOUT"),
    "MODEL.HEAD_ACT": _none("softmax / sigmoid follow the objective"),
    # TEST
    "TEST.ENABLE": _same(),
    "TEST.DATASET": _none("the same dataset as training (DATA.DATASET)"),
    "TEST.BATCH_SIZE": _conv("TEST.BATCH_SIZE", "per node in PySlowFast: x NUM_SHARDS"),
    "TEST.CHECKPOINT_FILE_PATH": _same(),
    "TEST.NUM_SPATIAL_CROPS": _same(),
    "TEST.NUM_ENSEMBLE_VIEWS": _same(),
    "TEST.NUM_TEMPORAL_CLIPS": _conv(
        "TEST.NUM_ENSEMBLE_VIEWS / TEST.VIEW_SWEEP", "the largest, and the others as a sweep"
    ),
    "TEST.SAVE_RESULTS_CSV": _none("predictions are always saved in OUTPUT_DIR"),
    # DETECTION / AVA
    "DETECTION.ENABLE": _conv("MODEL.OBJECTIVE", "ava"),
    "DETECTION.ALIGNED": _fixed(True, "roi_align with aligned=True"),
    "DETECTION.SPATIAL_SCALE_FACTOR": _none("follows the encoder's token grid"),
    "DETECTION.ROI_XFORM_RESOLUTION": _rename("AVA.ROI_RESOLUTION"),
    "AVA.FRAME_DIR": _same(),
    "AVA.FRAME_LIST_DIR": _none("frames are found by AVA.FRAME_TEMPLATE, no frame lists"),
    "AVA.ANNOTATION_DIR": _same(),
    "AVA.TRAIN_LISTS": _none("frames are found by AVA.FRAME_TEMPLATE, no frame lists"),
    "AVA.TEST_LISTS": _none("frames are found by AVA.FRAME_TEMPLATE, no frame lists"),
    "AVA.TRAIN_GT_BOX_LISTS": _same(),
    "AVA.TRAIN_PREDICT_BOX_LISTS": _same(),
    "AVA.TEST_PREDICT_BOX_LISTS": _same(),
    "AVA.DETECTION_SCORE_THRESH": _same(),
    "AVA.BGR": _fixed(False, "RGB frames"),
    "AVA.TRAIN_USE_COLOR_AUGMENTATION": _fixed(False, "no colour augmentation for AVA"),
    "AVA.TRAIN_PCA_JITTER_ONLY": _none("used only with TRAIN_USE_COLOR_AUGMENTATION"),
    "AVA.TEST_FORCE_FLIP": _fixed(False, "no flipped test view"),
    "AVA.FULL_TEST_ON_VAL": _none("the val split is evaluated with the AVA protocol"),
    "AVA.LABEL_MAP_FILE": _same(),
    "AVA.EXCLUSION_FILE": _same(),
    "AVA.GROUNDTRUTH_FILE": _same(),
    "AVA.IMG_PROC_BACKEND": _none("frame decoding library"),
}


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{"A": {"B": 1}} -> {"A.B": 1} (YAML "None" strings become None, as PySlowFast reads them)."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = None if v == "None" else v
    return out


def is_pyslowfast(tree: dict) -> bool:
    """Whether a YAML mapping is written in PySlowFast's key space."""
    if any(k in tree for k in _MARKERS):
        return True
    for section, leaves in _MARKER_LEAVES.items():
        node = tree.get(section)
        if isinstance(node, dict) and any(leaf in node for leaf in leaves):
            return True
    return False


class _Reader:
    def __init__(self, flat: dict[str, Any]):
        self.flat = flat

    def __call__(self, key: str) -> Any:
        return self.flat[key] if key in self.flat else DEFAULTS.get(key)


def _stage_starts(dim_mul: list) -> list[int]:
    return sorted(int(i) for i, _ in dim_mul)


def _mvit(get: _Reader, out: dict, bad: list, maskfeat: bool) -> None:
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
        if _tuple(get(key)) != want:
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


def _vit(get: _Reader, out: dict, bad: list) -> None:
    kernel = _tuple(get("MVIT.PATCH_KERNEL"))
    if _tuple(get("MVIT.PATCH_STRIDE")) != kernel or kernel[1] != kernel[2]:
        bad.append("MVIT.PATCH_STRIDE: a ViT patch embedding has stride = square kernel")
    if _tuple(get("MVIT.PATCH_PADDING")) != [0, 0, 0]:
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


def _convert(get: _Reader, flat: dict, out: dict, bad: list) -> None:
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
    is_vit = not get("MVIT.DIM_MUL")  # PySlowFast's ViT: MViT without stages
    # Objective and targets.
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
    # Encoder.
    if is_vit:
        _vit(get, out, bad)
    else:
        _mvit(get, out, bad, maskfeat=masked and not mae)
    if not masked and not detection:
        mean_pool = bool(get("MVIT.USE_MEAN_POOLING"))
        out["MODEL.POOL"] = "mean" if mean_pool else "cls"
        out["MODEL.FC_NORM"] = mean_pool
    # Mask unit from the mask window.
    if masked:
        window = [int(x) for x in get("AUG.MASK_WINDOW_SIZE")]
        frames, crop = int(get("DATA.NUM_FRAMES")), int(get("DATA.TRAIN_CROP_SIZE"))
        if not mae:
            out["MASK.UNIT"] = [frames // window[0], crop // window[1], crop // window[2]]
    # Augmentation.
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
    # Channel order: PySlowFast normalises RGB, then reverses; videossl reverses first.
    mean, std = list(get("DATA.MEAN")), list(get("DATA.STD"))
    if get("DATA.REVERSE_INPUT_CHANNEL"):
        mean, std = mean[::-1], std[::-1]
    out["DATA.MEAN"], out["DATA.STD"] = [float(x) for x in mean], [float(x) for x in std]
    # Batch and learning rate (see the module docstring).
    batch = int(get("TRAIN.BATCH_SIZE"))
    scale = bool(get("SOLVER.BASE_LR_SCALE_NUM_SHARDS"))
    out["TRAIN.BATCH_SIZE"] = batch * shards
    out["TEST.BATCH_SIZE"] = int(get("TEST.BATCH_SIZE")) * shards
    out["SOLVER.BASE_LR"] = float(get("SOLVER.BASE_LR"))
    out["SOLVER.REFERENCE_BATCH"] = batch * repeated * (1 if scale else shards)
    out["SOLVER.SCALE_MIN_LR"] = scale
    out["SOLVER.MIN_LR"] = float(get("SOLVER.COSINE_END_LR"))
    out["SOLVER.WARMUP_START_LR"] = float(get("SOLVER.WARMUP_START_LR"))
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


def translate(tree: dict, source: str = "a PySlowFast config") -> dict[str, Any]:
    """PySlowFast mapping -> videossl {dotted key: value}; ConfigError listing every key
    that has no equivalent (unknown, or a value videossl cannot reproduce)."""
    flat = flatten(tree)
    get = _Reader(flat)
    out: dict[str, Any] = {}
    bad: list[str] = []
    for key, value in flat.items():
        rule = TABLE.get(key)
        if rule is None:
            bad.append(f"{key}: no equivalent in videossl")
        elif rule.kind == "same":
            out[key] = value
        elif rule.kind == "rename":
            try:
                out[rule.to] = rule.fn(value) if rule.fn else value
            except (KeyError, ValueError, SyntaxError):
                bad.append(f"{key}: value {value!r} has no equivalent")
        elif rule.kind == "fixed" and rule.expect is not None:
            have = _tuple(value) if isinstance(rule.expect, list) else value
            if have != rule.expect:
                bad.append(f"{key}: {value!r} (videossl: {rule.expect!r}, {rule.why})")
    for ours, theirs in _DIFFERENT_DEFAULTS.items():
        if theirs not in flat:
            out[ours] = DEFAULTS[theirs]
    try:
        _convert(get, flat, out, bad)
    except (TypeError, ValueError, KeyError, IndexError) as e:
        bad.append(f"(conversion stopped: {e})")
    if bad:
        lines = "\n".join(f"  {b}" for b in bad)
        raise ConfigError(
            f"{len(bad)} PySlowFast key(s) in {source} have no videossl equivalent:\n{lines}"
        )
    return out


def set_value(tree: dict, key: str, text: str) -> None:
    """Set dotted `key` of a PySlowFast mapping from command-line text (a Python literal, as
    PySlowFast's merge_from_list reads it, or a plain string)."""
    try:
        value = ast.literal_eval(text) if isinstance(text, str) else text
    except (ValueError, SyntaxError):
        value = text
    node = tree
    *parents, leaf = key.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value


def to_tree(flat: dict[str, Any]) -> dict:
    """{"A.B": 1} -> {"A": {"B": 1}}."""
    tree: dict = {}
    for key, value in flat.items():
        node = tree
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree
