"""The `videossl` console command dispatches to the same code as tools/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from videossl.entry import main

ROOT = os.path.join(os.path.dirname(__file__), "..")
PSF = os.path.join(ROOT, "tests", "data", "pyslowfast", "Kinetics__MVITv2_S_16x4.yaml")


def _module(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(ROOT)}
    cmd = [sys.executable, "-m", "videossl", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)


def test_python_m_videossl_convert_config_matches_the_tool(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    assert _module("convert-config", PSF, "-o", str(a)).returncode == 0
    tool = [sys.executable, os.path.join(ROOT, "tools", "convert_config.py"), PSF, "-o", str(b)]
    assert subprocess.run(tool, cwd=ROOT).returncode == 0
    assert yaml.safe_load(a.read_text()) == yaml.safe_load(b.read_text())


def test_help_and_unknown_command():
    run = _module("--help")
    assert run.returncode == 0 and "convert-config" in run.stdout
    run = _module("tran")
    assert run.returncode == 2 and "videossl train" in run.stderr
    assert _module("train", "--help").returncode == 0
    assert _module("benchmark", "--help").returncode == 0


def test_test_command_turns_training_off(monkeypatch):
    seen = {}

    def fake_run_net(argv):
        seen["argv"] = argv
        return 0

    monkeypatch.setattr("videossl.cli.main", fake_run_net)
    assert main(["test", "--cfg", "x.yaml", "TEST.BATCH_SIZE", "2"]) == 0
    assert seen["argv"][-4:] == ["TRAIN.ENABLE", "False", "TEST.ENABLE", "True"]
    assert seen["argv"][:2] == ["--cfg", "x.yaml"]


def test_installed_script_if_present(tmp_path):
    exe = shutil.which("videossl")
    if exe is None:
        pytest.skip("the `videossl` script is not installed here (pip install -e . installs it)")
    out = tmp_path / "c.yaml"
    assert subprocess.run([exe, "convert-config", PSF, "-o", str(out)]).returncode == 0
    assert out.exists()
