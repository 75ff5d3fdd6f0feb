"""PySlowFast YAML configs through --cfg: the translation table key by key, exact batch and
learning-rate semantics, one error listing every key without an equivalent, and one training
step on CPU for each of PySlowFast's configs (tests/data/pyslowfast, unmodified copies)."""

import math
from pathlib import Path

import pytest
import yaml

from videossl.config import ConfigError, get_defaults, load_config
from videossl.peers import pyslowfast_config as psf

DATA = Path(__file__).resolve().parent / "data" / "pyslowfast"
CONFIGS = sorted(p.name for p in DATA.glob("*.yaml"))


def _tree(name):
    return yaml.safe_load((DATA / name).read_text())


def test_seven_configs_present():
    assert len(CONFIGS) == 7


@pytest.mark.parametrize("name", CONFIGS)
def test_every_key_of_the_config_is_in_the_table(name):
    flat = psf.flatten(_tree(name))
    assert psf.is_pyslowfast(_tree(name))
    assert [k for k in flat if k not in psf.TABLE] == []


def test_table_targets_are_real_keys():
    """Every 'same' / 'rename' rule lands on a key that exists in videossl's defaults."""
    defaults = get_defaults()

    def has(key):
        node = defaults
        for part in key.split("."):
            if part not in node:
                return False
            node = node[part]
        return True

    for key, rule in psf.TABLE.items():
        if rule.kind == "same":
            assert has(key), key
        if rule.kind == "rename":
            assert has(rule.to), (key, rule.to)
        assert rule.kind in ("same", "rename", "convert", "fixed", "none"), key
        if rule.kind == "none":
            assert rule.why, key


# Key-by-key expectations for the translation of each rule kind.
@pytest.mark.parametrize(
    "their, value, ours, expected",
    [
        ("TRAIN.DATASET", "Kinetics", "DATA.DATASET", "kinetics"),
        ("TRAIN.MIXED_PRECISION", True, "TRAIN.AMP", "fp16"),
        ("TRAIN.MIXED_PRECISION", False, "TRAIN.AMP", ""),
        ("DATA.DECODING_BACKEND", "torchvision", "DATA.DECODER", "pyav"),
        ("DATA.DECODING_SHORT_SIZE", 320, "DATA.DECODE_SHORT_SIDE", 320),
        ("DATA.REVERSE_INPUT_CHANNEL", True, "DATA.INPUT_CHANNEL_ORDER", "bgr"),
        ("DATA.INV_UNIFORM_SAMPLE", True, "DATA.INV_UNIFORM_SAMPLE", True),
        ("DATA_LOADER.NUM_WORKERS", 3, "DATA.NUM_WORKERS", 3),
        ("MVIT.DROPPATH_RATE", 0.3, "MODEL.DROP_PATH", 0.3),
        ("MVIT.HEAD_INIT_SCALE", 0.001, "MODEL.HEAD_INIT_SCALE", 0.001),
        ("MVIT.POOL_KVQ_KERNEL", [3, 3, 3], "MVIT.POOL_KERNEL", [3, 3, 3]),
        ("MVIT.POOL_KV_STRIDE_ADAPTIVE", [1, 4, 4], "MVIT.POOL_KV_STRIDE", [1, 4, 4]),
        ("MODEL.DROPOUT_RATE", 0.3, "MODEL.DROPOUT", 0.3),
        ("SOLVER.OPTIMIZING_METHOD", "SGD", "SOLVER.OPTIMIZER", "sgd"),
        ("SOLVER.CLIP_GRAD_L2NORM", 0.02, "SOLVER.CLIP_GRAD", 0.02),
        ("SOLVER.CLIP_GRAD_L2NORM", None, "SOLVER.CLIP_GRAD", 0.0),
        ("SOLVER.BETAS", "(0.9, 0.95)", "SOLVER.BETAS", [0.9, 0.95]),
        ("SOLVER.COSINE_END_LR", 1e-5, "SOLVER.MIN_LR", 1e-5),
        ("AUG.MASK_RATIO", 0.9, "MASK.RATIO", 0.9),
        ("AUG.GEN_MASK_LOADER", True, "MASK.IN_LOADER", True),
        ("MASK.DECODER_EMBED_DIM", 256, "MODEL.DECODER_DIM", 256),
        ("DETECTION.ROI_XFORM_RESOLUTION", 5, "AVA.ROI_RESOLUTION", 5),
        ("AVA.DETECTION_SCORE_THRESH", 0.7, "AVA.DETECTION_SCORE_THRESH", 0.7),
        ("TEST.NUM_SPATIAL_CROPS", 3, "TEST.NUM_SPATIAL_CROPS", 3),
        ("NUM_GPUS", 4, "NUM_GPUS", 4),
    ],
)
def test_translation_key_by_key(their, value, ours, expected):
    tree = _tree("Kinetics__MVITv2_S_16x4.yaml")
    section, _, leaf = their.rpartition(".")
    (tree.setdefault(section, {}) if section else tree)[leaf] = value
    out = psf.translate(tree)
    assert out[ours] == expected


def _effective_lr_pyslowfast(lr, shards, scale):
    return lr * shards if scale else lr


@pytest.mark.parametrize("shards", [1, 2, 4])
@pytest.mark.parametrize("scale", [True, False])
def test_batch_and_lr_mean_the_same(shards, scale):
    """PySlowFast: per-node batch, lr x shards when scaled; ours: global batch, lr per
    REFERENCE_BATCH clips. The effective rates (base, warm-up start, end) must agree."""
    tree = _tree("masked_ssl__k400_MVITv2_S_16x4_FT.yaml")
    tree["NUM_SHARDS"] = shards
    tree["SOLVER"]["BASE_LR_SCALE_NUM_SHARDS"] = scale
    out = psf.translate(tree)
    node_batch, repeated = 16, 2  # TRAIN.BATCH_SIZE, AUG.NUM_SAMPLE
    assert out["TRAIN.BATCH_SIZE"] == node_batch * shards
    assert out["TEST.BATCH_SIZE"] == 64 * shards
    clips = out["TRAIN.BATCH_SIZE"] * out["DATA.NUM_REPEATED_SAMPLES"]
    assert clips == node_batch * repeated * shards
    ours = out["SOLVER.BASE_LR"] * clips / out["SOLVER.REFERENCE_BATCH"]
    assert math.isclose(ours, _effective_lr_pyslowfast(6e-4, shards, scale))
    for key, theirs in (("SOLVER.MIN_LR", 1e-6), ("SOLVER.WARMUP_START_LR", 1e-6)):
        factor = clips / out["SOLVER.REFERENCE_BATCH"] if out["SOLVER.SCALE_MIN_LR"] else 1
        assert math.isclose(out[key] * factor, _effective_lr_pyslowfast(theirs, shards, scale))


def test_maskfeat_pt_effective_rate_matches_pyslowfast_on_16_nodes():
    """The issue's case: 1e-4 per node of 32 clips, scaled by shards -> 1.6e-3 on 16 nodes.
    NUM_SHARDS given on the command line keeps PySlowFast's meaning for a PySlowFast file."""
    path = str(DATA / "masked_ssl__k400_MVITv2_S_16x4_MaskFeat_PT.yaml")
    cfg = load_config([path], ["NUM_SHARDS", "16", "LOG.PERIOD", "3"])
    clips = cfg.TRAIN.BATCH_SIZE * cfg.DATA.NUM_REPEATED_SAMPLES
    assert clips == 512 and cfg.LOG.PERIOD == 3
    assert math.isclose(cfg.SOLVER.BASE_LR * clips / cfg.SOLVER.REFERENCE_BATCH, 1.6e-3)
    # A per-node batch override is per node too.
    cfg = load_config([path], ["NUM_SHARDS", "2", "TRAIN.BATCH_SIZE", "64"])
    assert cfg.TRAIN.BATCH_SIZE == 128
    assert math.isclose(cfg.SOLVER.BASE_LR * 128 / cfg.SOLVER.REFERENCE_BATCH, 2e-4)


def test_structure_of_translations():
    pt = psf.translate(_tree("masked_ssl__k400_MVITv2_S_16x4_MaskFeat_PT.yaml"))
    assert pt["MODEL.OBJECTIVE"] == "maskfeat" and pt["MVIT.DEPTHS"] == [1, 2, 11, 2]
    assert pt["MVIT.DIM_MUL_IN_ATT"] is False and pt["MASK.UNIT"] == [2, 32, 32]
    assert pt["MASK.TYPE"] == "cube" and pt["TARGET.NAMES"] == ["hog"]
    assert pt["DATA.USE_RANDOM_RESIZED_CROP"] and pt["DATA.RAND_AUGMENT"] == ""
    assert pt["TRAIN.EVAL_PERIOD"] == 0  # 1000000 = never
    mae = psf.translate(_tree("masked_ssl__k400_VIT_B_16x4_MAE_PT.yaml"))
    assert mae["MODEL.ARCH"] == "vit" and mae["VIT.PATCH_SIZE"] == 16
    assert mae["MASK.TYPE"] == "random" and mae["MODEL.DECODER_DIM"] == 512
    assert mae["VIT.POS_EMBED"] == "separable" and mae["DATA.NUM_REPEATED_SAMPLES"] == 4
    assert mae["SOLVER.BETAS"] == [0.9, 0.95]
    k400 = psf.translate(_tree("Kinetics__MVITv2_S_16x4.yaml"))
    assert k400["MVIT.DIM_MUL_IN_ATT"] is True and k400["MODEL.POOL"] == "cls"
    assert k400["TRAIN.MIXUP"] == 0.8 and k400["MODEL.LOSS"] == "soft_cross_entropy"
    assert k400["DATA.RAND_AUGMENT"] == "rand-m7-n4-mstd0.5-inc1"
    ssv2 = psf.translate(_tree("SSv2__MVITv2_S_16x4.yaml"))
    # no TRAIN_JITTER_SCALES_RELATIVE: short-side jitter + crop, inverse-uniform sizes
    assert ssv2["DATA.USE_RANDOM_RESIZED_CROP"] is False and ssv2["DATA.INV_UNIFORM_SAMPLE"]
    assert ssv2["DATA.INPUT_CHANNEL_ORDER"] == "bgr" and ssv2["SOLVER.OPTIMIZER"] == "sgd"
    ft = psf.translate(_tree("masked_ssl__k400_VIT_B_16x4_FT.yaml"))
    assert ft["TEST.NUM_ENSEMBLE_VIEWS"] == 10 and ft["TEST.VIEW_SWEEP"] == [5, 7]
    assert ft["MODEL.POOL"] == "mean" and ft["SOLVER.LAYER_DECAY"] == 0.65
    ava = psf.translate(_tree("AVA__MVITv2_S_16x4.yaml"))
    assert ava["MODEL.OBJECTIVE"] == "ava" and ava["AVA.NUM_CLASSES"] == 80


def test_defaults_that_differ_follow_pyslowfast():
    """A key left out means PySlowFast's default, not ours (e.g. MODEL.DROPOUT_RATE 0.5)."""
    tree = _tree("Kinetics__MVITv2_S_16x4.yaml")
    del tree["MODEL"]["DROPOUT_RATE"], tree["SOLVER"]["WEIGHT_DECAY"]
    out = psf.translate(tree)
    assert out["MODEL.DROPOUT"] == 0.5 and out["SOLVER.WEIGHT_DECAY"] == 1e-4


def test_reverse_input_channel_gives_the_same_numbers():
    """PySlowFast: normalise RGB with MEAN/STD, then reverse. Ours: reverse, then normalise
    with the translated (reversed) MEAN/STD."""
    import torch

    tree = _tree("SSv2__MVITv2_S_16x4.yaml")
    tree["DATA"]["MEAN"], tree["DATA"]["STD"] = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
    out = psf.translate(tree)
    rgb = torch.rand(3, 2, 4, 4)
    mean, std = torch.tensor([0.4, 0.5, 0.6]), torch.tensor([0.2, 0.25, 0.3])
    theirs = ((rgb - mean.view(3, 1, 1, 1)) / std.view(3, 1, 1, 1))[[2, 1, 0]]
    m, s = torch.tensor(out["DATA.MEAN"]), torch.tensor(out["DATA.STD"])
    ours = (rgb[[2, 1, 0]] - m.view(3, 1, 1, 1)) / s.view(3, 1, 1, 1)
    torch.testing.assert_close(ours, theirs)


def test_keys_without_equivalent_fail_in_one_message(tmp_path):
    tree = _tree("Kinetics__MVITv2_S_16x4.yaml")
    tree["RESNET"] = {"DEPTH": 50}
    tree["MVIT"]["MODE"] = "max"
    tree["SOLVER"]["LR_POLICY"] = "steps_with_relative_lrs"
    tree["TRAIN"]["CHECKPOINT_TYPE"] = "caffe2"
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(tree))
    with pytest.raises(ConfigError) as e:
        load_config([str(path)])
    msg = str(e.value)
    assert "4 PySlowFast key(s)" in msg
    for key in ("RESNET.DEPTH", "MVIT.MODE", "SOLVER.LR_POLICY", "TRAIN.CHECKPOINT_TYPE"):
        assert key in msg


def test_cfg_format_forces_or_disables_translation(tmp_path):
    path = tmp_path / "plain.yaml"
    vit = "MVIT:\n  PATCH_KERNEL: [2, 16, 16]\n  PATCH_STRIDE: [2, 16, 16]\n"
    vit += "  PATCH_PADDING: [0, 0, 0]\n"
    path.write_text("MODEL:\n  ARCH: mvit\nSOLVER:\n  MAX_EPOCH: 3\n" + vit)
    cfg = load_config([str(path)], cfg_format="pyslowfast")
    assert cfg.SOLVER.MAX_EPOCH == 3 and cfg.MODEL.DROPOUT == 0.5  # PySlowFast's default
    with pytest.raises(ConfigError, match="TASK"):
        load_config([str(DATA / "masked_ssl__k400_MVITv2_S_16x4_FT.yaml")], cfg_format="videossl")


# One training step each, tiny sizes, CPU.
COMMON = ["NUM_GPUS", "1", "NUM_SHARDS", "1", "DATA.NUM_WORKERS", "0", "TEST.ENABLE", "False"]
COMMON += ["SOLVER.MAX_EPOCH", "1", "TRAIN.MAX_ITERS_PER_EPOCH", "1", "TRAIN.BATCH_SIZE", "2"]
COMMON += ["DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "64", "DATA.TEST_CROP_SIZE", "64"]
COMMON += ["DATA.TRAIN_JITTER_SCALES", "[64, 72]", "DATA.DECODE_SHORT_SIDE", "0"]
COMMON += ["LOG.PERIOD", "1", "TRAIN.AUTO_RESUME", "False", "DATA.PIN_MEMORY", "False"]
MVIT_TINY = ["MVIT.EMBED_DIM", "8", "MVIT.DEPTHS", "[1, 1, 1, 1]"]
VIT_TINY = ["VIT.EMBED_DIM", "32", "VIT.DEPTH", "1", "VIT.NUM_HEADS", "2"]
VIT_TINY += ["MODEL.DECODER_DIM", "32", "MODEL.DECODER_DEPTH", "1", "MODEL.DECODER_HEADS", "2"]
EXTRA = {
    "masked_ssl__k400_MVITv2_S_16x4_MaskFeat_PT.yaml": MVIT_TINY + ["MASK.UNIT", "[2, 16, 16]"],
    "masked_ssl__k400_MVITv2_S_16x4_FT.yaml": MVIT_TINY,
    "Kinetics__MVITv2_S_16x4.yaml": MVIT_TINY,
    "SSv2__MVITv2_S_16x4.yaml": MVIT_TINY + ["DATA.NUM_SEGMENTS", "4"],
    "AVA__MVITv2_S_16x4.yaml": MVIT_TINY,
    "masked_ssl__k400_VIT_B_16x4_MAE_PT.yaml": VIT_TINY + ["TRAIN.ENABLE", "True"],
    "masked_ssl__k400_VIT_B_16x4_FT.yaml": VIT_TINY,
}


@pytest.fixture(scope="module")
def kinetics_root(tmp_path_factory):
    from videossl.data.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("k")
    write_demo_dataset(
        str(root),
        num_train_per_class=1,
        num_val_per_class=1,
        num_test_per_class=1,
        size=(64, 64),
        num_frames=24,
    )
    return root


def _data_opts(name, root, tmp_path):
    if name.startswith("SSv2"):
        from test_ssv2 import make_ssv2

        make_ssv2(tmp_path)
        return ["DATA.PATH_TO_DATA_DIR", str(tmp_path)]
    if name.startswith("AVA"):
        toy = tmp_path / "ava_toy"
        opts = ["DATA.DEMO", "ava_toy", "DATA.PATH_TO_DATA_DIR", str(toy)]
        opts += ["AVA.FRAME_DIR", str(toy / "frames")]
        opts += ["AVA.ANNOTATION_DIR", str(toy / "annotations")]
        opts += ["AVA.FPS", "4", "AVA.VIDEO_START_SEC", "0", "AVA.KEYFRAME_RANGE", "[1, 9]"]
        opts += ["AVA.TRAIN_GT_BOX_LISTS", "['toy_train.csv']", "AVA.TRAIN_PREDICT_BOX_LISTS", "[]"]
        opts += ["AVA.TEST_PREDICT_BOX_LISTS", "['toy_val_proposals.csv']"]
        opts += ["AVA.GROUNDTRUTH_FILE", "toy_val.csv", "AVA.LABEL_MAP_FILE", "toy_label_map.pbtxt"]
        opts += ["AVA.EXCLUSION_FILE", "toy_val_excluded.csv", "AVA.NUM_CLASSES", "3"]
        opts += ["DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "1"]
        return opts
    return ["DATA.PATH_TO_DATA_DIR", str(root)]


def _one_step_params():
    yield from CONFIGS


@pytest.mark.parametrize("name", _one_step_params())
def test_config_trains_one_step(name, kinetics_root, tmp_path):
    from videossl.job import run_job

    opts = COMMON + EXTRA[name] + _data_opts(name, kinetics_root, tmp_path)
    opts += ["OUTPUT_DIR", str(tmp_path / "out")]
    cfg = load_config([str(DATA / name)], opts)
    run_job(cfg)
    metrics = (tmp_path / "out" / "metrics.jsonl").read_text()
    assert '"phase": "train' in metrics
