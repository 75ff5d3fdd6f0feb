"""AVA csv and label-map files, read as the two official evaluators read them (see ava_eval).

Two protocols, chosen explicitly (`protocol=`, config `AVA.EVAL_PROTOCOL`), differ in how files
are read and which keyframes count:
  * "pyslowfast" (default; `ava_eval_helper.py`, behind the published MViTv2/MaskFeat/VideoMAE
    numbers): rows of 7 or 8 columns, key (video_id, int(timestamp)), rows in the order
    received (file order; box by box then class by class in memory), no per-keyframe cap,
    keyframes of the excluded-timestamps csv dropped from ground truth and detections;
  * "activitynet" (`get_ava_performance.py`, master 2020-05-19): rows of 2 (a keyframe without
    boxes), 7 or 8 columns (any 8th column is the score, person_id included), timestamps to
    the microsecond (`"%.6f" % Decimal(ts)`); each keyframe's rows go through a min-heap of
    (score, action_id, y1, x1, y2, x2) capped at 50 for detections (a row replaces the minimum
    only with a strictly higher score), then a stable sort by descending score; no exclusions
    file: detections on keyframes the ground truth file does not list are ignored.
Rows of classes outside the label map are dropped when read. Boxes are normalised
(x1, y1, x2, y2); csv rows are `video_id,timestamp,x1,y1,x2,y2,action_id[,score or person_id]`.
"""

from __future__ import annotations

import csv
import decimal
import heapq
import os
import re
from dataclasses import dataclass, field
from typing import Sequence

Key = tuple[str, int]

PROTOCOLS = ("pyslowfast", "activitynet")
ACTIVITYNET_CAPACITY = 50  # get_ava_performance.py: read_csv(detections, class_whitelist, 50)


@dataclass
class FrameBoxes:
    """Boxes of one keyframe: boxes [n,4] (x1,y1,x2,y2), labels [n] action ids, scores [n]."""

    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    def add(self, box: Sequence[float], label: int, score: float = 1.0) -> None:
        self.boxes.append(tuple(float(v) for v in box))
        self.labels.append(int(label))
        self.scores.append(float(score))


def read_label_map(path: str) -> dict[int, str]:
    """Action id -> name from an AVA `.pbtxt` label map: `item { name: "..." id: N }` (the
    *_for_activitynet lists) or `label { name: "..." label_id: N label_type: ... }` (the full
    ava_action_list_v2.x.pbtxt), both of which the official line-based readers take."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"AVA label map not found: {path}")
    with open(path) as f:
        text = f.read()
    items = re.findall(r"(?:item|label)\s*\{(.*?)\}", text, flags=re.S)
    labels: dict[int, str] = {}
    for item in items:
        name = re.search(r'name:\s*"([^"]*)"', item)
        ident = re.search(r"(?:label_)?id:\s*(\d+)", item)
        if name is None or ident is None:
            raise ValueError(f"{path}: an item lacks a name or an id: {item.strip()!r}")
        labels[int(ident.group(1))] = name.group(1)
    if not labels:
        raise ValueError(f"{path}: no `item {{ name: ... id: ... }}` entries; is it a .pbtxt?")
    return labels


def read_exclusions(path: str) -> set[Key]:
    """(video_id, timestamp) pairs from an excluded-timestamps csv."""
    excluded: set[Key] = set()
    with open(path, newline="") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            if not row:
                continue
            if len(row) != 2:
                raise ValueError(
                    f"{path}:{line_no}: expected 'video_id,timestamp', got {len(row)} columns."
                )
            excluded.add((row[0], _parse_int(row[1], path, line_no, "timestamp")))
    return excluded


def _parse_int(value: str, path: str, line_no: int, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{path}:{line_no}: {what} {value!r} is not an integer.") from None


def _row_key(row: list[str], protocol: str, path: str, line_no: int) -> Key:
    """(video_id, timestamp) of a csv row as the protocol's make_image_key identifies it:
    PySlowFast `"%s,%04d" % (video_id, int(ts))`; ActivityNet (microsecond timestamps)
    `"%s,%.6f" % (video_id, Decimal(ts))`, held as the float of that 6-decimal text (equal, and
    hashing equal, to the int for whole seconds)."""
    if protocol == "pyslowfast":
        return row[0], _parse_int(row[1], path, line_no, "timestamp")
    try:
        # %-formatting goes through float, unlike format() on a Decimal: keep it
        return row[0], float("%.6f" % decimal.Decimal(row[1]))  # noqa: UP031
    except decimal.InvalidOperation:
        raise ValueError(f"{path}:{line_no}: timestamp {row[1]!r} is not a number.") from None


def _row_columns(protocol: str, with_scores: bool) -> tuple[int, ...]:
    if protocol == "activitynet":
        return (2, 7, 8)  # 2 columns: a keyframe without boxes; no 8th column: score 1.0
    return (8,) if with_scores else (7, 8)


def read_csv(
    path: str,
    class_ids: set[int] | None = None,
    *,
    with_scores: bool,
    protocol: str = "pyslowfast",
    capacity: int | None = None,
) -> dict[Key, FrameBoxes]:
    """Read ground truth (`with_scores=False`) or detections (8th column = score).

    Rows whose action id is not in `class_ids` are skipped. Row order per keyframe follows
    `protocol` (module docstring): file order for "pyslowfast"; for "activitynet" the heap +
    sort of get_ava_performance.py, capped at `capacity` rows (default 50 for detections,
    none for ground truth). Keyframes are in the order of their first kept row.
    """
    check_protocol(protocol, capacity)
    if capacity is None:
        capacity = ACTIVITYNET_CAPACITY if protocol == "activitynet" and with_scores else 0
    columns = _row_columns(protocol, with_scores)
    out: dict[Key, FrameBoxes] = {}
    for line_no, row in _csv_rows(path):
        if len(row) not in columns:
            raise ValueError(
                f"{path}:{line_no}: expected video_id,timestamp,x1,y1,x2,y2,action_id"
                f"{',score' if with_scores else '[,person_id]'}"
                f"{' (or video_id,timestamp)' if protocol == 'activitynet' else ''}; "
                f"got {len(row)} columns."
            )
        key = _row_key(row, protocol, path, line_no)
        if len(row) == 2:
            continue
        try:
            box = tuple(float(v) for v in row[2:6])
            label = int(row[6])
            if class_ids is not None and label not in class_ids:
                continue
            # PySlowFast reads the score of detections only; ActivityNet reads any 8th
            # column as the score (person_id in ground truth, which then orders the rows)
            score = 1.0
            if len(row) == 8 and (with_scores or protocol == "activitynet"):
                score = float(row[7])
        except ValueError as e:
            raise ValueError(f"{path}:{line_no}: malformed row {row}: {e}") from None
        out.setdefault(key, FrameBoxes()).add(box, label, score)
    if protocol == "activitynet":
        out = {key: activitynet_rows(frame, capacity) for key, frame in out.items()}
    return out


def read_csv_keys(path: str) -> set[Key]:
    """Every keyframe of an ActivityNet-format csv (2-column rows and rows of any class):
    get_ava_performance.py scores detections only on the ground truth's keyframes."""
    return {_row_key(row, "activitynet", path, n) for n, row in _csv_rows(path)}


def _csv_rows(path: str):
    with open(path, newline="") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            if row:
                yield line_no, row


def check_protocol(protocol: str, capacity: int | None) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"AVA evaluation protocol {protocol!r}: expected one of {PROTOCOLS}.")
    if protocol == "pyslowfast" and capacity:
        raise ValueError(
            "A per-keyframe detection cap is ActivityNet's get_ava_performance.py rule "
            "(PySlowFast has none): use protocol 'activitynet' with it."
        )


def activitynet_rows(frame: FrameBoxes, capacity: int = ACTIVITYNET_CAPACITY) -> FrameBoxes:
    """One keyframe's rows as get_ava_performance.py's read_csv leaves them.

    Rows (in the order received) enter a min-heap of (score, action_id, y1, x1, y2, x2)
    tuples; with `capacity` > 0 a full heap takes a row only when its score is strictly above
    the heap minimum, which it replaces. The heap's array is then stably sorted by descending
    score.
    """
    heap: list[tuple] = []
    for (x1, y1, x2, y2), label, score in zip(frame.boxes, frame.labels, frame.scores):
        entry = (score, label, y1, x1, y2, x2)
        if capacity < 1 or len(heap) < capacity:
            heapq.heappush(heap, entry)
        elif score > heap[0][0]:
            heapq.heapreplace(heap, entry)
    out = FrameBoxes()
    for score, label, y1, x1, y2, x2 in sorted(heap, key=lambda e: -e[0]):
        out.add((x1, y1, x2, y2), label, score)
    return out


def apply_protocol(
    frames: dict[Key, FrameBoxes], protocol: str, capacity: int | None = None
) -> dict[Key, FrameBoxes]:
    """In-memory detections as the protocol's csv reader would leave them (see read_csv)."""
    check_protocol(protocol, capacity)
    if protocol == "pyslowfast":
        return frames
    cap = ACTIVITYNET_CAPACITY if capacity is None else capacity
    return {key: activitynet_rows(frame, cap) for key, frame in frames.items()}


def write_detections_csv(path: str, detections: dict[Key, FrameBoxes]) -> None:
    """Write detections in the official csv layout, one row per (box, action)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        for (video_id, ts), frame in sorted(detections.items()):
            for box, label, score in zip(frame.boxes, frame.labels, frame.scores):
                writer.writerow(
                    [video_id, f"{ts:04d}", *(f"{v:.3f}" for v in box), label, f"{score:.6f}"]
                )
    os.replace(tmp, path)
