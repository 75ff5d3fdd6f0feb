"""VideoMAE / mae_st command lines -> videossl keys, checked key by key against values worked
out by hand from the peers' scripts (MCG-NJU/VideoMAE scripts/ and run_*.py argparse;
facebookresearch/mae_st PRETRAIN.md, FINETUNE.md and main_*.py argparse)."""

from __future__ import annotations

import pytest

from videossl.config import ConfigError
from videossl.peers import mae_st_flags, videomae_flags
from videossl.peers.flags import translate_flags

# VideoMAE scripts/kinetics/videomae_vit_base_patch16_224_tubemasking_ratio_0.9_epoch_1600/
VM_PT = (
    "--data_path lists/train.csv --mask_type tube --mask_ratio 0.9 "
    "--model pretrain_videomae_base_patch16_224 --decoder_depth 4 --batch_size 32 "
    "--num_frames 16 --sampling_rate 4 --opt adamw --opt_betas 0.9 0.95 --warmup_epochs 40 "
    "--save_ckpt_freq 20 --epochs 1601 --log_dir out --output_dir out"
).split()
VM_FT = (
    "--model vit_base_patch16_224 --data_set Kinetics-400 --nb_classes 400 --data_path lists "
    "--finetune pt.pth --log_dir out --output_dir out --batch_size 6 --num_sample 2 "
    "--input_size 224 --short_side_size 224 --save_ckpt_freq 10 --num_frames 16 "
    "--sampling_rate 4 --opt adamw --lr 5e-4 --opt_betas 0.9 0.999 --weight_decay 0.05 "
    "--epochs 75 --dist_eval --test_num_segment 5 --test_num_crop 3 --enable_deepspeed"
).split()
# mae_st PRETRAIN.md / FINETUNE.md
MS_PT = (
    "--path_to_data_dir K --batch_size 2 --model mae_vit_large_patch16 --no_env --epochs 100 "
    "--distributed --num_frames 16 --decoder_embed_dim 512 --decoder_depth 4 --pin_mem "
    "--num_workers 14 --t_patch_size 2 --repeat_aug 4 --sampling_rate 4 --norm_pix_loss "
    "--blr 1.6e-3 --warmup_epochs 5 --mask_ratio 0.9 --pred_t_dim 8 --clip_grad 0.02"
).split()
MS_FT = (
    "--path_to_data_dir K --rand_aug --epochs 50 --repeat_aug 2 --model vit_large_patch16 "
    "--batch_size 2 --distributed --dist_eval --smoothing 0.1 --mixup 0.8 --cutmix 1.0 "
    "--mixup_prob 1.0 --blr 0.0024 --num_frames 16 --sampling_rate 4 --dropout 0.3 "
    "--warmup_epochs 5 --layer_decay 0.75 --drop_path_rate 0.2 --aa rand-m7-mstd0.5-inc1 "
    "--clip_grad 5.0 --fp32"
).split()


def rate(out, key="SOLVER.BASE_LR"):
    clips = out["TRAIN.BATCH_SIZE"] * out.get("SOLVER.ACCUM_STEPS", 1)
    clips *= out.get("DATA.NUM_REPEATED_SAMPLES", 1)
    return out[key] * clips / out["SOLVER.REFERENCE_BATCH"]


def test_videomae_pretrain_key_by_key():
    out = translate_flags("videomae", ["--nproc_per_node=8", "--nnodes=8", *VM_PT])
    want = {
        "NUM_GPUS": 8, "NUM_SHARDS": 8, "TRAIN.BATCH_SIZE": 64 * 32, "MODEL.OBJECTIVE": "mae",
        "VIT.PRESET": "B", "VIT.QKV_BIAS": "qv", "VIT.POS_EMBED": "sincos",
        "VIT.CLS_TOKEN": False, "MASK.TYPE": "tube", "MASK.RATIO": 0.9,
        "MODEL.DECODER_DEPTH": 4, "MODEL.DECODER_DIM": 384, "MODEL.DECODER_HEADS": 6,
        "DATA.NUM_FRAMES": 16, "DATA.SAMPLING_RATE": 4, "DATA.TARGET_FPS": 0,
        "DATA.MULTI_SCALE_CROP": [1.0, 0.875, 0.75, 0.66], "DATA.RANDOM_FLIP": False,
        "DATA.MEAN": [0.485, 0.456, 0.406], "DATA.STD": [0.229, 0.224, 0.225],
        "SOLVER.BETAS": [0.9, 0.95], "SOLVER.WARMUP_EPOCHS": 40.0, "SOLVER.MAX_EPOCH": 1601,
        "TRAIN.CHECKPOINT_PERIOD": 20, "OUTPUT_DIR": "out", "DATA.PATH_TO_DATA_DIR": "lists",
        "TARGET.PIXEL_NORM": "videomae", "SOLVER.CLIP_GRAD": 0.0, "SOLVER.WEIGHT_DECAY": 0.05,
    }  # fmt: skip
    assert {k: out[k] for k in want} == want
    # lr, min_lr, warmup_lr x 2048 / 256 (run_mae_pretraining.py defaults 1.5e-4, 1e-5, 1e-6)
    assert rate(out) == pytest.approx(1.5e-4 * 8)
    assert rate(out, "SOLVER.MIN_LR") == pytest.approx(1e-5 * 8) and out["SOLVER.SCALE_MIN_LR"]
    assert rate(out, "SOLVER.WARMUP_START_LR") == pytest.approx(1e-6 * 8)


def test_videomae_finetune_key_by_key():
    out = translate_flags("videomae", VM_FT, gpus=64)
    want = {
        "NUM_GPUS": 8, "NUM_SHARDS": 8, "TRAIN.BATCH_SIZE": 64 * 6,
        "DATA.NUM_REPEATED_SAMPLES": 2, "MODEL.OBJECTIVE": "classification",
        "MODEL.NUM_CLASSES": 400, "MODEL.POOL": "mean", "MODEL.FC_NORM": True,
        "MODEL.HEAD_INIT_SCALE": 0.001, "MODEL.DROP_PATH": 0.1, "MODEL.DROPOUT": 0.0,
        "MODEL.LABEL_SMOOTHING": 0.1, "SOLVER.LAYER_DECAY": 0.75, "SOLVER.MAX_EPOCH": 75,
        "SOLVER.WARMUP_EPOCHS": 5.0, "DATA.RAND_AUGMENT": "rand-m7-n4-mstd0.5-inc1",
        "DATA.RANDOM_ERASING": 0.25, "TRAIN.MIXUP": 0.8, "TRAIN.CUTMIX": 1.0,
        "TEST.NUM_ENSEMBLE_VIEWS": 5, "TEST.NUM_SPATIAL_CROPS": 3, "DATA.RANDOM_FLIP": True,
        "TRAIN.CHECKPOINT_FILE_PATH": "pt.pth", "DATA.PATH_TO_DATA_DIR": "lists",
    }  # fmt: skip
    assert {k: out[k] for k in want} == want
    assert rate(out) == pytest.approx(5e-4 * 384 / 256)  # videos, not clips
    assert rate(out, "SOLVER.MIN_LR") == pytest.approx(1e-6 * 384 / 256)


def test_mae_st_pretrain_key_by_key():
    out = translate_flags("mae_st", MS_PT, gpus=128)
    want = {
        "NUM_GPUS": 8, "NUM_SHARDS": 16, "TRAIN.BATCH_SIZE": 256, "VIT.PRESET": "L",
        "VIT.QKV_BIAS": "fused", "VIT.POS_EMBED": "separable", "VIT.CLS_TOKEN": True,
        "MASK.TYPE": "random", "MASK.RATIO": 0.9, "MASK.UNIT": [2, 16, 16],
        "MODEL.DECODER_DIM": 512, "MODEL.DECODER_DEPTH": 4, "MODEL.DECODER_HEADS": 16,
        "DATA.NUM_REPEATED_SAMPLES": 4, "TARGET.PIXEL_NORM": "maest", "SOLVER.CLIP_GRAD": 0.02,
        "SOLVER.BETAS": [0.9, 0.95], "SOLVER.WARMUP_EPOCHS": 5.0, "SOLVER.MAX_EPOCH": 100,
        "SOLVER.MIN_LR": 0.0, "SOLVER.WARMUP_START_LR": 0.0, "SOLVER.SCALE_MIN_LR": False,
        "DATA.MEAN": [0.45] * 3, "DATA.TARGET_FPS": 30, "DATA.NUM_WORKERS": 14,
        "DATA.TRAIN_JITTER_SCALES_RELATIVE": [0.5, 1.0], "TRAIN.AMP": "",
    }  # fmt: skip
    assert {k: out[k] for k in want} == want
    assert rate(out) == pytest.approx(1.6e-3 * 256 / 256)  # blr x videos / 256


def test_mae_st_finetune_key_by_key():
    out = translate_flags("mae_st", MS_FT, gpus=64)
    want = {
        "TRAIN.BATCH_SIZE": 128, "DATA.NUM_REPEATED_SAMPLES": 2, "MODEL.DROPOUT": 0.3,
        "MODEL.DROP_PATH": 0.2, "SOLVER.LAYER_DECAY": 0.75, "SOLVER.MAX_EPOCH": 50,
        "DATA.RAND_AUGMENT": "rand-m7-mstd0.5-inc1", "DATA.RANDOM_ERASING": 0.25,
        "TRAIN.MIXUP": 0.8, "TRAIN.CUTMIX": 1.0, "SOLVER.CLIP_GRAD": 5.0, "MODEL.POOL": "mean",
        "MODEL.LABEL_SMOOTHING": 0.1, "SOLVER.MIN_LR": 1e-6, "DATA.NUM_FRAMES": 16,
    }  # fmt: skip
    assert {k: out[k] for k in want} == want
    assert rate(out) == pytest.approx(2.4e-3 * 256 / 256)  # blr x clips / 256


def test_absolute_lr_is_kept_at_the_batch():
    out = translate_flags("mae_st", [*MS_PT, "--lr", "1e-3"], gpus=8)
    assert rate(out) == pytest.approx(1e-3)


def test_all_problems_listed_at_once():
    argv = [*VM_FT, "--bogus", "1", "--remode", "const", "--drop", "0.1", "--model_ema"]
    with pytest.raises(ConfigError) as e:
        translate_flags("videomae", argv, gpus=8)
    text = str(e.value)
    assert text.startswith("4 videomae flag(s)")
    for flag in ("--bogus", "--remode", "--drop", "--model_ema"):
        assert flag in text
    with pytest.raises(ConfigError, match="--gpus"):
        translate_flags("videomae", VM_FT)


# Flag names of the peers' argparse parsers, read from their scripts.
PEER_FLAGS = {
    "run_mae_pretraining.py": "batch_size epochs save_ckpt_freq model decoder_depth mask_type "
    "mask_ratio input_size drop_path normlize_target opt opt_eps opt_betas clip_grad momentum "
    "weight_decay weight_decay_end lr warmup_lr min_lr warmup_epochs warmup_steps "
    "use_checkpoint color_jitter train_interpolation data_path imagenet_default_mean_and_std "
    "num_frames sampling_rate output_dir log_dir device seed resume auto_resume no_auto_resume "
    "start_epoch num_workers pin_mem no_pin_mem world_size local_rank dist_on_itp dist_url",
    "main_pretrain.py": "batch_size epochs accum_iter model input_size mask_ratio norm_pix_loss "
    "weight_decay lr blr min_lr warmup_epochs path_to_data_dir output_dir log_dir device seed "
    "resume start_epoch num_workers pin_mem no_pin_mem world_size local_rank dist_on_itp "
    "no_env dist_url decoder_embed_dim decoder_depth decoder_num_heads t_patch_size num_frames "
    "checkpoint_period sampling_rate distributed repeat_aug clip_grad no_qkv_bias bias_wd "
    "num_checkpoint_del sep_pos_embed trunc_init fp32 jitter_scales_relative "
    "jitter_aspect_relative beta pred_t_dim cls_embed",
}


@pytest.mark.parametrize(
    "script,spec",
    [
        ("run_mae_pretraining.py", videomae_flags.PRETRAIN),
        ("main_pretrain.py", mae_st_flags.PRETRAIN),
    ],
)
def test_every_peer_flag_has_a_row(script, spec):
    assert {f"--{n}" for n in PEER_FLAGS[script].split()} == set(spec)
