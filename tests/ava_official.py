"""Independent re-implementation of the two official AVA frame-mAP evaluators, for tests.

Written plainly from the peers' code as read (never imported, never copied):
  * PySlowFast `slowfast/utils/ava_eval_helper.py` (read_csv, read_exclusions, read_labelmap,
    run_evaluation) on top of `ava_evaluation/` (object_detection_evaluation.py,
    per_image_evaluation.py, np_box_ops.py, metrics.py);
  * ActivityNet `Evaluation/get_ava_performance.py` (master, 2020-05-19: 2-column rows,
    microsecond timestamps, top 50 per keyframe, detections off the ground truth's keyframes
    ignored, no exclusions file) on top of the same `Evaluation/ava/` code.

Keys are the official strings; boxes are held as the official (y1, x1, y2, x2); IoU, matching
and AP are computed with python scalars in loops; only the score ranking uses numpy, because
the official rule *is* `np.argsort(scores)[::-1]` (its tie order is numpy's sort).
"""

from __future__ import annotations

import csv
import decimal
import heapq

import numpy as np


def read_labelmap_ids(path):
    """Class ids, read line by line as the official read_labelmap does."""
    ids = []
    with open(path) as f:
        for line in f:
            if line.startswith("  id:") or line.startswith("  label_id:"):
                ids.append(int(line.strip().split(" ")[-1]))
    return ids


def _rows(path):
    with open(path) as f:
        return list(csv.reader(f))


def pyslowfast_key(video, ts):
    return "%s,%04d" % (video, int(ts))  # noqa: UP031 (the official key)


def activitynet_key(video, ts):
    return "%s,%.6f" % (video, decimal.Decimal(ts))  # noqa: UP031 (via float, as official)


def read_pyslowfast(path, whitelist, load_score):
    """key -> list of (score, label, (y1, x1, y2, x2)) in file order."""
    out = {}
    for row in _rows(path):
        assert len(row) in (7, 8)
        key = pyslowfast_key(row[0], row[1])
        x1, y1, x2, y2 = (float(v) for v in row[2:6])
        label = int(row[6])
        if whitelist and label not in whitelist:
            continue
        score = float(row[7]) if load_score else 1.0
        out.setdefault(key, []).append((score, label, (y1, x1, y2, x2)))
    return out


def read_activitynet(path, whitelist, capacity):
    """(key -> list of (score, label, (y1, x1, y2, x2)), every key seen in the file)."""
    kept = {}
    seen = set()
    for row in _rows(path):
        assert len(row) in (2, 7, 8)
        key = activitynet_key(row[0], row[1])
        seen.add(key)
        if len(row) == 2:
            continue
        x1, y1, x2, y2 = (float(v) for v in row[2:6])
        label = int(row[6])
        if whitelist and label not in whitelist:
            continue
        score = float(row[7]) if len(row) == 8 else 1.0
        item = (score, label, y1, x1, y2, x2)
        heap = kept.setdefault(key, [])
        if capacity <= 0 or len(heap) < capacity:
            heapq.heappush(heap, item)
        elif score > heap[0][0]:
            heapq.heapreplace(heap, item)
    out = {}
    for key, heap in kept.items():
        ranked = sorted(heap, key=lambda item: -item[0])  # stable, from the heap's array
        out[key] = [(s, lab, (y1, x1, y2, x2)) for s, lab, y1, x1, y2, x2 in ranked]
    return out, seen


def _iou(d, g):
    h = max(0.0, min(d[2], g[2]) - max(d[0], g[0]))
    w = max(0.0, min(d[3], g[3]) - max(d[1], g[1]))
    inter = h * w
    union = (d[2] - d[0]) * (d[3] - d[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter
    return inter / union


def _match(dets, gts, thr):
    """TP flags of one class's detections (in order) in one keyframe."""
    flags = []
    taken = [False] * len(gts)
    for d in dets:
        if not gts:
            flags.append(False)
            continue
        best, best_iou = 0, _iou(d, gts[0])
        for j in range(1, len(gts)):
            v = _iou(d, gts[j])
            if v > best_iou:
                best, best_iou = j, v
        hit = best_iou >= thr and not taken[best]
        if hit:
            taken[best] = True
        flags.append(hit)
    return flags


def _voc_ap(scores, flags, num_gt):
    if not scores:
        return 0.0
    order = np.argsort(np.array(scores, dtype=float))[::-1]
    tp = fp = 0
    precision, recall = [], []
    for i in order:
        tp += int(flags[i])
        fp += 1 - int(flags[i])
        precision.append(tp / (tp + fp))
        recall.append(tp / num_gt)
    recall = [0.0] + recall + [1.0]
    precision = [0.0] + precision + [0.0]
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = max(precision[i], precision[i + 1])
    return sum(
        (recall[i] - recall[i - 1]) * precision[i]
        for i in range(1, len(recall))
        if recall[i] != recall[i - 1]
    )


def pascal_map(ids, groundtruth, detections, thr=0.5):
    """mAP (nanmean over classes 1..max(ids)) and per-class AP list; detections is a list of
    (key, rows) in the order the official code adds them."""
    num_classes = max(ids)
    num_gt = [0] * (num_classes + 1)
    for rows in groundtruth.values():
        for _, label, _ in rows:
            if 1 <= label <= num_classes:
                num_gt[label] += 1
    scores = [[] for _ in range(num_classes + 1)]
    flags = [[] for _ in range(num_classes + 1)]
    for key, rows in detections:
        valid = [r for r in rows if r[2][0] < r[2][2] and r[2][1] < r[2][3]]
        gt_rows = groundtruth.get(key, [])
        for c in range(1, num_classes + 1):
            dets = [r for r in valid if r[1] == c]
            if not dets:
                continue
            gts = [g[2] for g in gt_rows if g[1] == c]
            scores[c] += [r[0] for r in dets]
            flags[c] += _match([r[2] for r in dets], gts, thr)
    aps = [
        _voc_ap(scores[c], flags[c], num_gt[c]) if num_gt[c] else float("nan")
        for c in range(1, num_classes + 1)
    ]
    known = [a for a in aps if a == a]
    return (sum(known) / len(known) if known else float("nan")), aps


def pyslowfast_from_files(labelmap, gt_csv, det_csv, exclusions_csv=None):
    """PySlowFast's evaluate_ava_from_files -> (mAP, per-class AP list)."""
    ids = read_labelmap_ids(labelmap)
    excluded = set()
    if exclusions_csv:
        excluded = {pyslowfast_key(v, t) for v, t in _rows(exclusions_csv)}
    gt = read_pyslowfast(gt_csv, set(ids), load_score=False)
    det = read_pyslowfast(det_csv, set(ids), load_score=True)
    gt = {k: v for k, v in gt.items() if k not in excluded}
    det = [(k, v) for k, v in det.items() if k not in excluded]
    return pascal_map(ids, gt, det)


def activitynet_from_files(labelmap, gt_csv, det_csv):
    """ActivityNet's get_ava_performance.py run_evaluation -> (mAP, per-class AP list)."""
    ids = read_labelmap_ids(labelmap)
    gt, gt_keys = read_activitynet(gt_csv, set(ids), 0)
    det, _ = read_activitynet(det_csv, set(ids), 50)
    return pascal_map(ids, gt, [(k, v) for k, v in det.items() if k in gt_keys])
