"""AVA frame-level mAP, computed as the official ActivityNet AVA evaluation does.

Protocol (per class of the label map):
  * detections and ground truth are keyed by (video_id, timestamp); excluded keys are dropped
    from both; rows whose action id is not in the label map are ignored;
  * per keyframe, at most `capacity` detections are kept (highest scores first over all
    classes; the official tool keeps 50), and matching runs in descending score order:
    each detection is compared with the ground-truth box of highest IoU only, and is a true
    positive when IoU >= threshold and that box is still unmatched (a duplicate is a false
    positive);
  * all detections of the class over the dataset are ranked by score; precision/recall over
    that list give the PASCAL VOC (all-point interpolated) average precision;
  * a class without ground truth has AP = NaN and is left out of the mean.

Boxes are normalised (x1, y1, x2, y2). Files use the official csv row layout
`video_id,timestamp,x1,y1,x2,y2,action_id[,score or person_id]`.
"""

from __future__ import annotations

import csv
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
    """Action id -> name from an AVA `.pbtxt` label map (`item { name: "..." id: N }`)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"AVA label map not found: {path}")
    with open(path) as f:
        text = f.read()
    items = re.findall(r"item\s*\{(.*?)\}", text, flags=re.S)
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


def read_csv(
    path: str, class_ids: set[int] | None = None, *, with_scores: bool, capacity: int = 0
) -> dict[Key, FrameBoxes]:
    """Read ground truth (`with_scores=False`) or detections (8th column = score).

    Rows whose action id is not in `class_ids` are skipped; with `capacity` > 0 only the
    highest-scoring `capacity` rows of each keyframe are kept. Rows are sorted by score.
    """
    rows: dict[Key, list[tuple[float, int, tuple]]] = defaultdict(list)
    with open(path, newline="") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            if not row:
                continue
            if len(row) not in (7, 8) or (with_scores and len(row) != 8):
                raise ValueError(
                    f"{path}:{line_no}: expected video_id,timestamp,x1,y1,x2,y2,action_id"
                    f"{',score' if with_scores else '[,person_id]'}; got {len(row)} columns."
                )
            key = (row[0], _parse_int(row[1], path, line_no, "timestamp"))
            try:
                box = tuple(float(v) for v in row[2:6])
                label = int(row[6])
                score = float(row[7]) if with_scores else 1.0
            except ValueError as e:
                raise ValueError(f"{path}:{line_no}: malformed row {row}: {e}") from None
            if class_ids is not None and label not in class_ids:
                continue
            rows[key].append((score, label, box))
    out: dict[Key, FrameBoxes] = {}
    for key, entries in rows.items():
        entries.sort(key=lambda e: -e[0])
        if capacity > 0:
            entries = entries[:capacity]
        frame = FrameBoxes()
        for score, label, box in entries:
            frame.add(box, label, score)
        out[key] = frame
    return out


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
    """IoU of boxes a [n,4] and b [m,4] (x1,y1,x2,y2), no +1 in areas -> [n,m]."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_frame(det: np.ndarray, gt: np.ndarray, iou_threshold: float) -> np.ndarray:
    """True-positive flags [n] for detections det [n,4] (in descending score order) of one
    class in one keyframe against gt [m,4]: each detection is tried on its highest-IoU GT box
    only, which it claims if IoU >= threshold and no earlier detection claimed it."""
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
    """PASCAL VOC all-point AP of detections (scores [n], tp [n] bool) against num_gt boxes."""
    if num_gt == 0:
        return math.nan
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    tp_sorted = tp[order].astype(np.float64)
    tp_cum = np.cumsum(tp_sorted)
    fp_cum = np.cumsum(1.0 - tp_sorted)
    precision = tp_cum / (tp_cum + fp_cum)
    recall = tp_cum / num_gt
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
    capacity: int = 0,
) -> AVAResult:
    """Frame-level mAP of `detections` against `groundtruth` over `class_ids` (see module doc)."""
    num_gt: dict[int, int] = defaultdict(int)
    scores: dict[int, list[float]] = defaultdict(list)
    hits: dict[int, list[np.ndarray]] = defaultdict(list)
    for key, frame in groundtruth.items():
        if key in excluded:
            continue
        for label in frame.labels:
            if label in class_ids:
                num_gt[label] += 1
    for key, frame in detections.items():
        if key in excluded:
            continue
        det = _filter(frame, class_ids, capacity)
        gt = groundtruth.get(key, FrameBoxes())
        for label in set(det.labels):
            d_idx = [i for i, lab in enumerate(det.labels) if lab == label]
            g_boxes = [b for b, lab in zip(gt.boxes, gt.labels) if lab == label]
            d_boxes = np.asarray([det.boxes[i] for i in d_idx], dtype=np.float64)
            tp = match_frame(
                d_boxes, np.asarray(g_boxes, dtype=np.float64).reshape(-1, 4), iou_threshold
            )
            scores[label].extend(det.scores[i] for i in d_idx)
            hits[label].append(tp)
    per_class: dict[int, float] = {}
    for label in sorted(class_ids):
        tp = np.concatenate(hits[label]) if hits[label] else np.zeros(0, dtype=bool)
        per_class[label] = voc_average_precision(
            np.asarray(scores[label], dtype=np.float64), tp, num_gt[label]
        )
    valid = [ap for ap in per_class.values() if not math.isnan(ap)]
    mean_ap = float(np.mean(valid)) if valid else math.nan
    return AVAResult(mean_ap=mean_ap, per_class=per_class)


def _filter(frame: FrameBoxes, class_ids: set[int], capacity: int) -> FrameBoxes:
    """Rows of the label map's classes, sorted by score (stable), at most `capacity`."""
    order = sorted(
        (i for i, lab in enumerate(frame.labels) if lab in class_ids),
        key=lambda i: -frame.scores[i],
    )
    if capacity > 0:
        order = order[:capacity]
    out = FrameBoxes()
    for i in order:
        out.add(frame.boxes[i], frame.labels[i], frame.scores[i])
    return out


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
