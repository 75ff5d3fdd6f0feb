import json
import subprocess
import sys
from pathlib import Path

import pytest

from videossl.plotting import plot_curves, read_metrics

TOOL = str(Path(__file__).resolve().parents[1] / "tools" / "plot_log.py")


def _write(run, records):
    run.mkdir(exist_ok=True)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_plot_log_writes_png(tmp_path):
    recs = [
        {"phase": "train", "global_step": i, "loss": 1 / (i + 1), "loss_hog": 0.5, "lr": 0.1}
        for i in range(5)
    ]
    _write(tmp_path / "run", recs + [{"phase": "test", "top1": 50.0}])
    proc = subprocess.run(
        [sys.executable, TOOL, str(tmp_path / "run")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    png = tmp_path / "run" / "curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_and_broken_logs_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="metrics.jsonl"):
        read_metrics(str(tmp_path))
    (tmp_path / "metrics.jsonl").write_text('{"phase": "train"\n{"phase": "test"}\n')
    assert read_metrics(str(tmp_path)) == [{"phase": "test"}]  # the cut line is skipped
    _write(tmp_path, [{"phase": "test", "top1": 1.0}])
    with pytest.raises(ValueError, match="No training steps"):
        plot_curves(str(tmp_path))
