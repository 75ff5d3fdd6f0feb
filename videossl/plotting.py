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
