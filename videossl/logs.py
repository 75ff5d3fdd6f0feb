"""Logging set-up: console + text file on rank 0, JSON-lines metrics, optional TensorBoard."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

from .distributed import get_rank, is_main_process

_FORMAT = "[%(asctime)s %(levelname)s %(name)s] %(message)s"


def format_duration(seconds: float) -> str:
    """12m05s (or 1h02m05s): durations and ETAs in plain log lines."""
    seconds = int(round(max(seconds, 0.0)))
    hours, rest = divmod(seconds, 3600)
    text = f"{rest // 60}m{rest % 60:02d}s"
    return f"{hours}h{text.zfill(6)}" if hours else text


def setup_logging(output_dir: str | None = None) -> None:
    """INFO on rank 0 (console and OUTPUT_DIR/log.txt), warnings only on other ranks."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_videossl", False):
            root.removeHandler(handler)
    level = logging.INFO if is_main_process() else logging.WARNING
    root.setLevel(level)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if output_dir and is_main_process():
        os.makedirs(output_dir, exist_ok=True)
        handlers.append(logging.FileHandler(os.path.join(output_dir, "log.txt")))
    fmt = _FORMAT if get_rank() == 0 else f"[rank {get_rank()}] " + _FORMAT
    for handler in handlers:
        handler.setFormatter(logging.Formatter(fmt, datefmt="%H:%M:%S"))
        handler._videossl = True  # type: ignore[attr-defined]
        root.addHandler(handler)


class MetricWriter:
    """Writes metrics as JSON lines (and to TensorBoard when asked), on rank 0 only."""

    def __init__(self, output_dir: str, *, tensorboard: bool = False) -> None:
        self.path = os.path.join(output_dir, "metrics.jsonl")
        self._tb = None
        if not is_main_process():
            return
        os.makedirs(output_dir, exist_ok=True)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(os.path.join(output_dir, "tensorboard"))

    def write(self, record: dict[str, Any], *, step: int | None = None) -> None:
        if not is_main_process():
            return
        record = {"time": round(time.time(), 3), **record}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None and step is not None:
            prefix = record.get("phase", "train")
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("time", "epoch", "iter"):
                    self._tb.add_scalar(f"{prefix}/{key}", value, step)

    def write_scalars(self, prefix: str, values: dict[str, float], *, step: int) -> None:
        """TensorBoard scalars `<prefix>/<name>` (rank 0, when TensorBoard is on)."""
        if self._tb is None or not is_main_process():
            return
        for key, value in values.items():
            self._tb.add_scalar(f"{prefix}/{key}", value, step)
        self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def drop_records_after(path: str, global_step: int, epoch: int) -> int:
    """Remove training records a resumed run will write again: "train" records past
    `global_step` and "train_epoch" records past `epoch` (completed epochs). Returns the
    number removed; the file is rewritten atomically. Lines that do not parse (the tail of a
    write cut by a kill) are removed too."""
    if not os.path.isfile(path):
        return 0
    kept, dropped = [], 0
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                dropped += bool(line.strip())
                continue
            phase = record.get("phase")
            if (phase == "train" and record.get("global_step", 0) > global_step) or (
                phase == "train_epoch" and record.get("epoch", 0) > epoch
            ):
                dropped += 1
                continue
            kept.append(line if line.endswith("\n") else line + "\n")
    if dropped:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.writelines(kept)
        os.replace(tmp, path)
    return dropped
