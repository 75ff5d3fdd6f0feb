"""The report: MFU against both denominators, then gpu_report.json and gpu_report.md."""

from __future__ import annotations

import json
import os
from typing import Any


def finish(report: dict[str, Any]) -> None:
    """MFU against both denominators, and the loader beside each model's clips/s."""
    env = report["sections"].get("environment", {})
    measured = env.get("matmul_bf16_tflops")
    sheet = env.get("datasheet_bf16_tflops")
    loader = report["sections"].get("data_feed", {}).get("loader_clips_per_s")
    for key, rec in report["sections"].items():
        if not key.startswith("throughput/") or rec.get("status") != "ok":
            continue
        achieved = rec.get("achieved_tflops")
        rec["mfu_vs_measured_matmul"] = (
            round(achieved / measured, 4) if achieved and measured else None
        )
        rec["mfu_vs_datasheet"] = round(achieved / sheet, 4) if achieved and sheet else None
        if loader:
            rec["loader_clips_per_s"] = loader
            rec["data_bound"] = loader < rec["clips_per_s"]


def markdown(report: dict[str, Any]) -> str:
    """The report as markdown tables: environment, sections, throughput."""
    s = report["sections"]
    env = s.get("environment", {})
    lines = [
        "# GPU check",
        "",
        f"{report['started']} · device `{report['device']}`"
        + (" · dry run" if report["dry_run"] else "")
        + f" · {report['total_s']:.0f} s in all",
        "",
        "| environment | |",
        "|---|---|",
    ]
    for k in (
        "gpu_name",
        "gpu_count",
        "torch",
        "cuda_runtime",
        "driver",
        "nccl",
        "cpu_count",
        "matmul_bf16_tflops",
        "datasheet_bf16_tflops",
    ):
        lines.append(f"| {k} | {env.get(k, 'n/a')} |")
    lines += ["", "| section | status | seconds | detail |", "|---|---|---|---|"]
    for key, rec in s.items():
        lines.append(
            f"| {key} | {rec.get('status')} | {rec.get('seconds', '')} | {detail(key, rec)} |"
        )
    lines += [
        "",
        "| model | compile | batch | clips/s | step ms | peak GiB | TFLOP/s | MFU (matmul) | "
        "MFU (datasheet) | loader clips/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, rec in s.items():
        if key.startswith("throughput/") and rec.get("status") == "ok":
            lines.append(
                f"| {rec['model']} | {rec['compile']} | {rec['batch']} | {rec['clips_per_s']} | "
                f"{rec['step_ms_median']} | {rec['peak_memory_gib']} | "
                f"{rec.get('achieved_tflops')} | {_pct(rec.get('mfu_vs_measured_matmul'))} | "
                f"{_pct(rec.get('mfu_vs_datasheet'))} | {rec.get('loader_clips_per_s', 'n/a')} |"
            )
    return "\n".join(lines) + "\n"


def _pct(v) -> str:
    return f"{100 * v:.1f}%" if isinstance(v, (int, float)) else "n/a"


def detail(key: str, rec: dict[str, Any]) -> str:
    """One line on a section's record: its error, or its headline result."""
    if rec.get("status") != "ok":
        return str(rec.get("error", ""))[:120].replace("|", "/").replace("\n", " ")
    if key == "pytest":
        return ", ".join(f"{n} {k}" for k, n in rec.get("counts", {}).items())
    if key == "ddp":
        return f"{rec['backend']} x{rec['world_size']}, ranks identical"
    if key == "checkpoint":
        return f"{rec['tensors_compared']} tensors bit-exact after resume"
    if key == "data_feed":
        return f"{rec['loader_clips_per_s']} clips/s, {rec['workers']} workers"
    if key.startswith("throughput/"):
        return f"{rec['clips_per_s']} clips/s at batch {rec['batch']}"
    return ""


def write_report(out: str, report: dict[str, Any]) -> None:
    """gpu_report.json and gpu_report.md under `out`."""
    with open(os.path.join(out, "gpu_report.json"), "w") as f:
        json.dump(report, f, indent=2, default=str)
    with open(os.path.join(out, "gpu_report.md"), "w") as f:
        f.write(markdown(report))
