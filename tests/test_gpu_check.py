"""tools/gpu_check.py end to end on CPU at tiny sizes (the CI form of the GPU check)."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from videossl.benchmarks.gpu_check import (
    DATASHEET_BF16_TFLOPS,
    datasheet_tflops,
    markdown,
    run_section,
)

ROOT = Path(__file__).resolve().parents[1]


def test_datasheet_lookup_by_gpu_name():
    assert datasheet_tflops("NVIDIA H100 80GB HBM3") == 989.4
    assert datasheet_tflops("NVIDIA H100 PCIe") == 756.5
    assert datasheet_tflops("NVIDIA H200") == 989.4
    assert datasheet_tflops("NVIDIA GH200 480GB") == 989.4
    assert datasheet_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert datasheet_tflops("NVIDIA L4") == 121.0 and datasheet_tflops("NVIDIA L40S") == 362.1
    assert datasheet_tflops("Tesla V100-SXM2-32GB") is None  # no bf16 tensor cores
    assert all(v > 0 for _, v in DATASHEET_BF16_TFLOPS)


@pytest.mark.slow  # ~60 s on 2 quiet cores
def test_dry_run_writes_every_section(tmp_path):
    out = tmp_path / "report"
    cmd = [sys.executable, str(ROOT / "tools/gpu_check.py"), "--device", "cpu", "--dry-run"]
    proc = subprocess.run(
        cmd + ["--out", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "gpu_report.json").read_text())
    s = report["sections"]
    keys = {"environment", "pytest", "ddp", "checkpoint", "data_feed"}
    keys |= {
        f"throughput/{m}/{c}"
        for m in ("vit_b_mae_pt", "mvitv2_s_maskfeat_pt", "vit_b_ft")
        for c in ("eager", "compile")
    }
    assert set(s) == keys
    bad = {k: v.get("error") for k, v in s.items() if v["status"] != "ok"}
    assert not bad, bad
    assert s["environment"]["matmul_bf16_tflops"] > 0
    assert s["pytest"]["returncode"] in (0, 5) and sum(s["pytest"]["counts"].values()) >= 5
    assert s["ddp"]["world_size"] == 2 and s["ddp"]["ranks_identical"]
    assert s["checkpoint"]["bit_exact"] and s["checkpoint"]["resumed_from_checkpoint"]
    for key in keys:
        if key.startswith("throughput/"):
            rec = s[key]
            assert rec["clips_per_s"] > 0 and rec["batch"] >= 2, key
            assert rec["fvcore_gmacs_per_clip"] > 0 and rec["achieved_tflops"] > 0, key
            assert rec["mfu_vs_measured_matmul"] > 0, key
            assert rec["loader_clips_per_s"] == s["data_feed"]["loader_clips_per_s"]
    assert s["data_feed"]["loader_dtype"] == "torch.uint8"
    assert s["data_feed"]["normalised_dtype"] == "torch.float32"
    md = (out / "gpu_report.md").read_text()
    assert "| throughput/vit_b_ft/compile | ok |" in md and "MFU (datasheet)" in md
    assert "| ViT-B MAE PT 16x224 mask 0.9 (dry run: tiny) | False | 2 |" in md


def test_timeout_and_failure_of_a_section_are_recorded(tmp_path):
    (tmp_path / "sections").mkdir()
    args = argparse.Namespace(out=str(tmp_path), device="cpu", seconds=1.0, dry_run=True)
    rec = run_section(args, "environment", [], 0.05)
    assert rec["status"] == "timeout" and "budget" in rec["error"]
    rec = run_section(args, "throughput", ["--model", "no_such_model"], 60)
    assert rec["status"] == "failed" and "StopIteration" in rec["error"]


def test_failed_and_timed_out_sections_in_the_table(tmp_path):
    """A section that fails or hangs is recorded, and the report still lists every section."""
    report = {
        "started": "now",
        "device": "cuda",
        "dry_run": False,
        "total_s": 1.0,
        "sections": {
            "environment": {"status": "failed", "error": "RuntimeError: boom", "seconds": 1},
            "ddp": {"status": "timeout", "error": "exceeded its 120 s budget", "seconds": 120},
        },
    }
    md = markdown(report)
    assert "| environment | failed | 1 | RuntimeError: boom |" in md
    assert "| ddp | timeout | 120 | exceeded its 120 s budget |" in md
