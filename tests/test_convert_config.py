"""tools/convert_config.py: the YAML it writes loads and equals the auto-detected translation."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest
import yaml

from videossl.config import load_config, to_dict
from videossl.config.load import read_config_tree
from videossl.peers.convert import main

ROOT = os.path.join(os.path.dirname(__file__), "..")
PYSLOWFAST = sorted(glob.glob(os.path.join(ROOT, "tests", "data", "pyslowfast", "*.yaml")))


@pytest.mark.parametrize("path", PYSLOWFAST, ids=os.path.basename)
def test_pyslowfast_file_converts_to_the_same_config(path, tmp_path):
    out = tmp_path / "ours.yaml"
    assert main([path, "-o", str(out)]) == 0
    assert yaml.safe_load(out.read_text()) == read_config_tree(path)
    opts = ["NUM_GPUS", "1"]  # k400_VIT_B_16x4_FT writes a debug batch of 1 clip
    assert to_dict(load_config([str(out)], opts)) == to_dict(load_config([path], opts))


def test_flags_convert_and_load(tmp_path):
    out = tmp_path / "vm.yaml"
    flags = "--model vit_base_patch16_224 --batch_size 6 --num_sample 2 --lr 5e-4 --epochs 75"
    assert main(["--from", "videomae", "--gpus", "64", "-o", str(out), "--", *flags.split()]) == 0
    cfg = load_config([str(out)])
    assert cfg.TRAIN.BATCH_SIZE == 384 and cfg.SOLVER.REFERENCE_BATCH == 512


def test_cli_reports_unsupported_flags_and_writes_nothing(tmp_path):
    out = tmp_path / "x.yaml"
    cmd = [sys.executable, os.path.join(ROOT, "tools", "convert_config.py"), "--from", "mae_st"]
    cmd += ["--gpus", "8", "-o", str(out), "--", "--bogus", "1", "--bias_wd", "--mask_ratio", "0.9"]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2 and not out.exists()
    assert "--bogus" in run.stderr and "--bias_wd" in run.stderr
