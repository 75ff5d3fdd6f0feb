"""facebookresearch/mae_st flags (``main_pretrain.py``, ``main_finetune.py``) -> videossl.

``--model mae_vit_*`` selects pretraining, ``--model vit_*`` fine-tuning. The rate is ``--lr``
or ``--blr x effective batch / 256``; the effective batch is ``batch_size x accum_iter x world``
videos in pretraining and that x ``repeat_aug`` clips in fine-tuning. ``--min_lr`` is absolute
and the warm-up starts from 0. Clips are sampled at 30 fps and normalised with 0.45 / 0.225.
"""

from __future__ import annotations

from typing import Any

from .flags import Args, Flag, batch_keys, parse_flags

_MODELS = {"base_patch16": ("B", 16), "large_patch16": ("L", 16), "huge_patch14": ("H", 14)}

_COMMON = {
    "--batch_size": Flag("batch_size", "int", 4),
    "--epochs": Flag("epochs", "int", 100),
    "--accum_iter": Flag("accum_iter", "int", 1),
    "--input_size": Flag("input_size", "int", 224),
    "--weight_decay": Flag("weight_decay", "float", 0.05),
    "--lr": Flag("lr", "float", None),
    "--blr": Flag("blr", "float", 1e-3),
    "--min_lr": Flag("min_lr", "float", 0.0),
    "--path_to_data_dir": Flag("path_to_data_dir", "str", ""),
    "--output_dir": Flag("output_dir", "str", "./output_dir"),
    "--log_dir": Flag("log_dir", "str", ""),
    "--device": Flag("device", "str", "cuda"),
    "--seed": Flag("seed", "int", 0),
    "--resume": Flag("resume", "str", ""),
    "--start_epoch": Flag("start_epoch", "int", 0),
    "--num_workers": Flag("num_workers", "int", 10),
    "--pin_mem": Flag("pin_mem", "on", True),
    "--no_pin_mem": Flag("pin_mem", "off", True),
    "--world_size": Flag("world_size", "int", 1),
    "--local_rank": Flag("local_rank", "int", -1),
    "--dist_on_itp": Flag("dist_on_itp", "on", False),
    "--no_env": Flag("no_env", "on", False),
    "--dist_url": Flag("dist_url", "str", "env://"),
    "--t_patch_size": Flag("t_patch_size", "int", 2),
    "--checkpoint_period": Flag("checkpoint_period", "int", 1),
    "--distributed": Flag("distributed", "on", False),
    "--clip_grad": Flag("clip_grad", "float", None),
    "--no_qkv_bias": Flag("no_qkv_bias", "on", False),
    "--sep_pos_embed": Flag("sep_pos_embed", "on", True),
    "--fp32": Flag("fp32", "on", True),
    "--cls_embed": Flag("cls_embed", "on", True),
}

PRETRAIN = {
    **_COMMON,
    "--model": Flag("model", "str", "mae_vit_large_patch16"),
    "--mask_ratio": Flag("mask_ratio", "float", 0.75),
    "--norm_pix_loss": Flag("norm_pix_loss", "on", False),
    "--warmup_epochs": Flag("warmup_epochs", "int", 40),
    "--decoder_embed_dim": Flag("decoder_embed_dim", "int", 512),
    "--decoder_depth": Flag("decoder_depth", "int", 8),
    "--decoder_num_heads": Flag("decoder_num_heads", "int", 16),
    "--num_frames": Flag("num_frames", "int", 16),
    "--sampling_rate": Flag("sampling_rate", "int", 4),
    "--repeat_aug": Flag("repeat_aug", "int", 4),
    "--bias_wd": Flag("bias_wd", "on", False),
    "--num_checkpoint_del": Flag("num_checkpoint_del", "int", 20),
    "--trunc_init": Flag("trunc_init", "on", False),
    "--jitter_scales_relative": Flag("jitter_scales_relative", "floats", [0.5, 1.0]),
    "--jitter_aspect_relative": Flag("jitter_aspect_relative", "floats", [0.75, 1.3333]),
    "--beta": Flag("beta", "floats", None),
    "--pred_t_dim": Flag("pred_t_dim", "int", 8),
}

FINETUNE = {
    **_COMMON,
    "--batch_size": Flag("batch_size", "int", 64),
    "--epochs": Flag("epochs", "int", 50),
    "--model": Flag("model", "str", "vit_large_patch16"),
    "--dropout": Flag("dropout", "float", 0.5),
    "--drop_path_rate": Flag("drop_path_rate", "float", 0.1),
    "--layer_decay": Flag("layer_decay", "float", 0.75),
    "--min_lr": Flag("min_lr", "float", 1e-6),
    "--warmup_epochs": Flag("warmup_epochs", "int", 5),
    "--color_jitter": Flag("color_jitter", "float", None),
    "--aa": Flag("aa", "str", "rand-m7-mstd0.5-inc1"),
    "--smoothing": Flag("smoothing", "float", 0.1),
    "--reprob": Flag("reprob", "float", 0.25),
    "--remode": Flag("remode", "str", "pixel"),
    "--recount": Flag("recount", "int", 1),
    "--resplit": Flag("resplit", "on", False),
    "--mixup": Flag("mixup", "float", 0.0),
    "--cutmix": Flag("cutmix", "float", 0.0),
    "--cutmix_minmax": Flag("cutmix_minmax", "floats", None),
    "--mixup_prob": Flag("mixup_prob", "float", 1.0),
    "--mixup_switch_prob": Flag("mixup_switch_prob", "float", 0.5),
    "--mixup_mode": Flag("mixup_mode", "str", "batch"),
    "--finetune": Flag("finetune", "str", ""),
    "--global_pool": Flag("global_pool", "on", True),
    "--cls_token": Flag("global_pool", "off", True),
    "--num_classes": Flag("num_classes", "int", 400),
    "--eval": Flag("eval", "on", False),
    "--dist_eval": Flag("dist_eval", "on", False),
    "--rand_aug": Flag("rand_aug", "on", False),
    "--num_frames": Flag("num_frames", "int", 32),
    "--sampling_rate": Flag("sampling_rate", "int", 2),
    "--repeat_aug": Flag("repeat_aug", "int", 1),
    "--cpu_mix": Flag("cpu_mix", "on", False),
    "--jitter_scales_relative": Flag("jitter_scales_relative", "floats", [0.08, 1.0]),
    "--jitter_aspect_relative": Flag("jitter_aspect_relative", "floats", [0.75, 1.3333]),
}


def _common(args: Args, out: dict[str, Any], gpus: int | None, prefix: str) -> None:
    name = args["model"]
    preset, patch = _MODELS.get(name.removeprefix(prefix), (None, 16))
    if preset is None:
        known = ", ".join(prefix + m for m in _MODELS)
        args.bad.append(f"--model {name!r}: videossl knows {known}")
    out.update({"MODEL.ARCH": "vit", "VIT.PRESET": preset or "L", "VIT.PATCH_SIZE": patch})
    out.update({"VIT.QKV_BIAS": "fused", "VIT.POS_EMBED": "separable", "VIT.CLS_TOKEN": True})
    out["VIT.TUBELET_SIZE"] = args["t_patch_size"]
    batch_keys(args, out, gpus)
    out.update({"DATA.DATASET": "kinetics", "DATA.TARGET_FPS": 30})
    out["DATA.MEAN"], out["DATA.STD"] = [0.45] * 3, [0.225] * 3
    out["DATA.NUM_FRAMES"], out["DATA.SAMPLING_RATE"] = args["num_frames"], args["sampling_rate"]
    out["DATA.TRAIN_CROP_SIZE"] = out["DATA.TEST_CROP_SIZE"] = args["input_size"]
    out["DATA.USE_RANDOM_RESIZED_CROP"], out["DATA.RANDOM_FLIP"] = True, True
    out["DATA.TRAIN_JITTER_SCALES_RELATIVE"] = list(args["jitter_scales_relative"])
    out["DATA.TRAIN_JITTER_ASPECT_RELATIVE"] = list(args["jitter_aspect_relative"])
    out["DATA.NUM_REPEATED_SAMPLES"] = args["repeat_aug"]
    out["SOLVER.ACCUM_STEPS"] = args["accum_iter"]
    out["SOLVER.OPTIMIZER"], out["SOLVER.WEIGHT_DECAY"] = "adamw", args["weight_decay"]
    out["SOLVER.MIN_LR"], out["SOLVER.SCALE_MIN_LR"] = args["min_lr"], False
    out["SOLVER.WARMUP_START_LR"] = 0.0  # lr x epoch / warmup_epochs
    out["SOLVER.WARMUP_EPOCHS"] = float(args["warmup_epochs"])
    out["SOLVER.MAX_EPOCH"], out["SOLVER.CLIP_GRAD"] = args["epochs"], args["clip_grad"] or 0.0
    out["TRAIN.CHECKPOINT_PERIOD"], out["TRAIN.AMP"] = args["checkpoint_period"], ""
    out["DATA.NUM_WORKERS"], out["DATA.PIN_MEMORY"] = args["num_workers"], args["pin_mem"]
    out["RNG_SEED"], out["OUTPUT_DIR"] = args["seed"], args["output_dir"]
    if args["path_to_data_dir"]:
        out["DATA.PATH_TO_DATA_DIR"] = args["path_to_data_dir"]
    args.require("no_qkv_bias", False, "mae_st's ViT has q/k/v biases")
    args.require("sep_pos_embed", True, "separable position embeddings")
    args.require("cls_embed", True, "a cls token")
    args.require("resume", "", "resume with TRAIN.AUTO_RESUME from OUTPUT_DIR")
    args.require("start_epoch", 0, "the epoch comes from the checkpoint")


def _rate(args: Args, out: dict[str, Any], clips_per_counted: int) -> None:
    """--lr (absolute at this batch) or --blr per 256 counted samples."""
    clips = out["TRAIN.BATCH_SIZE"] * out["SOLVER.ACCUM_STEPS"] * out["DATA.NUM_REPEATED_SAMPLES"]
    if args["lr"] is not None:
        out["SOLVER.BASE_LR"], out["SOLVER.REFERENCE_BATCH"] = args["lr"], clips
    else:
        out["SOLVER.BASE_LR"] = args["blr"]
        out["SOLVER.REFERENCE_BATCH"] = 256 * clips_per_counted


def _pretrain(args: Args, out: dict[str, Any]) -> None:
    out.update({"MODEL.OBJECTIVE": "mae", "TARGET.NAMES": ["pixel"], "TARGET.WEIGHTS": [1.0]})
    out["TARGET.PIXEL_NORM"] = "maest" if args["norm_pix_loss"] else "none"
    out.update({"MASK.TYPE": "random", "MASK.RATIO": args["mask_ratio"]})
    out["MASK.UNIT"] = [args["t_patch_size"], out["VIT.PATCH_SIZE"], out["VIT.PATCH_SIZE"]]
    out["MODEL.DECODER_DIM"] = args["decoder_embed_dim"]
    out["MODEL.DECODER_DEPTH"] = args["decoder_depth"]
    out["MODEL.DECODER_HEADS"] = args["decoder_num_heads"]
    out.update({"MODEL.DECODER_POS": "learned_sep", "MODEL.DECODER_QKV_BIAS": "fused"})
    out.update({"MODEL.DECODER_PROJ_BIAS": True, "MODEL.DECODER_CLS": True})
    out["SOLVER.BETAS"] = list(args["beta"] or [0.9, 0.95])
    out.update({"TEST.ENABLE": False, "DATA.RAND_AUGMENT": "", "DATA.RANDOM_ERASING": 0.0})
    _rate(args, out, args["repeat_aug"])  # blr counts videos
    args.require("pred_t_dim", args["num_frames"] // args["t_patch_size"], "one slice a token")
    args.require("bias_wd", False, "no weight decay on biases and norms")
    args.require("trunc_init", False, "videossl's initialisation")


def _finetune(args: Args, out: dict[str, Any]) -> None:
    out.update({"MODEL.OBJECTIVE": "classification", "MODEL.LOSS": "soft_cross_entropy"})
    out["MODEL.POOL"] = "mean" if args["global_pool"] else "cls"
    out["MODEL.FC_NORM"] = bool(args["global_pool"])
    out["MODEL.NUM_CLASSES"], out["MODEL.LABEL_SMOOTHING"] = args["num_classes"], args["smoothing"]
    out["MODEL.DROPOUT"], out["MODEL.DROP_PATH"] = args["dropout"], args["drop_path_rate"]
    out["SOLVER.LAYER_DECAY"], out["SOLVER.BETAS"] = args["layer_decay"], [0.9, 0.999]
    out["DATA.RAND_AUGMENT"] = args["aa"] if args["rand_aug"] else ""
    out["DATA.RANDOM_ERASING"] = args["reprob"] if args["rand_aug"] else 0.0
    out["TRAIN.MIXUP"], out["TRAIN.CUTMIX"] = args["mixup"], args["cutmix"]
    out["TRAIN.ENABLE"] = not args["eval"]
    if args["finetune"]:
        out["TRAIN.CHECKPOINT_FILE_PATH"] = args["finetune"]
    _rate(args, out, 1)  # blr counts clips (repeat_aug included)
    args.require("remode", "pixel", "erased boxes hold per-pixel values")
    args.require("recount", 1, "one erased box")
    args.require("resplit", False, "no split")
    args.require("cutmix_minmax", None, "CutMix box from TRAIN.CUTMIX alpha")
    args.require("mixup_prob", 1.0, "mixing on every batch")
    args.require("mixup_switch_prob", 0.5, "MixUp or CutMix with equal chance")
    args.require("mixup_mode", "batch", "one mixing per batch")
    # --color_jitter: mae_st's video loader never reads it.


_PRETRAIN_ONLY = {"--mask_ratio", "--norm_pix_loss", "--decoder_depth", "--pred_t_dim"}


def translate(argv: list[str], gpus: int | None) -> tuple[dict[str, Any], list[str]]:
    """mae_st flags -> ({videossl key: value}, problems)."""
    pretrain = any("mae_vit_" in a or a.split("=")[0] in _PRETRAIN_ONLY for a in argv)
    spec = PRETRAIN if pretrain else FINETUNE
    args = parse_flags(argv, spec, "main_pretrain.py" if pretrain else "main_finetune.py")
    out: dict[str, Any] = {}
    _common(args, out, gpus, "mae_vit_" if pretrain else "vit_")
    (_pretrain if pretrain else _finetune)(args, out)
    return out, args.bad
