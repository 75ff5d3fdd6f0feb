"""Try a recipe small: the same recipe with only its sizes shrunk, on a generated tiny data set.

A recipe (a YAML under ``configs/``) is defined by its objective, encoder family and structural
options (MViT pooling, relative positions, residual pooling; ViT position embedding, qkv bias,
cls token), masker, targets, head, decoder layout, dataset type and evaluator. Everything else
is a size: depth, width, heads, frames, crop, batch, epochs, iterations, workers, GPUs and the
data. ``shrink_overrides`` turns a loaded recipe into the ``KEY VALUE`` overrides that shrink
only the sizes; ``write_tiny_data`` writes a data folder of the recipe's dataset type (Kinetics
csv lists of H.264 videos, SSv2 json lists of VP9 ``.webm`` videos, or AVA frames and
annotations); ``try_recipe`` runs one training step and the recipe's evaluation through
``tools/run_net.py``'s entry point, on the CPU, in a few seconds::

    python tools/try_recipe.py --cfg configs/kinetics/MVITv2_S_16x4_MaskFeat_PT.yaml

Like ``tools/``, this module turns a config into overrides, so it reads the config.
"""

from __future__ import annotations

import ast
import glob
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from fvcore.common.config import CfgNode

logger = logging.getLogger(__name__)

# Small sizes that keep every structural path of the encoders alive.
FRAMES = 4  # 2 temporal tokens for a 2-frame tubelet / stride-2 MViT stem
CROP = 64  # MViT: stride 4 x three 2x poolings = 32 | 64; ViT: 4x4 patches of 16
BATCH = 2
VIT_SIZE = {"EMBED_DIM": 32, "DEPTH": 2, "NUM_HEADS": 2}
MVIT_SIZE = {"EMBED_DIM": 16, "NUM_HEADS": 1}
DECODER_SIZE = {"DECODER_DIM": 32, "DECODER_DEPTH": 1, "DECODER_HEADS": 2}
# The structural MViT options of a preset, as MVIT.* keys (what "custom" would read).
MVIT_STRUCTURE = {
    "cls_token": "CLS_TOKEN",
    "abs_pos_embed": "ABS_POS_EMBED",
    "rel_pos": "REL_POS",
    "residual_pooling": "RESIDUAL_POOLING",
    "dim_mul_in_att": "DIM_MUL_IN_ATT",
    "mlp_ratio": "MLP_RATIO",
    "pool_kernel": "POOL_KERNEL",
    "kv_stride": "POOL_KV_STRIDE",
}
VIDEOS_PER_CLASS = 1  # per split and class: one evaluation step covers all the views
TINY_DATA = ("kinetics", "ssv2", "ava")


def data_kind(cfg: CfgNode) -> str:
    """Which tiny data set a recipe reads: "kinetics" (csv lists), "ssv2" or "ava"."""
    kind = cfg.DATA.DATASET
    if kind not in TINY_DATA:
        raise ValueError(
            f"DATA.DATASET={kind!r}: tiny data can be written for {', '.join(TINY_DATA)} only."
        )
    return kind


def _kv(values: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key, value in values.items():
        out += [key, _yaml(value)]
    return out


def _yaml(value: Any) -> str:
    """A command-line value that the config loader reads back as ``value`` (it parses values
    as Python literals: strings and lists are quoted so that they stay strings)."""
    if isinstance(value, (list, tuple)):
        return repr(list(value))
    if not isinstance(value, str):
        return str(value)
    try:
        ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value  # read back as this string
    return repr(value)


def _scaled(size: int, scale: float) -> int:
    """A pixel size scaled with the crop, rounded to an even number (yuv420p, crops)."""
    return max(2, 2 * round(size * scale / 2))


def encoder_overrides(cfg: CfgNode) -> dict[str, Any]:
    """The encoder at a tiny size, with the recipe's structural options."""
    if cfg.MODEL.ARCH == "vit":
        return {"VIT.PRESET": "custom", **{f"VIT.{k}": v for k, v in VIT_SIZE.items()}}
    if cfg.MODEL.ARCH == "mvit":
        out: dict[str, Any] = {"MVIT.PRESET": "custom"}
        out.update({f"MVIT.{k}": v for k, v in MVIT_SIZE.items()})
        if cfg.MVIT.PRESET.lower() == "custom":
            stages = len(cfg.MVIT.DEPTHS)
        else:
            from .models.mvit_presets import mvit_preset

            preset = mvit_preset(cfg.MVIT.PRESET)
            stages = len(preset["depths"])
            for name, key in MVIT_STRUCTURE.items():
                if name in preset:
                    out[f"MVIT.{key}"] = (
                        list(preset[name]) if key.startswith("POOL") else preset[name]
                    )
        out["MVIT.DEPTHS"] = [1] * stages  # every stage transition (pooling) is kept
        return out
    raise ValueError(f"MODEL.ARCH={cfg.MODEL.ARCH!r}: no tiny size is known for this encoder.")


def data_overrides(cfg: CfgNode, data_dir: str) -> dict[str, Any]:
    """Frames, crop, decode sizes and the data folder (paths of the tiny data set)."""
    scale = CROP / cfg.DATA.TRAIN_CROP_SIZE
    out: dict[str, Any] = {
        "DATA.NUM_FRAMES": FRAMES,
        "DATA.TRAIN_CROP_SIZE": CROP,
        "DATA.TEST_CROP_SIZE": CROP,
        "DATA.TRAIN_JITTER_SCALES": [_scaled(s, scale) for s in cfg.DATA.TRAIN_JITTER_SCALES],
        "DATA.NUM_WORKERS": 0,
        "DATA.PATH_TO_DATA_DIR": data_dir,
        "DATA.PATH_PREFIX": "",
        "DATA.DEMO": "",
    }
    if cfg.DATA.DECODE_SHORT_SIDE:
        out["DATA.DECODE_SHORT_SIDE"] = _scaled(cfg.DATA.DECODE_SHORT_SIDE, scale)
    if cfg.DATA.DATASET == "ssv2":
        out["DATA.NUM_SEGMENTS"] = FRAMES
    if cfg.DATA.DATASET == "ava":
        out.update(_ava_overrides(data_dir))
    else:
        out["MODEL.NUM_CLASSES"] = len(_demo_classes())
    return out


def _ava_overrides(data_dir: str) -> dict[str, Any]:
    """The toy AVA files (videossl.data.ava_toy) in place of the real ones."""
    return {
        "AVA.FRAME_DIR": os.path.join(data_dir, "frames"),
        "AVA.ANNOTATION_DIR": os.path.join(data_dir, "annotations"),
        "AVA.VIDEO_START_SEC": 0,
        "AVA.KEYFRAME_RANGE": [1, AVA_SECONDS - 1],
        "AVA.TRAIN_GT_BOX_LISTS": ["toy_train.csv"],
        "AVA.TRAIN_PREDICT_BOX_LISTS": [],
        "AVA.TEST_PREDICT_BOX_LISTS": ["toy_val_proposals.csv"],
        "AVA.GROUNDTRUTH_FILE": "toy_val.csv",
        "AVA.LABEL_MAP_FILE": "toy_label_map.pbtxt",
        "AVA.EXCLUSION_FILE": "toy_val_excluded.csv",
        "AVA.NUM_CLASSES": 3,
    }


def schedule_overrides(cfg: CfgNode, output_dir: str) -> dict[str, Any]:
    """One epoch of one step; warm-up scaled with the epochs; evaluation on (one view)."""
    if cfg.DATA.DATASET == "ava":  # one clip per keyframe of the one val video
        test_batch = AVA_SECONDS - 1
    else:  # every view of every val/test video
        test_batch = VIDEOS_PER_CLASS * len(_demo_classes()) * cfg.TEST.NUM_SPATIAL_CROPS
    return {
        "NUM_GPUS": 1,
        "NUM_SHARDS": 1,
        "SHARD_ID": 0,
        "OUTPUT_DIR": output_dir,
        "TRAIN.BATCH_SIZE": BATCH,
        "TRAIN.MAX_ITERS_PER_EPOCH": 1,
        "TRAIN.CHECKPOINT_PERIOD": 1,
        "TRAIN.CHECKPOINT_FILE_PATH": "",
        "TRAIN.EVAL_PERIOD": 1 if cfg.TRAIN.EVAL_PERIOD > 0 else 0,
        "SOLVER.MAX_EPOCH": 1,
        "SOLVER.WARMUP_EPOCHS": cfg.SOLVER.WARMUP_EPOCHS / max(cfg.SOLVER.MAX_EPOCH, 1),
        "TEST.BATCH_SIZE": test_batch,
        "TEST.NUM_ENSEMBLE_VIEWS": 1,
        "TEST.VIEW_SWEEP": [],
        "LOG.PERIOD": 1,
    }


def shrink_overrides(cfg: CfgNode, *, data_dir: str, output_dir: str) -> list[str]:
    """``KEY VALUE`` overrides that shrink recipe ``cfg`` to a CPU-sized run of the same recipe.

    Sizes only: encoder depth/width/heads (``custom`` preset carrying the preset's structural
    options), decoder size, frames, crop, decode sizes, batch, epochs (one, of one step),
    evaluation views (one temporal view, the recipe's spatial crops), workers (0), GPUs (1), and
    the data: ``data_dir`` as written by ``write_tiny_data`` for ``data_kind(cfg)``.
    TRAIN.CHECKPOINT_FILE_PATH is cleared (the tiny encoder cannot load full-size weights).
    """
    values = {
        **encoder_overrides(cfg),
        **{f"MODEL.{k}": v for k, v in DECODER_SIZE.items()},
        **data_overrides(cfg, data_dir),
        **schedule_overrides(cfg, output_dir),
    }
    return _kv(values)


# ---- tiny data -----------------------------------------------------------------------------
AVA_SECONDS = 3
# One template per demo class (videossl.data.demo.CLASSES: shape x motion), SSv2-style.
SSV2_TEMPLATES = tuple(
    f"{verb} [a {shape}]{where}"
    for shape in ("square", "disc")
    for verb, where in (
        ("Moving", " from right to left"),
        ("Moving", " from left to right"),
        ("Zooming in on", ""),
    )
)


def _demo_classes() -> tuple[str, ...]:
    from .data.demo import CLASSES

    return CLASSES


def write_tiny_data(kind: str, root: str, *, seed: int = 0) -> str:
    """Write a tiny data set of type ``kind`` ("kinetics", "ssv2", "ava") under ``root`` unless
    it is there already; returns ``root``. Kinetics: the demo's six motion classes, one H.264
    video per class in train and two in val/test. SSv2: the same clips as VP9 ``<id>.webm``
    with the official json files. AVA: the toy frames and annotations (2 videos, 3 s)."""
    done = os.path.join(root, ".complete")
    if os.path.isfile(done):
        return root
    if kind == "kinetics":
        from .data.demo import write_demo_dataset

        write_demo_dataset(
            root,
            num_train_per_class=VIDEOS_PER_CLASS,
            num_val_per_class=VIDEOS_PER_CLASS,
            num_test_per_class=VIDEOS_PER_CLASS,
            num_frames=24,
            seed=seed,
        )
    elif kind == "ssv2":
        _write_ssv2(root, seed=seed)
    elif kind == "ava":
        from .data.ava_toy import write_toy_ava

        write_toy_ava(
            root,
            num_train_videos=1,
            num_val_videos=1,
            seconds=AVA_SECONDS,
            fps=30,
            size=CROP,
            seed=seed,
        )
    else:
        raise ValueError(f"no tiny data for {kind!r}; use one of {', '.join(TINY_DATA)}")
    with open(done, "w") as f:
        f.write(kind + "\n")
    return root


def _write_ssv2(root: str, *, seed: int) -> None:
    """SSv2 layout: labels json (template -> id), train/validation json, ``<id>.webm`` (VP9).
    Class ``c`` is the demo's class ``c`` (videossl.data.demo.CLASSES)."""
    import numpy as np

    from .data.demo import render_clip

    os.makedirs(root, exist_ok=True)
    labels = {t.replace("[", "").replace("]", ""): str(i) for i, t in enumerate(SSV2_TEMPLATES)}
    _write_json(os.path.join(root, "something-something-v2-labels.json"), labels)
    vid = 0
    for split_id, split in enumerate(("train", "validation")):
        entries = []
        for label, template in enumerate(SSV2_TEMPLATES):
            for n in range(VIDEOS_PER_CLASS):
                vid += 1
                rng = np.random.Generator(np.random.PCG64([seed, split_id, label, n]))
                frames = render_clip(label, rng, size=(CROP, CROP), num_frames=24)
                _write_webm(os.path.join(root, f"{vid}.webm"), frames)
                entries.append({"id": str(vid), "template": template, "placeholders": ["it"]})
        _write_json(os.path.join(root, f"something-something-v2-{split}.json"), entries)


def _write_json(path: str, obj: Any) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)


def _write_webm(path: str, frames, *, fps: int = 12) -> None:
    """uint8 [T,H,W,3] as VP9 in WebM, as SSv2 ships its videos (12 fps)."""
    import av

    with av.open(path, "w", format="webm") as container:
        stream = container.add_stream("libvpx-vp9", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"deadline": "realtime", "cpu-used": "8", "threads": "1"}
        for array in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode())


# ---- one run -------------------------------------------------------------------------------
@dataclass
class RecipeTrial:
    """What a tiny run of a recipe left behind (read from its OUTPUT_DIR)."""

    output_dir: str
    exit_code: int
    losses: list[float] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    evaluations: list[dict[str, Any]] = field(default_factory=list)


def read_trial(output_dir: str, exit_code: int = 0) -> RecipeTrial:
    """Train losses, checkpoints and evaluation records of a run folder."""
    trial = RecipeTrial(output_dir=output_dir, exit_code=exit_code)
    trial.checkpoints = sorted(glob.glob(os.path.join(output_dir, "checkpoints", "*.pyth")))
    path = os.path.join(output_dir, "metrics.jsonl")
    if not os.path.isfile(path):
        return trial
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    trial.losses = [r["loss"] for r in records if r.get("phase") == "train" and "loss" in r]
    trial.evaluations = [r for r in records if r.get("phase") == "test" or r.get("type") == "eval"]
    return trial


def try_recipe(
    cfg_file: str, out_dir: str, opts: list[str] | None = None, *, data_root: str | None = None
) -> RecipeTrial:
    """Run recipe ``cfg_file`` shrunk (``shrink_overrides``) on tiny data through
    ``tools/run_net.py``'s entry point: one training step, a checkpoint, and the recipe's
    evaluation (periodic and/or test, one temporal view). ``opts`` (e.g. ``MODEL.ARCH mvit``)
    apply to the recipe before it is shrunk and win over the shrinking overrides. The run goes to
    ``<out_dir>/runs/<recipe name>``, the data to ``<data_root or out_dir/data>/<dataset type>``
    (written once, reused)."""
    from .cli import main
    from .config import load_config

    opts = list(opts or [])
    cfg = load_config([cfg_file], opts)
    kind = data_kind(cfg)
    data_dir = write_tiny_data(kind, os.path.join(data_root or os.path.join(out_dir, "data"), kind))
    name = os.path.splitext(os.path.basename(cfg_file))[0]
    run_dir = os.path.join(out_dir, "runs", name)
    overrides = shrink_overrides(cfg, data_dir=data_dir, output_dir=run_dir)
    logger.info("Trying %s with: %s", cfg_file, " ".join(overrides + opts))
    code = main(["--cfg", cfg_file, *overrides, *opts])
    return read_trial(run_dir, code)
