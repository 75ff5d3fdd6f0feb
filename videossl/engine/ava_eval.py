"""AVA frame-level mAP, float-identical to the official AVA evaluators (docs/benchmarks.md).

Two protocols, chosen explicitly (`protocol=`, config `AVA.EVAL_PROTOCOL`), share the Pascal
evaluation of the TF object-detection code that PySlowFast (`ava_evaluation/`) and ActivityNet
(`Evaluation/ava/`) ship; they differ in how files are read and which keyframes count:
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
Then, per keyframe and class 1..max(label map id): rows of classes outside the label map were
dropped when read; detections with x1 >= x2 or y1 >= y2 are removed (after the cap); each
detection, in the order held, takes the ground-truth box of highest IoU (first on ties; no +1)
and is a TP if IoU >= threshold and that box is still free; duplicate rows count twice. Per
class, scores concatenated in keyframe order are ranked by `np.argsort(scores)[::-1]` (numpy's
default sort: its tie order) for the VOC all-point AP; a class without ground truth has AP NaN
and the mAP is `np.nanmean`. Boxes are normalised (x1, y1, x2, y2); csv rows are
`video_id,timestamp,x1,y1,x2,y2,action_id[,score or person_id]`.
"""

from __future__ import annotations

import csv
import decimal
import heapq
import logging
import math
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

logger = logging.getLogger(__name__)

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


@dataclass
class AVAResult:
    """Mean AP over classes with ground truth, and AP per action id (NaN without GT)."""

    mean_ap: float
    per_class: dict[int, float]


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
    _check_protocol(protocol, capacity)
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


def _check_protocol(protocol: str, capacity: int | None) -> None:
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
    _check_protocol(protocol, capacity)
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


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes a [n,4] and b [m,4] (x1,y1,x2,y2), no +1 in areas -> [n,m].

    The same float operations as the official np_box_ops.iou (0/0 gives NaN there too)."""
    inter_h = np.maximum(
        0.0, np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    )
    inter_w = np.maximum(
        0.0, np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    )
    inter = inter_h * inter_w
    area_a = (a[:, 3] - a[:, 1]) * (a[:, 2] - a[:, 0])
    area_b = (b[:, 3] - b[:, 1]) * (b[:, 2] - b[:, 0])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / union


def valid_boxes(boxes: np.ndarray) -> np.ndarray:
    """[n] bool: x1 < x2 and y1 < y2 (the official evaluator drops other detections)."""
    return (boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])


def match_frame(det: np.ndarray, gt: np.ndarray, iou_threshold: float) -> np.ndarray:
    """True-positive flags [n] for detections det [n,4] of one class in one keyframe, in the
    order given, against gt [m,4]: each detection is tried on its highest-IoU GT box only
    (first on ties), which it claims if IoU >= threshold and no earlier detection claimed it."""
    tp = np.zeros(len(det), dtype=bool)
    if len(det) == 0 or len(gt) == 0:
        return tp
    iou = box_iou(det, gt)
    best = iou.argmax(axis=1)
    taken = np.zeros(len(gt), dtype=bool)
    for i, g in enumerate(best):
        if iou[i, g] >= iou_threshold and not taken[g]:
            tp[i] = True
            taken[g] = True
    return tp


def voc_average_precision(scores: np.ndarray, tp: np.ndarray, num_gt: int) -> float:
    """PASCAL VOC all-point AP of detections (scores [n], tp [n] bool) against num_gt boxes.

    Ranked by `np.argsort(scores)[::-1]` (default sort kind), as the official metrics.py,
    so tied scores are ordered the same way."""
    if num_gt == 0:
        return math.nan
    if len(scores) == 0:
        return 0.0
    order = np.argsort(scores)[::-1]
    tp_sorted = tp[order].astype(int)
    tp_cum = np.cumsum(tp_sorted)
    fp_cum = np.cumsum(1 - tp_sorted)
    precision = tp_cum.astype(float) / (tp_cum + fp_cum)
    recall = tp_cum.astype(float) / num_gt
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    changed = np.where(recall[1:] != recall[:-1])[0] + 1
    return float(np.sum((recall[changed] - recall[changed - 1]) * precision[changed]))


def frame_map(
    groundtruth: dict[Key, FrameBoxes],
    detections: dict[Key, FrameBoxes],
    class_ids: set[int],
    excluded: set[Key] = frozenset(),
    iou_threshold: float = 0.5,
    included: set[Key] | None = None,
) -> AVAResult:
    """Frame-level mAP of `detections` against `groundtruth` over `class_ids` (module doc).

    Rows are used in the order held (read them with `read_csv` / `apply_protocol` for the
    protocol's order and cap); keyframes in the dict order of `detections`. `excluded`
    keyframes are dropped from both (PySlowFast); with `included` (ActivityNet: the ground
    truth file's keyframes, `read_csv_keys`) detections on other keyframes are ignored."""
    num_classes = max(class_ids)
    num_gt = np.zeros(num_classes + 1, dtype=int)
    gt_arrays: dict[Key, tuple[np.ndarray, np.ndarray]] = {}
    for key, frame in groundtruth.items():
        if key in excluded:
            continue
        keep = [i for i, lab in enumerate(frame.labels) if lab in class_ids]
        labels = np.asarray([frame.labels[i] for i in keep], dtype=int)
        boxes = np.asarray([frame.boxes[i] for i in keep], dtype=float).reshape(-1, 4)
        gt_arrays[key] = (boxes, labels)
        np.add.at(num_gt, labels, 1)
    scores: dict[int, list[np.ndarray]] = defaultdict(list)
    hits: dict[int, list[np.ndarray]] = defaultdict(list)
    empty = (np.zeros((0, 4)), np.zeros(0, dtype=int))
    for key, frame in detections.items():
        if key in excluded or (included is not None and key not in included):
            continue
        keep = [i for i, lab in enumerate(frame.labels) if lab in class_ids]
        boxes = np.asarray([frame.boxes[i] for i in keep], dtype=float).reshape(-1, 4)
        labels = np.asarray([frame.labels[i] for i in keep], dtype=int)
        det_scores = np.asarray([frame.scores[i] for i in keep], dtype=float)
        valid = valid_boxes(boxes)
        boxes, labels, det_scores = boxes[valid], labels[valid], det_scores[valid]
        gt_boxes, gt_labels = gt_arrays.get(key, empty)
        for label in sorted(set(labels.tolist())):
            sel = labels == label
            tp = match_frame(boxes[sel], gt_boxes[gt_labels == label], iou_threshold)
            scores[label].append(det_scores[sel])
            hits[label].append(tp)
    per_class: dict[int, float] = {}
    for label in sorted(class_ids):
        if hits[label]:
            s, tp = np.concatenate(scores[label]), np.concatenate(hits[label])
        else:
            s, tp = np.zeros(0, dtype=float), np.zeros(0, dtype=bool)
        per_class[label] = voc_average_precision(s, tp, int(num_gt[label]))
    aps = np.full(num_classes, np.nan)  # indexed by id - 1, as the official evaluator
    for label, ap in per_class.items():
        aps[label - 1] = ap
    mean_ap = float(np.nanmean(aps)) if (~np.isnan(aps)).any() else math.nan
    return AVAResult(mean_ap=mean_ap, per_class=per_class)


def evaluate_files(
    label_map: str,
    groundtruth: str,
    detections: str,
    exclusions: str | None = None,
    *,
    protocol: str = "pyslowfast",
    iou_threshold: float = 0.5,
) -> AVAResult:
    """Frame mAP from the official csv files, as the protocol's script computes it:
    PySlowFast's `evaluate_ava_from_files` (exclusions applied) or ActivityNet's
    `get_ava_performance.py` (no exclusions file: it scores only the ground truth's
    keyframes, so `exclusions` must be None)."""
    _check_protocol(protocol, None)
    if protocol == "activitynet" and exclusions:
        raise ValueError(
            "ActivityNet's get_ava_performance.py takes no excluded-timestamps file (it scores "
            "detections only on keyframes listed in the ground truth): pass exclusions=None."
        )
    class_ids = set(read_label_map(label_map))
    gt = read_csv(groundtruth, class_ids, with_scores=False, protocol=protocol)
    det = read_csv(detections, class_ids, with_scores=True, protocol=protocol)
    return frame_map(
        gt,
        det,
        class_ids,
        read_exclusions(exclusions) if exclusions else frozenset(),
        iou_threshold,
        included=read_csv_keys(groundtruth) if protocol == "activitynet" else None,
    )


def format_per_class(result: AVAResult, names: dict[int, str]) -> str:
    """A text table of AP per class (percent), for logs."""
    lines = [f"{'id':>3}  {'AP':>6}  name"]
    for label, ap in result.per_class.items():
        value = "   n/a" if math.isnan(ap) else f"{100 * ap:6.2f}"
        lines.append(f"{label:>3}  {value}  {names.get(label, '')}")
    lines.append(
        f"mAP@0.5 over {sum(not math.isnan(a) for a in result.per_class.values())} "
        f"classes: {100 * result.mean_ap:.2f}"
    )
    return "\n".join(lines)
