"""The published recipes under configs/: every YAML loads and validates, and the key numbers
match docs/reference.md §5 and the peers' released configs."""

from __future__ import annotations

import glob
import os

import pytest

from videossl.config import ConfigError, load_config

ROOT = os.path.join(os.path.dirname(__file__), "..", "configs")
RECIPES = sorted(
    p
    for p in glob.glob(os.path.join(ROOT, "**", "*.yaml"), recursive=True)
    if not os.path.basename(p).startswith("_")
)
# MViTv2 at 312 px: the validator asks every arch for crops divisible by 16 (MViT needs 4).
PUBLISHED = ("kinetics", "ssv2")


def _load(rel: str, *opts: str):
    return load_config([os.path.join(ROOT, rel)], list(opts))


def _params(published_only: bool = False):
    for path in RECIPES:
        if published_only and os.path.relpath(path, ROOT).split(os.sep)[0] not in PUBLISHED:
            continue
        yield pytest.param(path, id=os.path.relpath(path, ROOT))


def test_recipes_exist():
    names = {os.path.relpath(p, ROOT) for p in RECIPES}
    for expected in (
        "kinetics/MVITv2_S_16x4_MaskFeat_PT.yaml",
        "kinetics/MVITv2_S_16x4_MaskFeat_FT.yaml",
        "kinetics/MVITv2_L_16x4_MaskFeat_PT.yaml",
        "kinetics/MVITv2_L_16x4_MaskFeat_FT.yaml",
        "kinetics/MVITv2_S_16x4_scratch.yaml",
        "kinetics/VIT_H_16x4_MAE_PT.yaml",
        "kinetics/VIT_H_16x4_VideoMAE_FT.yaml",
        "kinetics/VIT_S_16x4_VideoMAE_PT.yaml",
        "ssv2/VIT_L_16x2_VideoMAE_FT.yaml",
        "ssv2/MVITv2_B_32x3_FT.yaml",
    ):
        assert expected in names


@pytest.mark.parametrize("path", list(_params()))
def test_every_config_loads(path):
    cfg = load_config([path])
    assert cfg.is_frozen()


@pytest.mark.parametrize("path", list(_params(published_only=True)))
def test_recipe_runs_on_any_node_count(path):
    cfg = load_config([path])
    assert cfg.OUTPUT_DIR.startswith("output/")
    # Global batches split evenly over 1 or 2 nodes of 8 GPUs.
    two_nodes = load_config([path], ["NUM_SHARDS", "2"])
    assert two_nodes.TRAIN.BATCH_SIZE % 16 == 0 and two_nodes.TEST.BATCH_SIZE % 16 == 0
    if cfg.DATA.DATASET == "ssv2" or os.sep + "ssv2" + os.sep in path:
        assert not cfg.DATA.RANDOM_FLIP


@pytest.mark.parametrize("path", [p.values[0] for p in _params(published_only=True)])
def test_readme_lists_recipe(path):
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    assert os.path.relpath(path, ROOT) in readme


def clips_per_step(cfg) -> int:
    return cfg.TRAIN.BATCH_SIZE * cfg.SOLVER.ACCUM_STEPS * cfg.DATA.NUM_REPEATED_SAMPLES


def test_maskfeat_mvit_s_pretrain():
    cfg = _load("kinetics/MVITv2_S_16x4_MaskFeat_PT.yaml")
    assert (cfg.MODEL.OBJECTIVE, cfg.MODEL.ARCH, cfg.MVIT.PRESET) == (
        "maskfeat",
        "mvit",
        "S_MASKFEAT",
    )
    assert (cfg.DATA.NUM_FRAMES, cfg.DATA.SAMPLING_RATE, cfg.DATA.TRAIN_CROP_SIZE) == (16, 4, 224)
    assert cfg.MASK.TYPE == "cube" and cfg.MASK.RATIO == 0.4 and list(cfg.MASK.UNIT) == [2, 32, 32]
    assert list(cfg.TARGET.NAMES) == ["hog"]
    # PySlowFast: 1e-4 per node of 32 clips (tests/test_recipe_audit.py checks the rule).
    assert cfg.SOLVER.BASE_LR * 32 / cfg.SOLVER.REFERENCE_BATCH == pytest.approx(1e-4)
    assert cfg.SOLVER.WEIGHT_DECAY == 0.05 and cfg.SOLVER.CLIP_GRAD == 0.02
    assert (cfg.SOLVER.MAX_EPOCH, cfg.SOLVER.WARMUP_EPOCHS, cfg.SOLVER.MIN_LR) == (300, 10, 1e-6)
    assert list(cfg.DATA.TRAIN_JITTER_SCALES_RELATIVE) == [0.5, 1.0] and cfg.DATA.RANDOM_FLIP
    assert not cfg.TEST.ENABLE
    assert _load("kinetics/MVITv2_L_16x4_MaskFeat_PT.yaml").SOLVER.MAX_EPOCH == 800


def test_maskfeat_mvit_s_finetune():
    cfg = _load("kinetics/MVITv2_S_16x4_MaskFeat_FT.yaml")
    assert cfg.MVIT.PRESET == "S_MASKFEAT" and cfg.MODEL.OBJECTIVE == "classification"
    # 6e-4 for one PySlowFast node: 16 videos x 2 repeated samples.
    assert cfg.SOLVER.BASE_LR * 16 * 2 / cfg.SOLVER.REFERENCE_BATCH == pytest.approx(6e-4)
    assert cfg.SOLVER.LAYER_DECAY == 0.75 and cfg.MODEL.DROP_PATH == 0.1
    assert (cfg.SOLVER.MAX_EPOCH, cfg.SOLVER.WARMUP_EPOCHS) == (100, 20)
    assert cfg.DATA.RAND_AUGMENT == "rand-m7-mstd0.5-inc1" and cfg.DATA.RANDOM_ERASING == 0.25
    assert (cfg.TRAIN.MIXUP, cfg.TRAIN.CUTMIX, cfg.MODEL.LABEL_SMOOTHING) == (0.8, 1.0, 0.1)
    assert cfg.DATA.NUM_REPEATED_SAMPLES == 2 and cfg.MODEL.HEAD_INIT_SCALE == 0.001
    assert cfg.MODEL.POOL == "mean"
    assert (cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_SPATIAL_CROPS) == (10, 1)


def test_scratch_mvit_s():
    cfg = _load("kinetics/MVITv2_S_16x4_scratch.yaml")
    assert cfg.MVIT.PRESET == "S" and cfg.TRAIN.CHECKPOINT_FILE_PATH == ""
    assert (cfg.SOLVER.MAX_EPOCH, cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_SPATIAL_CROPS) == (
        200,
        5,
        1,
    )


def test_videomae_vit_b_kinetics():
    pt = _load("kinetics/VIT_B_16x4_VideoMAE_PT.yaml")
    assert pt.MODEL.OBJECTIVE == "mae" and pt.VIT.PRESET == "B" and pt.VIT.QKV_BIAS == "qv"
    assert pt.MASK.TYPE == "tube" and pt.MASK.RATIO == 0.9
    assert list(pt.SOLVER.BETAS) == [0.9, 0.95] and pt.SOLVER.WEIGHT_DECAY == 0.05
    assert pt.SOLVER.BASE_LR == 1.5e-4 and pt.SOLVER.REFERENCE_BATCH == 256
    assert pt.SOLVER.WARMUP_EPOCHS == 40 and pt.SOLVER.MAX_EPOCH in (800, 1600)
    assert pt.DATA.SAMPLING_RATE == 4
    assert (pt.MODEL.DECODER_DEPTH, pt.MODEL.DECODER_DIM) == (4, 768 // 2)
    assert pt.TARGET.PIXEL_NORM == "videomae"
    ft = _load("kinetics/VIT_B_16x4_VideoMAE_FT.yaml")
    # VideoMAE: lr 5e-4 x videos / 256 (repeated samples not counted).
    lr = ft.SOLVER.BASE_LR * clips_per_step(ft) / ft.SOLVER.REFERENCE_BATCH
    assert lr == pytest.approx(5e-4 * ft.TRAIN.BATCH_SIZE / 256)
    assert ft.SOLVER.LAYER_DECAY == 0.75 and ft.MODEL.DROP_PATH == 0.1
    assert ft.SOLVER.WARMUP_EPOCHS == 5 and ft.DATA.RAND_AUGMENT == "rand-m7-n4-mstd0.5-inc1"
    assert (ft.TEST.NUM_ENSEMBLE_VIEWS, ft.TEST.NUM_SPATIAL_CROPS) == (5, 3)


def test_videomae_ssv2():
    pt = _load("ssv2/VIT_B_16x2_VideoMAE_PT.yaml")
    assert pt.DATA.SAMPLING_RATE == 2 and not pt.DATA.RANDOM_FLIP
    ft = _load("ssv2/VIT_B_16x2_VideoMAE_FT.yaml")
    assert ft.DATA.DATASET == "ssv2" and ft.MODEL.NUM_CLASSES == 174
    assert ft.DATA.NUM_SEGMENTS == ft.DATA.NUM_FRAMES == 16 and not ft.DATA.RANDOM_FLIP
    assert (ft.TEST.NUM_ENSEMBLE_VIEWS, ft.TEST.NUM_SPATIAL_CROPS) == (2, 3)
    mvit = _load("ssv2/MVITv2_B_32x3_FT.yaml")
    assert mvit.MVIT.PRESET == "B" and mvit.DATA.NUM_SEGMENTS == 32


def test_mae_st():
    pt = _load("kinetics/VIT_L_16x4_MAE_PT.yaml")
    assert pt.MASK.TYPE == "random" and pt.MASK.RATIO == 0.9
    assert (pt.MODEL.DECODER_DEPTH, pt.MODEL.DECODER_DIM) == (4, 512)
    assert pt.DATA.NUM_REPEATED_SAMPLES == 4 and pt.SOLVER.CLIP_GRAD == 0.02
    # mae_st: blr per 256 videos (each gives 4 clips).
    assert pt.SOLVER.BASE_LR == 1.6e-3 and pt.SOLVER.REFERENCE_BATCH == 256 * 4
    assert pt.VIT.POS_EMBED == "separable" and pt.TARGET.PIXEL_NORM == "maest"
    # 1600 effective epochs: epochs x repeated samples.
    assert pt.SOLVER.MAX_EPOCH * pt.DATA.NUM_REPEATED_SAMPLES == 1600
    ft = _load("kinetics/VIT_L_16x4_MAE_FT.yaml")
    assert (ft.TEST.NUM_ENSEMBLE_VIEWS, ft.TEST.NUM_SPATIAL_CROPS) == (7, 3)
    assert ft.SOLVER.BASE_LR == 2.4e-3 and ft.SOLVER.REFERENCE_BATCH == 256


def test_overrides_still_apply_to_recipes():
    cfg = _load(
        "kinetics/VIT_B_16x4_VideoMAE_FT.yaml", "SOLVER.ACCUM_STEPS", "4", "TRAIN.BATCH_SIZE", "96"
    )
    assert clips_per_step(cfg) == 96 * 4 * 2
    with pytest.raises(ConfigError, match="SOLVER.BASE_LR"):
        _load("kinetics/VIT_B_16x4_VideoMAE_FT.yaml", "SOLVER.BASE_LRR", "1")


def test_mvit_maskfeat_recipe_builds_and_trains_one_step():
    """The flagship recipe builds its HOG target on the encoder's own output patch (2x16x16,
    not the 2x4x4 stem stride) and one training step gives finite losses."""
    import torch

    from videossl.models.build import build_model

    cfg = _load(
        "kinetics/MVITv2_S_16x4_MaskFeat_PT.yaml",
        *("MVIT.PRESET", "custom", "MVIT.EMBED_DIM", "16", "MVIT.NUM_HEADS", "1"),
        *("MVIT.DEPTHS", "[1, 1, 1, 1]", "DATA.NUM_FRAMES", "4"),
        *("DATA.TRAIN_CROP_SIZE", "64", "DATA.TEST_CROP_SIZE", "64"),
    )
    model = build_model(cfg)
    assert model.encoder.patch_size == (2, 16, 16)
    ((target, _),) = model.targets.values()
    assert target.patch_size == model.encoder.patch_size
    torch.manual_seed(0)
    video = torch.randn(2, 3, 4, 64, 64)
    losses = model({"video": video})
    total = sum(v for k, v in losses.items() if k.startswith("loss"))
    assert torch.isfinite(total)
    total.backward()
    assert model.encoder.mask_token.grad is not None
