"""The driver: the section plan, one child process per section under a time budget, the CLI."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any, Callable

from .common import ROOT, SectionFailed, child_env
from .correctness import section_checkpoint, section_ddp, section_ddp_worker, section_pytest
from .data_feed import section_data_feed
from .environment import section_environment
from .report import detail, finish, write_report
from .throughput import MODELS, section_throughput

SECTIONS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "environment": section_environment,
    "pytest": section_pytest,
    "ddp": section_ddp,
    "ddp_worker": section_ddp_worker,
    "checkpoint": section_checkpoint,
    "throughput": section_throughput,
    "data_feed": section_data_feed,
}


# ----------------------------------------------------------------------------- driver
def plan(args: argparse.Namespace) -> list[tuple[str, str, list[str], float]]:
    """(report key, section, extra argv, budget seconds) in run order."""
    dry = args.dry_run
    steps: list[tuple[str, str, list[str], float]] = [
        ("environment", "environment", [], 90),
        ("pytest", "pytest", [], 150),
        ("ddp", "ddp", [], 120),
        ("checkpoint", "checkpoint", [], 90),
    ]
    if args.quick:
        return steps
    for key, _, _ in MODELS:
        steps.append((f"throughput/{key}/eager", "throughput", ["--model", key], 150))
    steps.append(("data_feed", "data_feed", [], 120))
    for key, _, _ in MODELS:
        steps.append(
            (f"throughput/{key}/compile", "throughput", ["--model", key, "--compile"], 180)
        )
    if dry:
        return [(k, s, a, 120.0) for k, s, a, _ in steps]
    return steps


def run_section(
    args: argparse.Namespace, section: str, extra: list[str], budget: float
) -> dict[str, Any]:
    """Run one section in a child process under `budget` seconds; always returns a record.

    CUDA: a fresh interpreter per section (CUDA cannot be forked; each section gets its own
    memory and peak statistics). CPU: a fork of this process, which has imported the package
    already (saves ~10 s of imports per section on a small machine).
    """
    sections_dir = os.path.join(args.out, "sections")
    result_file = os.path.join(sections_dir, f"{len(os.listdir(sections_dir)):02d}_{section}.json")
    argv = ["--section", section, "--device", args.device, "--out", args.out]
    argv += ["--seconds", str(args.seconds), "--result-file", result_file] + extra
    argv += ["--dry-run"] if args.dry_run else []
    start = time.perf_counter()
    if args.device == "cuda":
        returncode, stderr = _run_subprocess(argv, budget)
    else:
        returncode, stderr = _run_forked(argv, budget)
    seconds = round(time.perf_counter() - start, 1)
    if returncode is None:
        return {
            "status": "timeout",
            "budget_s": budget,
            "seconds": seconds,
            "error": f"exceeded its {budget:.0f} s budget",
            "stderr_tail": stderr,
        }
    record: dict[str, Any] = {"status": "failed", "budget_s": budget}
    if os.path.exists(result_file):
        with open(result_file) as f:
            record.update(json.load(f))
    if returncode and record["status"] == "ok":
        record["status"] = "failed"
    if record["status"] != "ok":
        record.setdefault("error", f"exit code {returncode}")
        record["stderr_tail"] = stderr
    record["seconds"] = seconds
    return record


def _run_subprocess(argv: list[str], budget: float) -> tuple[int | None, str]:
    cmd = [sys.executable, "-m", "videossl.benchmarks.gpu_check", *argv]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=budget, cwd=str(ROOT), env=child_env()
        )
    except subprocess.TimeoutExpired as e:
        tail = e.stderr or b""
        return None, (tail.decode(errors="replace") if isinstance(tail, bytes) else tail)[-2000:]
    return proc.returncode, proc.stderr[-2000:]


def _run_forked(argv: list[str], budget: float) -> tuple[int | None, str]:
    import multiprocessing as mp

    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    proc = mp.get_context("fork").Process(target=_forked_main, args=(argv, log.name))
    proc.start()
    proc.join(budget)
    if proc.is_alive():
        proc.kill()
        proc.join()
        code = None
    else:
        code = proc.exitcode
    with open(log.name) as f:
        tail = f.read()[-2000:]
    os.unlink(log.name)
    return code, tail


def _forked_main(argv: list[str], log: str) -> None:
    with open(log, "w") as f:
        os.dup2(f.fileno(), 2)
        os.dup2(f.fileno(), 1)
        os.chdir(str(ROOT))
        os.environ.update(child_env())
        code = main(argv)
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _preimport() -> None:
    """Modules every section needs (the CPU runner forks after these)."""
    import timm  # noqa: F401
    import torch  # noqa: F401

    import videossl.engine.trainer  # noqa: F401
    import videossl.models.build  # noqa: F401


def _child(args: argparse.Namespace) -> int:
    """Run `args.section` in this process and write its record to `args.result_file`."""
    record: dict[str, Any]
    try:
        record = {"status": "ok", **SECTIONS[args.section](args)}
    except SectionFailed as e:
        record = {"status": "failed", "error": "check failed", **e.args[0]}
    except Exception as e:  # noqa: BLE001
        record = {
            "status": "failed",
            "error": f"{type(e).__name__}: {e}",
            "traceback": traceback.format_exc()[-3000:],
        }
    if args.result_file:
        with open(args.result_file, "w") as f:
            json.dump(record, f, default=str)
    return 0 if record["status"] == "ok" else 1


def _parser() -> argparse.ArgumentParser:
    from . import __doc__ as doc

    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="gpu_check", help="folder for the report")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--quick", action="store_true", help="environment + correctness only")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes (CI, on CPU)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="timed seconds per throughput/data run (default 15; 1 dry run)",
    )
    parser.add_argument(
        "--total-budget",
        type=float,
        default=470.0,
        help="seconds for the whole check; later sections are skipped",
    )
    parser.add_argument("--section", default="", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", default="", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="", help=argparse.SUPPRESS)
    parser.add_argument("--compile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=0, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.seconds is None:
        args.seconds = 1.0 if args.dry_run else 15.0
    os.makedirs(os.path.join(args.out, "sections"), exist_ok=True)
    if args.section:
        return _child(args)
    if args.device == "cpu":
        _preimport()
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            _say("error: no CUDA device; use --device cpu --dry-run for the CPU run")
            return 2
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "device": args.device,
        "dry_run": args.dry_run,
        "quick": args.quick,
        "seconds_per_run": args.seconds,
        "total_s": 0.0,
        "sections": {},
    }
    _run_steps(args, plan(args), report)
    _say(f"gpu_check: done in {report['total_s']:.0f} s; {os.path.join(args.out, 'gpu_report.md')}")
    return 0


def _run_steps(
    args: argparse.Namespace, steps: list[tuple[str, str, list[str], float]], report: dict
) -> None:
    """Each step under what is left of --total-budget; the report is rewritten after each."""
    _say(f"gpu_check: {len(steps)} sections on {args.device}, report in {args.out}")
    start = time.perf_counter()
    eager_batch: dict[str, int] = {}
    for i, (key, section, extra, budget) in enumerate(steps):
        left = args.total_budget - (time.perf_counter() - start)
        if left < 10:
            rec = {"status": "skipped", "error": "out of total time budget", "seconds": 0}
        else:
            if section == "throughput" and "--compile" in extra and extra[1] in eager_batch:
                extra = extra + ["--batch", str(eager_batch[extra[1]])]  # no second search
            rec = run_section(args, section, extra, min(budget, left))
            if section == "throughput" and "--compile" not in extra and rec.get("status") == "ok":
                eager_batch[extra[1]] = rec["batch"]
        report["sections"][key] = rec
        report["total_s"] = round(time.perf_counter() - start, 1)
        finish(report)
        write_report(args.out, report)
        _say(
            f"[{i + 1}/{len(steps)}] {key}: {rec['status']} ({rec.get('seconds', 0)} s) "
            f"{detail(key, rec)}"
        )


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
