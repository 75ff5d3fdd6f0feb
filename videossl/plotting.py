"""Training curves from a run's metrics.jsonl."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

logger = logging.getLogger(__name__)


def read_metrics(run_dir: str) -> list[dict]:
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: give the OUTPUT_DIR of a training run.")
    records, broken = [], []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a killed run
                broken.append(n)
    if broken:
        logger.warning("%s: skipped %d unreadable line(s): %s", path, len(broken), broken[:10])
    return records


def plot_curves(run_dir: str, out: str | None = None) -> str:
    """Plot every loss, the learning rate and clips/s against the step; returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in read_metrics(run_dir) if r.get("phase") == "train"]
    if not train:
        raise ValueError(f"No training steps logged in {run_dir}/metrics.jsonl yet.")
    keys = sorted({k for r in train for k in r if k.startswith("loss")})
    panels = keys + [k for k in ("lr", "grad_norm", "clips_per_s") if any(k in r for r in train)]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.2 * len(panels)), sharex=True)
    axes = [axes] if len(panels) == 1 else list(axes)
    for ax, key in zip(axes, panels):
        pts = [(r["global_step"], r[key]) for r in train if key in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.2)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("optimiser step")
    fig.suptitle(os.path.basename(os.path.abspath(run_dir)))
    fig.tight_layout()
    out = out or os.path.join(run_dir, "curves.png")
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def read_class_names(folder: str, filename: str = "labels.txt") -> list[str] | None:
    """Class names from ``<folder>/labels.txt`` (line n = label n), or None when absent."""
    path = os.path.join(folder, filename)
    if not folder or not os.path.isfile(path):
        return None
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def save_confusion_png(
    cm: Any,
    path: str,
    *,
    class_names: list[str] | None = None,
    title: str = "confusion matrix",
) -> str:
    """Plot a confusion matrix [true, predicted] of counts, with the class names on the axes
    (indices when `class_names` is None or does not match) and the top-1 in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cm = np.asarray(cm)
    n = cm.shape[0]
    names = class_names if class_names is not None and len(class_names) == n else None
    top1 = 100.0 * np.trace(cm) / max(cm.sum(), 1)
    size = min(max(4.5, n * 0.5), 20)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}: top-1 {top1:.1f}% ({int(cm.sum())} videos)", fontsize=10)
    if names is not None and n <= 60:
        ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(n), names, fontsize=8)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _epoch_series(run_dir: str, *, kind: str, key: str) -> dict[int, float]:
    """{epoch: value} of `key` from a run's per-epoch train records or its val evaluations."""
    out = {}
    for r in read_metrics(run_dir):
        if kind == "eval" and r.get("type") == "eval" and key in r:
            out[int(r["epoch"])] = float(r[key])
        elif kind == "train" and r.get("phase") == "train_epoch" and key in r:
            out[int(r["epoch"])] = float(r[key])
    return out


def _mean_curve(run_dirs: list[str], *, kind: str, key: str) -> tuple[list[int], list[float]]:
    series = [_epoch_series(d, kind=kind, key=key) for d in run_dirs]
    epochs = sorted(set.intersection(*(set(s) for s in series))) if series else []
    return epochs, [sum(s[e] for s in series) / len(series) for e in epochs]


def plot_demo(
    root: str, rows: list[dict], *, pretrain_runs: list[str], chance: float, out: str
) -> str:
    """The demo's picture: test top-1 per arm (mean ± std, one dot per seed), the pretraining
    losses, and the fine-tuning val top-1 and train loss per epoch (mean over seeds).
    `rows`: {"arm", "runs" (folder names under `root`), "top1" (per seed), "mean", "std"}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    (bars, pre), (val, loss) = axes
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, row in enumerate(rows):
        c = colours[i % len(colours)]
        std = row["std"] if row["std"] == row["std"] else 0.0  # NaN with one seed
        bars.bar(i, row["mean"], yerr=std, color=c, alpha=0.75, capsize=4)
        bars.scatter([i] * len(row["top1"]), row["top1"], color="k", s=12, zorder=3)
        bars.text(i, row["mean"] + std + 1, f"{row['mean']:.1f}", ha="center", fontsize=9)
        runs = [os.path.join(root, r) for r in row["runs"]]
        val.plot(*_mean_curve(runs, kind="eval", key="top1"), marker="o", color=c, label=row["arm"])
        loss.plot(*_mean_curve(runs, kind="train", key="loss"), color=c, label=row["arm"])
    bars.axhline(chance, color="grey", ls="--", lw=1, label=f"chance {chance:.1f}%")
    bars.set_xticks(range(len(rows)), [r["arm"].replace(" -> ", "\n-> ") for r in rows])
    bars.set_ylabel("test top-1 (%)")
    bars.set_title("Test top-1 (mean ± std over seeds; dots: seeds)")
    bars.legend(loc="upper right", fontsize=8)
    for name in pretrain_runs:
        epochs, values = _mean_curve([os.path.join(root, name)], kind="train", key="loss")
        if values:
            pre.plot(epochs, [v / values[0] for v in values], marker=".", label=name)
    pre.set_title("Pretraining loss (relative to epoch 1)")
    pre.set_xlabel("epoch")
    val.set_title("Fine-tuning: val top-1 (TRAIN.EVAL_PERIOD)")
    val.set_ylabel("val top-1 (%)")
    loss.set_title("Fine-tuning: train loss")
    for ax in (pre, val, loss):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
