"""The recipe audit of configs/README.md, checked value by value against the peers.

Each row holds the value as the peer's released script or config writes it (read through the
search tool: MCG-NJU/VideoMAE scripts/ and run_*.py, facebookresearch/mae_st main_*.py and
PRETRAIN.md / FINETUNE.md, facebookresearch/SlowFast configs/), and the rule that turns it into
what one optimiser step sees, computed here from our loaded recipe.
"""

from __future__ import annotations

import os

import pytest

from videossl.config import load_config

ROOT = os.path.join(os.path.dirname(__file__), "..", "configs")
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
VIDEOMAE_SCALES = [1.0, 0.875, 0.75, 0.66]


def _load(rel: str):
    return load_config([os.path.join(ROOT, rel)])


def _clips(cfg) -> int:
    return cfg.TRAIN.BATCH_SIZE * cfg.SOLVER.ACCUM_STEPS * cfg.DATA.NUM_REPEATED_SAMPLES


def _videos(cfg) -> int:
    return cfg.TRAIN.BATCH_SIZE * cfg.SOLVER.ACCUM_STEPS


def _rate(cfg, value: float) -> float:
    """The rate one step uses for a rate written per REFERENCE_BATCH clips."""
    return value * _clips(cfg) / cfg.SOLVER.REFERENCE_BATCH


VIDEOMAE = [
    # recipe, gpus x per-gpu batch (videos), --lr, --min_lr, --warmup_lr (run_*.py defaults)
    ("kinetics/VIT_S_16x4_VideoMAE_PT.yaml", 32 * 32, 1.5e-4, 1e-5, 1e-6),
    ("kinetics/VIT_B_16x4_VideoMAE_PT.yaml", 64 * 32, 1.5e-4, 1e-5, 1e-6),
    ("kinetics/VIT_L_16x4_VideoMAE_PT.yaml", 64 * 8, 1.5e-4, 1e-5, 1e-6),
    ("kinetics/VIT_H_16x4_VideoMAE_PT.yaml", 64 * 16, 1.5e-4, 1e-5, 1e-6),
    ("ssv2/VIT_S_16x2_VideoMAE_PT.yaml", 64 * 32, 1.5e-4, 1e-5, 1e-6),
    ("ssv2/VIT_B_16x2_VideoMAE_PT.yaml", 64 * 32, 1.5e-4, 1e-5, 1e-6),
    ("kinetics/VIT_S_16x4_VideoMAE_FT.yaml", 32 * 12, 5e-4, 1e-6, 1e-6),
    ("kinetics/VIT_B_16x4_VideoMAE_FT.yaml", 64 * 6, 5e-4, 1e-6, 1e-6),
    ("kinetics/VIT_L_16x4_VideoMAE_FT.yaml", 64 * 2, 2e-3, 1e-6, 1e-6),
    ("kinetics/VIT_H_16x4_VideoMAE_FT.yaml", 64 * 8, 1e-3, 1e-5, 1e-8),
    ("ssv2/VIT_S_16x2_VideoMAE_FT.yaml", 32 * 12, 1e-3, 1e-6, 1e-6),
    ("ssv2/VIT_B_16x2_VideoMAE_FT.yaml", 64 * 6, 5e-4, 1e-6, 1e-6),
]


@pytest.mark.parametrize("rel,videos,lr,min_lr,warmup_lr", VIDEOMAE)
def test_videomae_batch_rates_and_normalisation(rel, videos, lr, min_lr, warmup_lr):
    """VideoMAE: lr, min_lr and warmup_lr are all x total videos / 256; ImageNet mean/std."""
    cfg = _load(rel)
    assert _videos(cfg) == videos
    assert _rate(cfg, cfg.SOLVER.BASE_LR) == pytest.approx(lr * videos / 256)
    assert cfg.SOLVER.SCALE_MIN_LR
    assert _rate(cfg, cfg.SOLVER.MIN_LR) == pytest.approx(min_lr * videos / 256)
    assert _rate(cfg, cfg.SOLVER.WARMUP_START_LR) == pytest.approx(warmup_lr * videos / 256)
    assert (list(cfg.DATA.MEAN), list(cfg.DATA.STD)) == IMAGENET


@pytest.mark.parametrize("rel", [r for r, *_ in VIDEOMAE if r.endswith("_PT.yaml")])
def test_videomae_pretraining_multi_scale_crop_no_flip(rel):
    cfg = _load(rel)
    assert list(cfg.DATA.MULTI_SCALE_CROP) == VIDEOMAE_SCALES
    assert cfg.DATA.MULTI_SCALE_MAX_DISTORT == 1
    assert not cfg.DATA.RANDOM_FLIP


def test_mae_st_rates_count_videos_in_pretraining_and_clips_in_fine_tuning():
    """mae_st main_pretrain.py: eff_batch = batch x accum x world (videos); main_finetune.py
    multiplies it by repeat_aug (clips)."""
    pt = _load("kinetics/VIT_L_16x4_MAE_PT.yaml")
    assert _rate(pt, pt.SOLVER.BASE_LR) == pytest.approx(1.6e-3 * _videos(pt) / 256)
    ft = _load("kinetics/VIT_L_16x4_MAE_FT.yaml")
    assert ft.DATA.NUM_REPEATED_SAMPLES == 2
    assert _rate(ft, ft.SOLVER.BASE_LR) == pytest.approx(2.4e-3 * _clips(ft) / 256)


@pytest.mark.parametrize("variant", ["S", "L"])
def test_maskfeat_pretraining_rate_is_pyslowfast_per_node(variant):
    """PySlowFast: 1e-4 per 8-GPU node of TRAIN.BATCH_SIZE 32, x NUM_SHARDS."""
    cfg = _load(f"kinetics/MVITv2_{variant}_16x4_MaskFeat_PT.yaml")
    shards = _clips(cfg) / 32
    assert _rate(cfg, cfg.SOLVER.BASE_LR) == pytest.approx(1e-4 * shards)
    assert cfg.SOLVER.SCALE_MIN_LR  # COSINE_END_LR x NUM_SHARDS too
    assert _rate(cfg, cfg.SOLVER.MIN_LR) == pytest.approx(1e-6 * shards)


@pytest.mark.parametrize(
    "rel,node_clips",
    [
        ("kinetics/MVITv2_S_16x4_MaskFeat_FT.yaml", 32),
        ("kinetics/MVITv2_L_16x4_MaskFeat_FT.yaml", 16),
        ("kinetics/MVITv2_S_16x4_scratch.yaml", 32),
        ("ssv2/MVITv2_S_16x4_FT.yaml", 16),
        ("kinetics/VIT_H_16x4_MAE_FT.yaml", 16),
    ],
)
def test_pyslowfast_end_rates_scale_with_nodes(rel, node_clips):
    """BASE_LR_SCALE_NUM_SHARDS: base, warm-up start and end rates x NUM_SHARDS."""
    cfg = _load(rel)
    assert cfg.SOLVER.REFERENCE_BATCH == node_clips and cfg.SOLVER.SCALE_MIN_LR


def test_maskfeat_l_pretrains_800_epochs():
    assert _load("kinetics/MVITv2_L_16x4_MaskFeat_PT.yaml").SOLVER.MAX_EPOCH == 800


@pytest.mark.parametrize(
    "rel",
    [
        "kinetics/MVITv2_S_16x4_MaskFeat_FT.yaml",
        "kinetics/MVITv2_S_16x4_scratch.yaml",
        "ssv2/MVITv2_S_16x4_FT.yaml",
        "ssv2/MVITv2_B_32x3_FT.yaml",
    ],
)
def test_mvit_fine_tuning_colour_jitter_as_pyslowfast_runs_it(rel):
    """AUG.COLOR_JITTER 0.4 is written, but PySlowFast's video datasets never read it."""
    assert _load(rel).DATA.COLOR_JITTER == 0.0


@pytest.mark.parametrize("rel", ["ssv2/MVITv2_S_16x4_FT.yaml", "ssv2/MVITv2_B_32x3_FT.yaml"])
def test_ssv2_mvit_short_side_jitter_bgr(rel):
    cfg = _load(rel)
    assert not cfg.DATA.USE_RANDOM_RESIZED_CROP and not list(cfg.DATA.MULTI_SCALE_CROP)
    assert list(cfg.DATA.TRAIN_JITTER_SCALES) == [256, 320] and cfg.DATA.INV_UNIFORM_SAMPLE
    assert cfg.DATA.INPUT_CHANNEL_ORDER == "bgr" and not cfg.DATA.RANDOM_FLIP
    assert cfg.DATA.RAND_AUGMENT == "rand-m7-n4-mstd0.5-inc1"
    assert cfg.SOLVER.OPTIMIZER == "sgd" and cfg.SOLVER.WEIGHT_DECAY == 1e-4


def test_ava_mvit_uses_sgd():
    cfg = _load("ava/MVITv2_S_16x4_AVA.yaml")
    assert cfg.SOLVER.OPTIMIZER == "sgd" and cfg.SOLVER.MOMENTUM == 0.9
    assert (cfg.SOLVER.MAX_EPOCH, cfg.SOLVER.WARMUP_EPOCHS) == (30, 5)
    assert _rate(cfg, cfg.SOLVER.BASE_LR) == pytest.approx(0.1 * _clips(cfg) / 64)
