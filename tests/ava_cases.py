"""Shared AVA test cases: the official label map, boxes, keyframes and random csv files.

Used by tests/test_ava_csv.py and tests/test_ava_eval.py; tests/ava_official.py is the
independent re-implementation of the official evaluators both compare against.
"""

import random
from pathlib import Path

from videossl.engine.ava_csv import FrameBoxes, read_label_map

# the official 60-class AVA v2.1/v2.2 label map (Google's data file, copied from shared/data)
LABEL_MAP = (
    Path(__file__).resolve().parent
    / "data"
    / "ava"
    / ("ava_action_list_v2.1_for_activitynet_2018.pbtxt")
)

A = (0.1, 0.1, 0.4, 0.6)
B = (0.5, 0.2, 0.9, 0.9)
C = (0.0, 0.7, 0.2, 1.0)  # overlaps neither A nor B


def frames(rows):
    """rows: (video, ts, box, label[, score]) -> {key: FrameBoxes}."""
    out = {}
    for row in rows:
        out.setdefault((row[0], row[1]), FrameBoxes()).add(row[2], row[3], *row[4:])
    return out


# random csv cases (write_case) for the comparisons with tests/ava_official.py
SPARSE = [1, 2, 5, 12, 17, 80, 81]  # 2 and 81 are not in the label map; 17 never has GT
GT_CLASSES = [1, 2, 5, 12, 80]


def _fmt(box):
    return [f"{v:.3f}" for v in box]


def write_case(tmp_path, seed: int, dense: bool, protocol: str):
    """Random ground truth / detections / exclusions csv files for one case, rows shuffled.

    Covers: jittered and background detections, duplicate rows in both files, invalid boxes,
    tied scores (rounded), detections on keyframes absent from the ground truth, an excluded
    keyframe that has ground truth, zero-padded and bare timestamps, GT person ids in an 8th
    column, and (ActivityNet files only) 2-column rows for keyframes without actions.
    """
    rng = random.Random(seed)
    ids = [int(x) for x in read_label_map(str(LABEL_MAP))]

    def box():
        x, y = rng.uniform(0, 0.6), rng.uniform(0, 0.6)
        return (x, y, x + rng.uniform(0.05, 0.4), y + rng.uniform(0.05, 0.4))

    def stamp(t):
        return f"{t:04d}" if rng.random() < 0.7 else str(t)

    gt, det, excl = [], [], [["vid_a", "0903"], ["vid_b", "0911"]]
    for video in ("vid_a", "vid_b"):
        for t in range(902, 912):
            people = [box() for _ in range(rng.randint(0, 3))] if t < 910 else []
            if not people and protocol == "activitynet" and rng.random() < 0.5:
                gt.append([video, stamp(t)])
            for pid, p in enumerate(people):
                for c in rng.sample(GT_CLASSES, rng.randint(1, 3)):
                    row = [video, stamp(t), *_fmt(p), str(c)] + ([str(pid)] * (pid % 2))
                    gt += [row] * (2 if rng.random() < 0.1 else 1)  # duplicate GT rows
            boxes = [tuple(min(1, max(0, v + rng.gauss(0, 0.04))) for v in p) for p in people]
            boxes += [p for p in people if rng.random() < 0.3]  # exact duplicates of a person
            boxes += [box() for _ in range(rng.randint(0, 2))]
            if rng.random() < 0.3:  # invalid: x1 >= x2 or y1 >= y2
                x, y = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9)
                boxes.append(rng.choice([(x, y, x, y + 0.2), (x, y, x + 0.2, y - 0.1)]))
            for b in boxes:
                classes = ids if dense else rng.sample(SPARSE, rng.randint(1, 3))
                for c in classes:
                    score = f"{round(rng.random(), 2 if dense else 1)}"
                    row = [video, stamp(t), *_fmt(b), str(c), score]
                    det += [row] * (2 if rng.random() < 0.05 else 1)  # duplicate detections
    rng.shuffle(gt)
    rng.shuffle(det)
    paths = []
    for name, rows in (("gt", gt), ("det", det), ("excl", excl)):
        path = tmp_path / f"{name}.csv"
        path.write_text("".join(",".join(r) + "\n" for r in rows))
        paths.append(str(path))
    return paths


def files(tmp_path, gt_rows, det_rows):
    paths = []
    for name, rows in (("gt", gt_rows), ("det", det_rows)):
        path = tmp_path / f"{name}.csv"
        path.write_text("".join(line + "\n" for line in rows))
        paths.append(str(path))
    return paths
