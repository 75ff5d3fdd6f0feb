import json
import subprocess
import sys
from pathlib import Path

import pytest

from videossl.plotting import plot_curves, read_class_names, read_metrics, save_confusion_png

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


@pytest.fixture
def saved_figures(monkeypatch):
    """The matplotlib figures written by savefig, to read their titles and tick labels."""
    from matplotlib.figure import Figure

    figures = []
    real = Figure.savefig

    def spy(self, *args, **kwargs):
        figures.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    return figures


def test_confusion_png_names_classes_and_states_top1(tmp_path, saved_figures):
    (tmp_path / "labels.txt").write_text("square_left\ndisc_grow\n\nthird\n")
    names = read_class_names(str(tmp_path))
    assert names == ["square_left", "disc_grow", "third"]
    cm = [[3, 1, 0], [0, 2, 2], [1, 0, 3]]  # 8 of 12 on the diagonal
    path = save_confusion_png(cm, str(tmp_path / "c.png"), class_names=names, title="test_1x1")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    (ax,) = saved_figures[-1].axes
    assert ax.get_title() == "test_1x1: top-1 66.7% (12 videos)"
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert read_class_names(str(tmp_path / "nowhere")) is None


def test_evaluator_confusion_png_uses_the_class_names(tmp_path, saved_figures):
    import torch

    from videossl.engine.evaluators import ClassificationEvaluator

    class Views:
        labels = [0, 1]

    ev = ClassificationEvaluator(
        dataset=Views(), output_dir=str(tmp_path), tag="val", class_names=["a", "b"]
    )
    logits = torch.tensor([[2.0, 0.0], [3.0, 0.0]])  # both predicted "a": top-1 50 %
    ev.process({"index": torch.tensor([0, 1])}, {"logits": logits})
    assert ev.summarize()["top1"] == 50.0
    (ax,) = saved_figures[-1].axes
    assert ax.get_title() == "val: top-1 50.0% (2 videos)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert (tmp_path / "confusion_val.png").exists()
