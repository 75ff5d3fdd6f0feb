"""The recipe matrix (timm's habit of testing every registered model), for every recipe YAML
under configs/ (files starting with "_" are bases):

(a) the FULL-size model builds on the meta device and its encoder has the published parameter
    count (docs/reference.md §1, docs/benchmarks.md "Models");
(b) the same recipe shrunk with `videossl.recipes` (sizes only) trains one step through
    `tools/run_net.py`'s entry point on the CPU: finite loss, a checkpoint on disk, and the
    metric of the recipe's evaluator (top-1 or frame mAP) when the recipe evaluates;
(c) every registered encoder x objective pair trains one tiny step with finite loss and
    gradients (a newly registered encoder or objective is covered, or fails here, by itself).
"""

from __future__ import annotations

import glob
import math
import os

import pytest
import torch

from videossl.config import ConfigError, load_config
from videossl.config.validate import input_divisor
from videossl.models.build import build_model
from videossl.models.registry import ENCODERS, OBJECTIVES
from videossl.recipes import try_recipe

ROOT = os.path.join(os.path.dirname(__file__), "..", "configs")
RECIPES = sorted(
    os.path.relpath(p, ROOT)
    for p in glob.glob(os.path.join(ROOT, "**", "*.yaml"), recursive=True)
    if not os.path.basename(p).startswith("_")
)

# Published parameter counts in millions, docs/reference.md §1 (= docs/benchmarks.md "Models"), and
# the input they are quoted at (frames, crop). Counted as the table counts: encoder + a 400-way
# linear head; ViT also fc_norm and MAE-ST's learned separable position table (196 + 8 rows),
# which VideoMAE's fixed sin-cos layout does not store (docs/benchmarks.md).
PUBLISHED = {
    "ViT-S/16": (22.1, 16, 224),
    "ViT-B/16": (86.7, 16, 224),
    "ViT-L/16": (304.5, 16, 224),
    "ViT-H/16": (632.4, 16, 224),
    "MViTv2-S": (34.5, 16, 224),
    "MViTv2-S MaskFeat": (36.5, 16, 224),
    "MViTv2-B": (51.2, 32, 224),
    "MViTv2-L MaskFeat": (217.6, 16, 224),
}
TOLERANCE_M = 0.1  # the published figures' last digit (as tests/test_vit.py, test_mvit.py)
NOT_PUBLISHED = "tiny custom demo model: no published size"
# Every recipe, with the row of the table its encoder is (None: nothing published).
ENCODER_ROW = {
    "ava/MVITv2_S_16x4_AVA.yaml": "MViTv2-S",
    "ava/VIT_B_16x4_AVA.yaml": "ViT-B/16",
    "ava/toy_vit.yaml": None,
    "demo/finetune.yaml": None,
    "demo/linear_probe.yaml": None,
    "demo/pretrain_mae.yaml": None,
    "demo/pretrain_maskfeat.yaml": None,
    "kinetics/MVITv2_L_16x4_MaskFeat_FT.yaml": "MViTv2-L MaskFeat",
    "kinetics/MVITv2_L_16x4_MaskFeat_PT.yaml": "MViTv2-L MaskFeat",
    "kinetics/MVITv2_L_40x3_312_MaskFeat_FT.yaml": "MViTv2-L MaskFeat",
    "kinetics/MVITv2_S_16x4_MaskFeat_FT.yaml": "MViTv2-S MaskFeat",
    "kinetics/MVITv2_S_16x4_MaskFeat_PT.yaml": "MViTv2-S MaskFeat",
    "kinetics/MVITv2_S_16x4_scratch.yaml": "MViTv2-S",
    "kinetics/VIT_B_16x4_MAE_FT.yaml": "ViT-B/16",
    "kinetics/VIT_B_16x4_MAE_PT.yaml": "ViT-B/16",
    "kinetics/VIT_B_16x4_VideoMAE_FT.yaml": "ViT-B/16",
    "kinetics/VIT_B_16x4_VideoMAE_PT.yaml": "ViT-B/16",
    "kinetics/VIT_B_16x4_VideoMAE_linear_probe.yaml": "ViT-B/16",
    "kinetics/VIT_H_16x4_MAE_FT.yaml": "ViT-H/16",
    "kinetics/VIT_H_16x4_MAE_PT.yaml": "ViT-H/16",
    "kinetics/VIT_H_16x4_VideoMAE_FT.yaml": "ViT-H/16",
    "kinetics/VIT_H_16x4_VideoMAE_PT.yaml": "ViT-H/16",
    "kinetics/VIT_L_16x4_MAE_FT.yaml": "ViT-L/16",
    "kinetics/VIT_L_16x4_MAE_PT.yaml": "ViT-L/16",
    "kinetics/VIT_L_16x4_VideoMAE_FT.yaml": "ViT-L/16",
    "kinetics/VIT_L_16x4_VideoMAE_PT.yaml": "ViT-L/16",
    "kinetics/VIT_S_16x4_VideoMAE_FT.yaml": "ViT-S/16",
    "kinetics/VIT_S_16x4_VideoMAE_PT.yaml": "ViT-S/16",
    "ssv2/MVITv2_B_32x3_FT.yaml": "MViTv2-B",
    "ssv2/MVITv2_S_16x4_FT.yaml": "MViTv2-S",
    "ssv2/VIT_B_16x2_VideoMAE_FT.yaml": "ViT-B/16",
    "ssv2/VIT_B_16x2_VideoMAE_PT.yaml": "ViT-B/16",
    "ssv2/VIT_L_16x2_VideoMAE_FT.yaml": "ViT-L/16",
    "ssv2/VIT_L_16x2_VideoMAE_PT.yaml": "ViT-L/16",
    "ssv2/VIT_S_16x2_VideoMAE_FT.yaml": "ViT-S/16",
    "ssv2/VIT_S_16x2_VideoMAE_PT.yaml": "ViT-S/16",
}


def _path(rel: str) -> str:
    return os.path.join(ROOT, rel)


def test_every_recipe_has_a_size_entry():
    assert sorted(ENCODER_ROW) == RECIPES, "add new recipes to ENCODER_ROW (or drop stale ones)"
    assert len(RECIPES) >= 30


def _meta_encoder(rel: str, *opts: str):
    cfg = load_config([_path(rel)], list(opts))
    with torch.device("meta"):
        model = build_model(cfg)
    assert all(p.is_meta for p in model.parameters())
    return cfg, model.encoder


def _as_published(cfg, encoder, frames: int, crop: int) -> float:
    """Encoder parameters counted as docs/reference.md §1 counts them, in millions."""
    dim = encoder.embed_dim
    n = sum(p.numel() for p in encoder.parameters()) + 400 * dim + 400
    if cfg.MODEL.ARCH == "vit":
        n += 2 * dim  # fc_norm
        if cfg.VIT.POS_EMBED != "separable":  # fixed table: add the learned one counted there
            n += (frames // cfg.VIT.TUBELET_SIZE + (crop // cfg.VIT.PATCH_SIZE) ** 2) * dim
    return n / 1e6


@pytest.mark.parametrize("rel", RECIPES)
def test_full_size_encoder_has_the_published_size(rel):
    row = ENCODER_ROW[rel]
    cfg, encoder = _meta_encoder(rel)  # the full recipe, at its own input, builds on meta
    if row is None:
        assert cfg.MODEL.ARCH == "vit" and cfg.VIT.PRESET == "custom", NOT_PUBLISHED
        return
    published, frames, crop = PUBLISHED[row]
    if (cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE) != (frames, crop):
        # Quoted at another input (MViT relative-position tables grow with it): count the
        # same recipe at the published input.
        size = ["DATA.NUM_FRAMES", str(frames), "DATA.NUM_SEGMENTS", str(frames)]
        size += ["DATA.TRAIN_CROP_SIZE", str(crop), "DATA.TEST_CROP_SIZE", str(crop)]
        cfg, encoder = _meta_encoder(rel, *size)
    counted = _as_published(cfg, encoder, frames, crop)
    assert abs(counted - published) < TOLERANCE_M, f"{rel}: {counted:.2f}M vs {row} {published}M"


@pytest.mark.parametrize("rel", RECIPES)
def test_preflight_input_divisor_matches_the_built_encoder(rel):
    """The torch-free pre-flight check (config/validate.input_divisor) asks the input to be
    divisible by what the built encoder's first token grid actually divides it by."""
    cfg, encoder = _meta_encoder(rel)
    T, S = cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE
    pt, ps = input_divisor(cfg)
    assert tuple(encoder.input_grid(T, S, S)) == (T // pt, S // ps, S // ps), rel


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tiny_data"))


def _check_trial(trial, cfg, rel: str) -> None:
    assert trial.exit_code == 0, f"{rel}: run_net exited {trial.exit_code}"
    assert len(trial.losses) == 1 and math.isfinite(trial.losses[0]), (rel, trial.losses)
    assert trial.checkpoints and all(os.path.getsize(p) > 0 for p in trial.checkpoints)
    evaluates = cfg.TEST.ENABLE or cfg.TRAIN.EVAL_PERIOD > 0
    metric = "mAP" if cfg.DATA.DATASET == "ava" else "top1"
    if not evaluates:  # pretraining recipes: no evaluator
        assert trial.evaluations == []
        return
    expected = int(bool(cfg.TEST.ENABLE)) + int(cfg.TRAIN.EVAL_PERIOD > 0)
    assert len(trial.evaluations) == expected, trial.evaluations
    for record in trial.evaluations:
        assert math.isfinite(record[metric]), (rel, record)


@pytest.mark.parametrize("rel", RECIPES)
def test_shrunk_recipe_trains_checkpoints_and_evaluates(rel, tmp_path, data_root):
    trial = try_recipe(_path(rel), str(tmp_path), data_root=data_root)
    _check_trial(trial, load_config([_path(rel)]), rel)


def _template(objective: str) -> str:
    """The first published recipe (sorted) of `objective`: its masker, targets, head, data."""
    published = [r for r in RECIPES if not r.startswith("demo/") and "toy" not in r]
    for rel in published + RECIPES:  # published recipes first: the demo's are tiny-patch ViTs
        if load_config([_path(rel)]).MODEL.OBJECTIVE == objective:
            return rel
    raise AssertionError(f"objective {objective!r} has no recipe under configs/: add one")


def _supported(arch: str, objective: str) -> bool:
    encoders = OBJECTIVES.spec(objective).get("encoders")
    return encoders is None or arch in encoders


PAIRS = [(e, o) for e, _ in sorted(ENCODERS) for o, _ in sorted(OBJECTIVES)]


def test_pairs_cover_the_registries():
    assert {e for e, _ in PAIRS} >= {"vit", "mvit"}
    assert {o for _, o in PAIRS} >= {"maskfeat", "mae", "classification", "ava"}
    assert len(PAIRS) == len(list(ENCODERS)) * len(list(OBJECTIVES))
    # Every objective runs on at least one encoder, every encoder under MaskFeat and fine-tuning.
    assert all(any(_supported(e, o) for e, _ in ENCODERS) for _, o in PAIRS)
    assert all(_supported(e, o) for e, _ in ENCODERS for o in ("maskfeat", "classification"))


@pytest.mark.parametrize("arch,objective", PAIRS)
def test_every_encoder_objective_pair_trains_a_step(arch, objective, tmp_path, data_root):
    """Supported pairs train a step; a pair the objective's registry entry excludes is refused
    before any work, by the pre-flight check and by the builder, with the reason."""
    rel = _template(objective)
    if not _supported(arch, objective):
        with pytest.raises(ConfigError, match=f"does not run on MODEL.ARCH='{arch}'"):
            load_config([_path(rel)], ["MODEL.ARCH", arch])
        cfg = load_config([_path(rel)])
        cfg.defrost()
        cfg.MODEL.ARCH = arch
        with pytest.raises(ValueError, match="runs on MODEL.ARCH"):
            build_model(cfg)
        return
    trial = try_recipe(_path(rel), str(tmp_path), ["MODEL.ARCH", arch], data_root=data_root)
    assert trial.exit_code == 0
    assert len(trial.losses) == 1 and math.isfinite(trial.losses[0])
    records = _train_records(trial.output_dir)
    assert records and all(math.isfinite(r["grad_norm"]) for r in records)


def _train_records(run_dir: str) -> list[dict]:
    import json

    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [r for r in map(json.loads, f) if r.get("phase") == "train"]
