"""Injected faults: config mistakes, bad data, divergence, kills during a save (issue 15)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUN_NET = str(REPO / "tools" / "run_net.py")
FINETUNE = str(REPO / "configs" / "demo" / "finetune.yaml")


# ---- config mistakes: each exits 2 in < 5 s with one line naming the key or file ------------


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cfg")
    data = root / "data"
    data.mkdir()
    for split in ("train", "val", "test"):
        (data / f"{split}.csv").write_text("a.mp4 0\nb.mp4 5\n")
    bad = root / "bad_data"
    bad.mkdir()
    (bad / "train.csv").write_text("a.mp4 0\nb.mp4 7\nc.mp4 -3\nd.mp4 x\na.mp4 1\ne.mp4 1 2 3\n")
    (bad / "test.csv").write_text("a.mp4 0\n")
    (root / "a_file").write_text("not a folder")
    (root / "base.yaml").write_text(f"_BASE_: {FINETUNE}\nDATA:\n  DEMO: ''\n")
    for name, text in {
        "type.yaml": "_BASE_: base.yaml\nTRAIN:\n  BATCH_SIZE: eight\n",
        "lr_type.yaml": "_BASE_: base.yaml\nSOLVER:\n  BASE_LR: [1, 2]\n",
        "broken.yaml": "_BASE_: base.yaml\nTRAIN: [unclosed\n",
        "nobase.yaml": "_BASE_: missing_base.yaml\n",
        "unknown.yaml": "_BASE_: base.yaml\nTRAIN:\n  BATCH_SZE: 4\n",
        "section.yaml": "_BASE_: base.yaml\nSOLVER:\n  BASE_LR:\n    X: 1\n",
        "list.yaml": "- a\n- b\n",
    }.items():
        (root / name).write_text(text)
    common = ["DATA.PATH_TO_DATA_DIR", str(data), "OUTPUT_DIR", str(root / "out")]
    common += ["TRAIN.CHECKPOINT_FILE_PATH", ""]
    return root, common


# (name, config file or None for base.yaml, overrides, words the message must contain)
CASES = [
    ("arch", None, ["MODEL.ARCH", "vitt"], ["MODEL.ARCH", "'vit'"]),
    ("objective", None, ["MODEL.OBJECTIVE", "maskfet"], ["MODEL.OBJECTIVE", "'maskfeat'"]),
    ("mask_type", None, ["MASK.TYPE", "cubes"], ["MASK.TYPE", "'cube'"]),
    ("target", None, ["TARGET.NAMES", "['hogg']"], ["TARGET.NAMES", "'hog'"]),
    ("dataset", None, ["DATA.DATASET", "kinetic"], ["DATA.DATASET", "'kinetics'"]),
    ("optimizer", None, ["SOLVER.OPTIMIZER", "adamww"], ["SOLVER.OPTIMIZER", "'adamw'"]),
    ("decoder", None, ["DATA.DECODER", "pyavv"], ["DATA.DECODER", "'pyav'"]),
    ("list_format", None, ["DATA.LIST_FORMAT", "csv"], ["DATA.LIST_FORMAT"]),
    ("yaml_type", "type.yaml", [], ["type.yaml", "TRAIN.BATCH_SIZE"]),
    ("yaml_list_type", "lr_type.yaml", [], ["lr_type.yaml", "SOLVER.BASE_LR"]),
    ("cli_type", None, ["TRAIN.BATCH_SIZE", "eight"], ["TRAIN.BATCH_SIZE"]),
    ("negative_lr", None, ["SOLVER.BASE_LR", "-0.1"], ["SOLVER.BASE_LR"]),
    ("negative_workers", None, ["DATA.NUM_WORKERS", "-1"], ["DATA.NUM_WORKERS"]),
    ("max_epoch_0", None, ["SOLVER.MAX_EPOCH", "0"], ["SOLVER.MAX_EPOCH"]),
    ("negative_wd", None, ["SOLVER.WEIGHT_DECAY", "-1.0"], ["SOLVER.WEIGHT_DECAY"]),
    ("classes_0", None, ["MODEL.NUM_CLASSES", "0"], ["MODEL.NUM_CLASSES"]),
    ("batch_0", None, ["TRAIN.BATCH_SIZE", "0"], ["TRAIN.BATCH_SIZE"]),
    ("accum_0", None, ["SOLVER.ACCUM_STEPS", "0"], ["SOLVER.ACCUM_STEPS"]),
    ("ckpt_period_0", None, ["TRAIN.CHECKPOINT_PERIOD", "0"], ["TRAIN.CHECKPOINT_PERIOD"]),
    ("log_period_0", None, ["LOG.PERIOD", "0"], ["LOG.PERIOD"]),
    ("mask_ratio", None, ["MASK.RATIO", "1.5"], ["MASK.RATIO"]),
    ("crop", None, ["DATA.TRAIN_CROP_SIZE", "60"], ["DATA.TRAIN_CROP_SIZE"]),
    ("frames", None, ["DATA.NUM_FRAMES", "7"], ["DATA.NUM_FRAMES"]),
    ("amp", None, ["TRAIN.AMP", "fp8"], ["TRAIN.AMP"]),
    ("crops", None, ["TEST.NUM_SPATIAL_CROPS", "2"], ["TEST.NUM_SPATIAL_CROPS"]),
    ("unknown_cli", None, ["TRAIN.BATCH_SZE", "4"], ["TRAIN.BATCH_SZE", "TRAIN.BATCH_SIZE"]),
    ("unknown_yaml", "unknown.yaml", [], ["unknown.yaml", "TRAIN.BATCH_SIZE"]),
    ("value_as_section", "section.yaml", [], ["section.yaml", "SOLVER.BASE_LR"]),
    ("odd_overrides", None, ["SOLVER.BASE_LR"], ["KEY VALUE"]),
    ("no_file", "nope.yaml", [], ["nope.yaml"]),
    ("bad_yaml", "broken.yaml", [], ["broken.yaml"]),
    ("missing_base", "nobase.yaml", [], ["missing_base.yaml"]),
    ("not_mapping", "list.yaml", [], ["list.yaml"]),
    ("data_dir", None, ["DATA.PATH_TO_DATA_DIR", "/nonexistent/k400"], ["/nonexistent/k400"]),
    ("init_ckpt", None, ["TRAIN.CHECKPOINT_FILE_PATH", "/nonexistent/pt"], ["/nonexistent/pt"]),
    ("test_ckpt", None, ["TEST.CHECKPOINT_FILE_PATH", "/nonexistent/w.pyth"], ["/nonexistent/w"]),
    ("test_only", None, ["TRAIN.ENABLE", "False"], ["TEST.CHECKPOINT_FILE_PATH"]),
    ("output_dir", None, ["OUTPUT_DIR", "{root}/a_file/out"], ["OUTPUT_DIR", "a_file"]),
    ("bad_list", None, ["DATA.PATH_TO_DATA_DIR", "{root}/bad_data"], ["csv:2", "csv:6"]),
]  # fmt: skip


def _run(args: list[str]) -> tuple[int, str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, RUN_NET, *args], capture_output=True, text=True, env=env, timeout=60
    )
    return proc.returncode, proc.stderr + proc.stdout, time.perf_counter() - start


def test_config_mistakes_fail_fast_with_one_line(setup):
    root, common = setup
    assert len(CASES) >= 33
    jobs = []
    for name, cfg_file, overrides, words in CASES:
        cfg = str(root / (cfg_file or "base.yaml"))
        opts = common + [o.replace("{root}", str(root)) for o in overrides]
        if name == "odd_overrides":
            opts = overrides
        jobs.append((name, ["--cfg", cfg, *opts], words))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda job: _run(job[1]), jobs))
    problems = []
    for (name, _, words), (rc, out, seconds) in zip(jobs, results):
        lines = [line for line in out.splitlines() if line.strip()]
        missing = [w for w in words if w not in out]
        if rc != 2 or len(lines) != 1 or "Traceback" in out or missing or seconds > 5:
            problems.append(f"{name}: rc {rc}, {seconds:.1f} s, missing {missing}: {out[-300:]}")
    assert not problems, "\n".join(problems)


def test_debug_shows_the_traceback(setup):
    root, common = setup
    rc, out, _ = _run(["--cfg", str(root / "base.yaml"), "--debug", *common, "MODEL.ARCH", "x"])
    assert rc != 0 and "Traceback" in out


def test_valid_config_passes_the_checks(setup):
    from videossl.cli import load_checked

    root, common = setup
    cfg = load_checked(str(root / "base.yaml"), common)
    assert cfg.MODEL.ARCH == "vit"


def test_full_disk_is_caught(setup, monkeypatch):
    import shutil

    from videossl.cli import load_checked
    from videossl.config import ConfigError

    root, common = setup
    usage = shutil.disk_usage(str(root))
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=1000))
    with pytest.raises(ConfigError, match="MiB free"):
        load_checked(str(root / "base.yaml"), common)


def test_names_match_the_registries():
    """The torch-free name lists equal what the registries hold."""
    import timm.optim

    import videossl.data.build as data_build
    import videossl.data.decoders as decoders
    import videossl.data.records as records
    import videossl.masking as masking
    import videossl.models.build  # noqa: F401  (registers encoders and objectives)
    import videossl.models.linear_probe  # noqa: F401
    import videossl.targets as targets
    from videossl.config.names import REGISTRY_KEYS
    from videossl.models.registry import ENCODERS, OBJECTIVES

    def names(registry):
        return tuple(sorted(n for n, _ in registry))

    assert REGISTRY_KEYS["MODEL.ARCH"][0] == names(ENCODERS)
    assert REGISTRY_KEYS["MODEL.OBJECTIVE"][0] == names(OBJECTIVES)
    assert REGISTRY_KEYS["MASK.TYPE"][0] == names(masking.MASKERS)
    assert REGISTRY_KEYS["TARGET.NAMES"][0] == names(targets.TARGETS)
    assert REGISTRY_KEYS["DATA.DATASET"][0] == names(data_build.DATASETS)
    assert REGISTRY_KEYS["DATA.DECODER"][0] == tuple(sorted(decoders.BACKENDS))
    assert REGISTRY_KEYS["DATA.LIST_FORMAT"][0] == tuple(sorted(records.LIST_FORMATS))
    assert set(REGISTRY_KEYS["SOLVER.OPTIMIZER"][0]) <= set(timm.optim.list_optimizers())
