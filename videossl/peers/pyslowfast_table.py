"""The PySlowFast key table: one `Rule` per PySlowFast config key, and PySlowFast's defaults.

`videossl.peers.pyslowfast_config.translate` applies the table; the keys of kind "convert" are
translated together by `videossl.peers.pyslowfast_derive`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["DEFAULTS", "DIFFERENT_DEFAULTS", "TABLE", "Reader", "Rule", "as_list"]

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
DIFFERENT_DEFAULTS = {
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


def as_list(value: Any) -> list:
    """PySlowFast writes some lists as Python tuples in strings: "(0.9, 0.95)"."""
    if isinstance(value, str):
        value = ast.literal_eval(value)
    return list(value)


_DECODER = {"torchvision": "pyav", "pyav": "pyav", "decord": "decord"}

TABLE: dict[str, Rule] = {
    "TASK": _none("ssl / ssl_eval select PySlowFast's trainer; MODEL.OBJECTIVE implies it"),
    "NUM_GPUS": _same(),
    "NUM_SHARDS": _same(
        "also scales the batch and learning rate, see pyslowfast_config's docstring"
    ),
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
    "SOLVER.BASE_LR": _conv(
        "SOLVER.BASE_LR / SOLVER.REFERENCE_BATCH", "see pyslowfast_config's docstring"
    ),
    "SOLVER.BASE_LR_SCALE_NUM_SHARDS": _conv(
        "SOLVER.REFERENCE_BATCH", "see pyslowfast_config's docstring"
    ),
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
    "SOLVER.BETAS": _rename("SOLVER.BETAS", as_list),
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


class Reader:
    """`get(key)`: a flat PySlowFast config's value, or PySlowFast's default for the key."""

    def __init__(self, flat: dict[str, Any]):
        self.flat = flat

    def __call__(self, key: str) -> Any:
        return self.flat[key] if key in self.flat else DEFAULTS.get(key)
