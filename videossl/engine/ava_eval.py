"""AVA frame-level mAP, float-identical to the official AVA evaluators (docs/benchmarks.md).

Two protocols (`protocol=`, config `AVA.EVAL_PROTOCOL`: "pyslowfast", the default, or
"activitynet") share the Pascal evaluation of the TF object-detection code that PySlowFast
(`ava_evaluation/`) and ActivityNet (`Evaluation/ava/`) ship; they differ in how files are read
and which keyframes count (`ava_csv`, whose names this module re-exports).
Then, per keyframe and class 1..max(label map id): rows of classes outside the label map were
dropped when read; detections with x1 >= x2 or y1 >= y2 are removed (after the cap); each
detection, in the order held, takes the ground-truth box of highest IoU (first on ties; no +1)
and is a TP if IoU >= threshold and that box is still free; duplicate rows count twice. Per
class, scores concatenated in keyframe order are ranked by `np.argsort(scores)[::-1]` (numpy's
default sort: its tie order) for the VOC all-point AP; a class without ground truth has AP NaN
and the mAP is `np.nanmean`.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .ava_csv import (
    ACTIVITYNET_CAPACITY,
    PROTOCOLS,
    FrameBoxes,
    Key,
    activitynet_rows,
    apply_protocol,
    check_protocol,
    read_csv,
    read_csv_keys,
    read_exclusions,
    read_label_map,
    write_detections_csv,
)

__all__ = [
    "ACTIVITYNET_CAPACITY",
    "PROTOCOLS",
    "AVAResult",
    "FrameBoxes",
    "Key",
    "activitynet_rows",
    "apply_protocol",
    "box_iou",
    "evaluate_files",
    "format_per_class",
    "frame_map",
    "match_frame",
    "read_csv",
    "read_csv_keys",
    "read_exclusions",
    "read_label_map",
    "valid_boxes",
    "voc_average_precision",
    "write_detections_csv",
]

logger = logging.getLogger(__name__)


@dataclass
class AVAResult:
    """Mean AP over classes with ground truth, and AP per action id (NaN without GT)."""

    mean_ap: float
    per_class: dict[int, float]


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
    check_protocol(protocol, None)
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
