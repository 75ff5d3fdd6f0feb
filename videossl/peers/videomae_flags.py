"""MCG-NJU/VideoMAE flags (``run_mae_pretraining.py``, ``run_class_finetuning.py``) -> videossl.

The flag tables hold each script's argparse names and defaults. ``--model pretrain_videomae_*``
selects pretraining, ``--model vit_*`` fine-tuning. VideoMAE scales ``lr``, ``min_lr`` and
``warmup_lr`` by ``total batch / 256`` with the batch counted in videos (each gives
``--num_sample`` clips), normalises with ImageNet's mean/std, samples frames at a fixed stride of
the decoded video (no frame-rate resampling) and pretrains with its multi-scale crop, no flip.
"""

from __future__ import annotations

import os
from typing import Any

from .flags import IMAGENET_MEAN, IMAGENET_STD, Args, Flag, batch_keys, optimizer_keys, parse_flags

_SIZES = {"small": ("S", 192, 3), "base": ("B", 384, 6), "large": ("L", 512, 8), "huge": ("H", 640, 8)}  # fmt: skip  # noqa: E501

_COMMON = {
    "--batch_size": Flag("batch_size", "int", 64),
    "--save_ckpt_freq": Flag("save_ckpt_freq", "int", 50),
    "--model": Flag("model", "str", "pretrain_videomae_base_patch16_224"),
    "--input_size": Flag("input_size", "int", 224),
    "--opt": Flag("opt", "str", "adamw"),
    "--opt_eps": Flag("opt_eps", "float", 1e-8),
    "--opt_betas": Flag("opt_betas", "floats", None),
    "--clip_grad": Flag("clip_grad", "float", None),
    "--momentum": Flag("momentum", "float", 0.9),
    "--weight_decay": Flag("weight_decay", "float", 0.05),
    "--weight_decay_end": Flag("weight_decay_end", "float", None),
    "--warmup_lr": Flag("warmup_lr", "float", 1e-6),
    "--warmup_steps": Flag("warmup_steps", "int", -1),
    "--use_checkpoint": Flag("use_checkpoint", "on", False),
    "--color_jitter": Flag("color_jitter", "float", 0.0),
    "--train_interpolation": Flag("train_interpolation", "str", "bicubic"),
    "--data_path": Flag("data_path", "str", ""),
    "--imagenet_default_mean_and_std": Flag("imagenet_default_mean_and_std", "on", True),
    "--num_frames": Flag("num_frames", "int", 16),
    "--sampling_rate": Flag("sampling_rate", "int", 4),
    "--output_dir": Flag("output_dir", "str", ""),
    "--log_dir": Flag("log_dir", "str", None),
    "--device": Flag("device", "str", "cuda"),
    "--seed": Flag("seed", "int", 0),
    "--resume": Flag("resume", "str", ""),
    "--auto_resume": Flag("auto_resume", "on", True),
    "--no_auto_resume": Flag("auto_resume", "off", True),
    "--start_epoch": Flag("start_epoch", "int", 0),
    "--num_workers": Flag("num_workers", "int", 10),
    "--pin_mem": Flag("pin_mem", "on", True),
    "--no_pin_mem": Flag("pin_mem", "off", True),
    "--world_size": Flag("world_size", "int", 1),
    "--local_rank": Flag("local_rank", "int", -1),
    "--dist_on_itp": Flag("dist_on_itp", "on", False),
    "--dist_url": Flag("dist_url", "str", "env://"),
}

PRETRAIN = {
    **_COMMON,
    "--epochs": Flag("epochs", "int", 800),
    "--decoder_depth": Flag("decoder_depth", "int", 4),
    "--mask_type": Flag("mask_type", "str", "tube"),
    "--mask_ratio": Flag("mask_ratio", "float", 0.75),
    "--drop_path": Flag("drop_path", "float", 0.0),
    "--normlize_target": Flag("normlize_target", "bool", True),
    "--lr": Flag("lr", "float", 1.5e-4),
    "--min_lr": Flag("min_lr", "float", 1e-5),
    "--warmup_epochs": Flag("warmup_epochs", "int", 40),
}

FINETUNE = {
    **_COMMON,
    "--save_ckpt_freq": Flag("save_ckpt_freq", "int", 100),
    "--model": Flag("model", "str", "vit_base_patch16_224"),
    "--epochs": Flag("epochs", "int", 30),
    "--update_freq": Flag("update_freq", "int", 1),
    "--tubelet_size": Flag("tubelet_size", "int", 2),
    "--fc_drop_rate": Flag("fc_drop_rate", "float", 0.0),
    "--drop": Flag("drop", "float", 0.0),
    "--attn_drop_rate": Flag("attn_drop_rate", "float", 0.0),
    "--drop_path": Flag("drop_path", "float", 0.1),
    "--disable_eval_during_finetuning": Flag("disable_eval", "on", False),
    "--model_ema": Flag("model_ema", "on", False),
    "--model_ema_decay": Flag("model_ema_decay", "float", 0.9999),
    "--model_ema_force_cpu": Flag("model_ema_force_cpu", "on", False),
    "--lr": Flag("lr", "float", 1e-3),
    "--layer_decay": Flag("layer_decay", "float", 0.75),
    "--min_lr": Flag("min_lr", "float", 1e-6),
    "--warmup_epochs": Flag("warmup_epochs", "int", 5),
    "--color_jitter": Flag("color_jitter", "float", 0.4),
    "--num_sample": Flag("num_sample", "int", 2),
    "--aa": Flag("aa", "str", "rand-m7-n4-mstd0.5-inc1"),
    "--smoothing": Flag("smoothing", "float", 0.1),
    "--crop_pct": Flag("crop_pct", "float", None),
    "--short_side_size": Flag("short_side_size", "int", 224),
    "--test_num_segment": Flag("test_num_segment", "int", 5),
    "--test_num_crop": Flag("test_num_crop", "int", 3),
    "--reprob": Flag("reprob", "float", 0.25),
    "--remode": Flag("remode", "str", "pixel"),
    "--recount": Flag("recount", "int", 1),
    "--resplit": Flag("resplit", "on", False),
    "--mixup": Flag("mixup", "float", 0.8),
    "--cutmix": Flag("cutmix", "float", 1.0),
    "--cutmix_minmax": Flag("cutmix_minmax", "floats", None),
    "--mixup_prob": Flag("mixup_prob", "float", 1.0),
    "--mixup_switch_prob": Flag("mixup_switch_prob", "float", 0.5),
    "--mixup_mode": Flag("mixup_mode", "str", "batch"),
    "--finetune": Flag("finetune", "str", ""),
    "--model_key": Flag("model_key", "str", "model|module"),
    "--model_prefix": Flag("model_prefix", "str", ""),
    "--init_scale": Flag("init_scale", "float", 0.001),
    "--use_mean_pooling": Flag("use_mean_pooling", "on", True),
    "--use_cls": Flag("use_mean_pooling", "off", True),
    "--eval_data_path": Flag("eval_data_path", "str", None),
    "--nb_classes": Flag("nb_classes", "int", 400),
    "--num_segments": Flag("num_segments", "int", 1),
    "--data_set": Flag("data_set", "str", "Kinetics-400"),
    "--save_ckpt": Flag("save_ckpt", "on", True),
    "--no_save_ckpt": Flag("save_ckpt", "off", True),
    "--eval": Flag("eval", "on", False),
    "--dist_eval": Flag("dist_eval", "on", False),
    "--enable_deepspeed": Flag("enable_deepspeed", "on", False),
}


def _layout(args: Args, out: dict[str, Any], size: str) -> None:
    """Keys shared by both scripts: VideoMAE's ViT, data, rates, runtime."""
    out.update({"MODEL.ARCH": "vit", "VIT.PRESET": _SIZES[size][0], "VIT.PATCH_SIZE": 16})
    out.update({"VIT.QKV_BIAS": "qv", "VIT.POS_EMBED": "sincos", "VIT.CLS_TOKEN": False})
    out["DATA.MEAN"], out["DATA.STD"] = list(IMAGENET_MEAN), list(IMAGENET_STD)
    out["DATA.NUM_FRAMES"], out["DATA.SAMPLING_RATE"] = args["num_frames"], args["sampling_rate"]
    out["DATA.TARGET_FPS"] = 0  # frames at a fixed stride of the decoded video
    out["DATA.TRAIN_CROP_SIZE"] = out["DATA.TEST_CROP_SIZE"] = args["input_size"]
    out["SOLVER.BASE_LR"], out["SOLVER.MIN_LR"] = args["lr"], args["min_lr"]
    out["SOLVER.WARMUP_START_LR"], out["SOLVER.SCALE_MIN_LR"] = args["warmup_lr"], True
    out["SOLVER.WARMUP_EPOCHS"] = float(args["warmup_epochs"])
    out["SOLVER.MAX_EPOCH"] = args["epochs"]
    optimizer_keys(args, out)
    out["TRAIN.CHECKPOINT_PERIOD"] = args["save_ckpt_freq"]
    out["TRAIN.AUTO_RESUME"] = args["auto_resume"]
    out["MODEL.ACT_CHECKPOINT"] = args["use_checkpoint"]
    out["MODEL.DROP_PATH"] = args["drop_path"]
    out["DATA.NUM_WORKERS"], out["DATA.PIN_MEMORY"] = args["num_workers"], args["pin_mem"]
    out["RNG_SEED"] = args["seed"]
    if args["output_dir"]:
        out["OUTPUT_DIR"] = args["output_dir"]
    args.require("train_interpolation", "bicubic", "RandAugment interpolates bicubically")
    args.require("imagenet_default_mean_and_std", True, "ImageNet mean/std")
    args.require("resume", "", "resume with TRAIN.AUTO_RESUME from OUTPUT_DIR")
    args.require("start_epoch", 0, "the epoch comes from the checkpoint")


def _pretrain(args: Args, out: dict[str, Any], size: str) -> None:
    out.update({"MODEL.OBJECTIVE": "mae", "TARGET.NAMES": ["pixel"], "TARGET.WEIGHTS": [1.0]})
    out["TARGET.PIXEL_NORM"] = "videomae" if args["normlize_target"] else "none"
    out["MASK.TYPE"], out["MASK.RATIO"] = args["mask_type"], args["mask_ratio"]
    out["MASK.UNIT"], out["VIT.TUBELET_SIZE"] = [2, 16, 16], 2
    _, dim, heads = _SIZES[size]
    out.update({"MODEL.DECODER_DIM": dim, "MODEL.DECODER_HEADS": heads})
    out["MODEL.DECODER_DEPTH"] = args["decoder_depth"]
    out["MODEL.DROPOUT"] = 0.0
    out["DATA.MULTI_SCALE_CROP"] = [1.0, 0.875, 0.75, 0.66]
    out["DATA.RANDOM_FLIP"], out["TEST.ENABLE"] = False, False
    out["DATA.RAND_AUGMENT"], out["DATA.RANDOM_ERASING"] = "", 0.0
    out["SOLVER.REFERENCE_BATCH"] = 256
    if args["data_path"]:  # the train.csv list itself
        out["DATA.PATH_TO_DATA_DIR"] = os.path.dirname(args["data_path"]) or "."
    # --color_jitter exists in run_mae_pretraining.py but nothing reads it.


def _finetune(args: Args, out: dict[str, Any], size: str) -> None:
    ssv2 = args["data_set"] == "SSV2"
    args.require("data_set", ("Kinetics-400", "SSV2"), "the Kinetics and SSv2 datasets")
    out["DATA.DATASET"] = "ssv2" if ssv2 else "kinetics"
    out["DATA.RANDOM_FLIP"] = not ssv2
    if ssv2:  # VideoMAE's SSv2 loader takes num_frames segments, one frame each
        out["DATA.NUM_SEGMENTS"] = args["num_frames"]
    out.update({"MODEL.OBJECTIVE": "classification", "MODEL.FC_NORM": True})
    out["MODEL.POOL"] = "mean" if args["use_mean_pooling"] else "cls"
    out["MODEL.LOSS"], out["MODEL.LABEL_SMOOTHING"] = "soft_cross_entropy", args["smoothing"]
    out["MODEL.HEAD_INIT_SCALE"], out["MODEL.DROPOUT"] = args["init_scale"], args["fc_drop_rate"]
    out["MODEL.NUM_CLASSES"], out["VIT.TUBELET_SIZE"] = args["nb_classes"], args["tubelet_size"]
    out["SOLVER.LAYER_DECAY"], out["SOLVER.ACCUM_STEPS"] = args["layer_decay"], args["update_freq"]
    out["DATA.NUM_REPEATED_SAMPLES"] = args["num_sample"]
    out["SOLVER.REFERENCE_BATCH"] = 256 * args["num_sample"]  # the rate counts videos
    out["DATA.USE_RANDOM_RESIZED_CROP"] = True
    out["DATA.TRAIN_JITTER_SCALES_RELATIVE"] = [0.08, 1.0]
    out["DATA.TRAIN_JITTER_ASPECT_RELATIVE"] = [0.75, 1.3333]
    out["DATA.RAND_AUGMENT"], out["DATA.RANDOM_ERASING"] = args["aa"], args["reprob"]
    out["TRAIN.MIXUP"], out["TRAIN.CUTMIX"] = args["mixup"], args["cutmix"]
    out["TEST.NUM_ENSEMBLE_VIEWS"] = args["test_num_segment"]
    out["TEST.NUM_SPATIAL_CROPS"] = args["test_num_crop"]
    out["TRAIN.EVAL_PERIOD"] = 0 if args["disable_eval"] else 1
    out["TRAIN.ENABLE"] = not args["eval"]
    if args["finetune"]:
        out["TRAIN.CHECKPOINT_FILE_PATH"] = args["finetune"]
    if args["data_path"]:
        out["DATA.PATH_TO_DATA_DIR"] = args["data_path"]
    _finetune_fixed(args)


def _finetune_fixed(args: Args) -> None:
    args.require("drop", 0.0, "no dropout inside the blocks")
    args.require("attn_drop_rate", 0.0, "no attention dropout")
    args.require("model_ema", False, "TRAIN.EMA is the EMA of videossl")
    args.require("short_side_size", args["input_size"], "test short side = crop size")
    args.require("crop_pct", None, "test views resize the short side to the crop")
    args.require("remode", "pixel", "erased boxes hold per-pixel values")
    args.require("recount", 1, "one erased box")
    args.require("resplit", False, "no split")
    args.require("cutmix_minmax", None, "CutMix box from TRAIN.CUTMIX alpha")
    args.require("mixup_prob", 1.0, "mixing on every batch")
    args.require("mixup_switch_prob", 0.5, "MixUp or CutMix with equal chance")
    args.require("mixup_mode", "batch", "one mixing per batch")
    args.require("num_segments", 1, "one clip per video")
    args.require("eval_data_path", None, "the val list sits beside the train list")
    args.require("model_key", "model|module", "checkpoint keys found automatically")
    args.require("model_prefix", "", "checkpoint keys found automatically")
    # --color_jitter: VideoMAE's fine-tuning augmentation reads only --aa, never this flag.


def _size(args: Args, prefix: str) -> str | None:
    name = args["model"]
    for size in _SIZES:
        if name == f"{prefix}{size}_patch16_224":
            return size
    known = f"{prefix}{{small,base,large,huge}}_patch16_224"
    args.bad.append(f"--model {name!r}: videossl knows {known}")
    return None


_PRETRAIN_ONLY = {"--mask_type", "--mask_ratio", "--decoder_depth", "--normlize_target"}


def translate(argv: list[str], gpus: int | None) -> tuple[dict[str, Any], list[str]]:
    """VideoMAE flags -> ({videossl key: value}, problems)."""
    pretrain = any("pretrain_videomae" in a or a in _PRETRAIN_ONLY for a in argv)
    spec = PRETRAIN if pretrain else FINETUNE
    script = "run_mae_pretraining.py" if pretrain else "run_class_finetuning.py"
    args = parse_flags(argv, spec, script)
    out: dict[str, Any] = {"DATA.DATASET": "kinetics"}
    batch_keys(args, out, gpus)
    size = _size(args, "pretrain_videomae_" if pretrain else "vit_") or "base"
    _layout(args, out, size)
    (_pretrain if pretrain else _finetune)(args, out, size)
    return out, args.bad
