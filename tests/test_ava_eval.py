"""AVA frame mAP (videossl.engine.ava_eval): hand-made cases with known AP, an independent
reference implementation, and the official evaluators as re-implemented in tests/ava_official.py."""

import math
import random

import ava_official
import numpy as np
import pytest
from ava_cases import LABEL_MAP, A, B, C, files, frames, write_case

from videossl.engine.ava_eval import (
    apply_protocol,
    evaluate_files,
    frame_map,
    match_frame,
    voc_average_precision,
)


def test_perfect_detections_give_one():
    gt = frames([("v", 902, A, 1), ("v", 902, B, 3), ("w", 903, A, 3)])
    det = frames([("v", 902, A, 1, 0.9), ("v", 902, B, 3, 0.8), ("w", 903, A, 3, 0.7)])
    result = frame_map(gt, det, {1, 3})
    assert result.mean_ap == pytest.approx(1.0)
    assert result.per_class == {1: pytest.approx(1.0), 3: pytest.approx(1.0)}


def test_no_detections_give_zero():
    gt = frames([("v", 902, A, 1)])
    assert frame_map(gt, {}, {1}).mean_ap == 0.0


def test_duplicate_detection_is_false_positive():
    gt = frames([("v", 902, A, 1), ("v", 902, B, 1)])
    det = frames([("v", 902, A, 1, 0.9), ("v", 902, A, 1, 0.8), ("v", 902, B, 1, 0.7)])
    # ranks: TP, FP (duplicate), TP -> precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    # interpolated AP = 1/2 * 1 + 1/2 * 2/3
    assert frame_map(gt, det, {1}).mean_ap == pytest.approx(0.5 + 1 / 3)


def test_known_ap_on_ranked_list():
    # ranked tp flags: F T T F T with 3 GT -> precision 0, 1/2, 2/3, 1/2, 3/5
    # recall 0, 1/3, 2/3, 2/3, 1; interpolated AP = 1/3*2/3 + 1/3*2/3 + 1/3*3/5
    scores = np.array([0.95, 0.9, 0.6, 0.5, 0.4])
    tp = np.array([False, True, True, False, True])
    expected = 2 / 9 + 2 / 9 + 1 / 5
    assert voc_average_precision(scores, tp, 3) == pytest.approx(expected)
    # same list built from boxes on three keyframes
    gt = frames([("v", 1, A, 2), ("v", 2, A, 2), ("v", 3, B, 2)])
    det = frames(
        [
            ("v", 1, C, 2, 0.95),
            ("v", 1, A, 2, 0.9),
            ("v", 2, A, 2, 0.6),
            ("v", 2, B, 2, 0.5),
            ("v", 3, B, 2, 0.4),
        ]
    )
    assert frame_map(gt, det, {2}).mean_ap == pytest.approx(expected)


def test_excluded_timestamp_is_ignored():
    gt = frames([("v", 902, A, 1), ("v", 905, B, 1)])
    det = frames([("v", 902, A, 1, 0.9), ("v", 905, C, 1, 0.99)])
    assert frame_map(gt, det, {1}).mean_ap < 1.0
    assert frame_map(gt, det, {1}, excluded={("v", 905)}).mean_ap == pytest.approx(1.0)


def test_class_outside_label_map_is_ignored():
    gt = frames([("v", 902, A, 1), ("v", 902, B, 2)])
    det = frames([("v", 902, A, 1, 0.9), ("v", 902, C, 2, 0.99)])
    result = frame_map(gt, det, {1, 7})
    assert set(result.per_class) == {1, 7}
    assert math.isnan(result.per_class[7])  # no ground truth: left out of the mean
    assert result.mean_ap == pytest.approx(1.0)


def test_detection_tries_only_its_best_ground_truth():
    # D overlaps G1 best (already claimed) and G2 above 0.5: the official rule makes it a FP
    g1, g2 = (0.0, 0.0, 1.0, 1.0), (0.0, 0.0, 1.0, 0.8)
    det = np.array([g1, (0.0, 0.0, 1.0, 0.95)])
    tp = match_frame(det, np.array([g1, g2]), 0.5)
    assert tp.tolist() == [True, False]


def test_hand_built_official_cases():
    # invalid box (x1 >= x2) is dropped, not a false positive: AP 1
    gt = frames([("v", 1, A, 1)])
    det = frames([("v", 1, (0.5, 0.1, 0.5, 0.6), 1, 0.99), ("v", 1, A, 1, 0.5)])
    assert frame_map(gt, det, {1}).mean_ap == 1.0
    # two detections of one GT in reverse score order: matched in the order received, so the
    # low-score one (first) is the TP and the high-score one a FP; ranked: FP(0.9), TP(0.3)
    # -> precision 1/2 at recall 1: AP = 1/2 (sorting by score first would give 1)
    det = frames([("v", 1, A, 1, 0.3), ("v", 1, A, 1, 0.9)])
    assert frame_map(gt, det, {1}).mean_ap == 0.5
    # ActivityNet sorts each keyframe by score first: TP(0.9), FP(0.3) -> AP 1
    assert frame_map(gt, apply_protocol(det, "activitynet"), {1}).mean_ap == 1.0
    # 60 classes on one box, GT of class 80 only: the class-80 score is the lowest; no cap
    # (PySlowFast) keeps it: AP 1; ActivityNet's top-50 drops it: AP 0
    gt = frames([("v", 1, A, 80)])
    classes = set(range(21, 81))
    det = frames([("v", 1, A, c, 1.0 - c / 100) for c in sorted(classes)])
    assert frame_map(gt, det, classes).mean_ap == 1.0
    assert frame_map(gt, apply_protocol(det, "activitynet"), classes).mean_ap == 0.0


def reference_map(gt_rows, det_rows, classes, thr=0.5):
    """Independent: global ranking, plain-python IoU, AP = sum over TPs of interpolated P."""

    def iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = w * h
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union if union > 0 else 0.0

    aps = []
    for c in classes:
        gts = [(v, t, b) for v, t, b, lab in gt_rows if lab == c]
        if not gts:
            continue
        dets = [r for r in det_rows if r[3] == c and r[2][0] < r[2][2] and r[2][1] < r[2][3]]
        dets = sorted(dets, key=lambda r: -r[4])  # invalid boxes dropped (official)
        taken = set()
        flags = []
        for v, t, b, _, _ in dets:
            cands = [i for i, g in enumerate(gts) if g[0] == v and g[1] == t]
            if not cands:
                flags.append(False)
                continue
            best = max(cands, key=lambda i: (iou(b, gts[i][2]), -i))
            ok = iou(b, gts[best][2]) >= thr and best not in taken
            if ok:
                taken.add(best)
            flags.append(ok)
        precisions = [sum(flags[: k + 1]) / (k + 1) for k in range(len(flags))]
        ap = sum(max(precisions[k:]) for k in range(len(flags)) if flags[k]) / len(gts)
        aps.append(ap)
    return sum(aps) / len(aps)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_independent_reference(seed):
    rng = random.Random(seed)

    def rand_box():
        x, y = rng.uniform(0, 0.6), rng.uniform(0, 0.6)
        return (x, y, x + rng.uniform(0.1, 0.4), y + rng.uniform(0.1, 0.4))

    gt_rows, det_rows = [], []
    for v in ("a", "b"):
        for t in range(902, 908):
            people = [rand_box() for _ in range(rng.randint(0, 3))]
            for p in people:
                for c in rng.sample([1, 2, 3, 4], rng.randint(1, 2)):
                    gt_rows.append((v, t, p, c))
                for _ in range(3):  # jittered detections, some duplicates
                    j = tuple(min(1.0, max(0.0, x + rng.gauss(0, 0.05))) for x in p)
                    det_rows.append((v, t, j, rng.choice([1, 2, 3, 4]), rng.random()))
            for _ in range(rng.randint(0, 2)):  # background boxes
                det_rows.append((v, t, rand_box(), rng.choice([1, 2, 3]), rng.random()))
    # the reference ranks each keyframe by score first: ActivityNet's order, no cap
    det = apply_protocol(frames(det_rows), "activitynet", 0)
    ours = frame_map(frames(gt_rows), det, {1, 2, 3, 4}).mean_ap
    assert ours == pytest.approx(reference_map(gt_rows, det_rows, [1, 2, 3, 4]), abs=1e-9)
    assert 0.0 < ours < 1.0


# --- identical to the official evaluators on csv files ---------------------------------------
# tests/ava_official.py re-implements PySlowFast's ava_eval_helper + ava_evaluation and
# ActivityNet's get_ava_performance.py from their code; each case is written as csv files and
# read by both sides.

OFFICIAL_CASES = [(s, False) for s in range(5)] + [(s, True) for s in range(2)]


@pytest.mark.parametrize("protocol", ["pyslowfast", "activitynet"])
@pytest.mark.parametrize("seed,dense", OFFICIAL_CASES)
def test_frame_map_identical_to_official_evaluator(tmp_path, protocol, seed, dense):
    gt, det, excl = write_case(tmp_path, seed, dense, protocol)
    if protocol == "pyslowfast":
        want, want_aps = ava_official.pyslowfast_from_files(str(LABEL_MAP), gt, det, excl)
    else:
        want, want_aps = ava_official.activitynet_from_files(str(LABEL_MAP), gt, det)
    ours = evaluate_files(
        str(LABEL_MAP), gt, det, excl if protocol == "pyslowfast" else None, protocol=protocol
    )
    assert abs(ours.mean_ap - want) <= 1e-9, (ours.mean_ap, want)
    got_aps = [ours.per_class.get(c, math.nan) for c in range(1, len(want_aps) + 1)]
    np.testing.assert_allclose(got_aps, want_aps, rtol=0, atol=1e-9)  # NaN where no GT
    assert 0.02 < want < 0.95  # neither trivial nor empty
    assert math.isnan(ours.per_class[17]) and not math.isnan(ours.per_class[1])


def test_hand_built_csv_cases(tmp_path):
    a, c = "0.100,0.100,0.400,0.600", "0.000,0.700,0.200,1.000"  # c overlaps nothing
    lm = str(LABEL_MAP)
    # score tie: numpy's argsort on a short array keeps the received order, reversed for
    # descending rank, so the later row ranks first. Received FP(c), TP(a): ranked TP, FP -> 1;
    # received TP(a), FP(c): ranked FP, TP -> precision 1/2 at recall 1 -> 1/2
    # ActivityNet's heap orders tied rows by (score, action, y1, ...): a (y1 0.1) before c
    # (y1 0.7) whatever the file order, so it always ranks c first -> 1/2
    gt, det = files(tmp_path, ["v,0902," + a + ",1"], [f"v,0902,{c},1,0.5", f"v,0902,{a},1,0.5"])
    assert evaluate_files(lm, gt, det).mean_ap == 1.0
    assert evaluate_files(lm, gt, det, protocol="activitynet").mean_ap == 0.5
    gt, det = files(tmp_path, ["v,0902," + a + ",1"], [f"v,0902,{a},1,0.5", f"v,0902,{c},1,0.5"])
    assert evaluate_files(lm, gt, det).mean_ap == 0.5
    assert evaluate_files(lm, gt, det, protocol="activitynet").mean_ap == 0.5
    # a detection on a keyframe without ground truth: a FP for PySlowFast (AP 1/2: ranked
    # FP 0.9, TP 0.3); ignored by ActivityNet (AP 1) unless the ground truth lists the keyframe
    # in a 2-column row (AP 1/2 again); an excluded keyframe is ignored by PySlowFast
    gt_rows = ["v,0902," + a + ",1"]
    det_rows = [f"v,0902,{a},1,0.3", f"v,0905,{a},1,0.9"]
    gt, det = files(tmp_path, gt_rows, det_rows)
    assert evaluate_files(lm, gt, det).mean_ap == 0.5
    assert evaluate_files(lm, gt, det, protocol="activitynet").mean_ap == 1.0
    excl = tmp_path / "excl.csv"
    excl.write_text("v,905\n")
    assert evaluate_files(lm, gt, det, str(excl)).mean_ap == 1.0
    with pytest.raises(ValueError, match="no excluded-timestamps file"):
        evaluate_files(lm, gt, det, str(excl), protocol="activitynet")
    gt, det = files(tmp_path, gt_rows + ["v,905"], det_rows)
    assert evaluate_files(lm, gt, det, protocol="activitynet").mean_ap == 0.5
    with pytest.raises(ValueError, match="gt.csv:2: expected"):  # PySlowFast has no such row
        evaluate_files(lm, gt, det)
    # ActivityNet keys timestamps to the microsecond ("%.6f"): 902.0 is 0902, 902.5 is not
    gt, det = files(tmp_path, gt_rows, [f"v,902.000,{a},1,0.3", f"v,902.5,{a},1,0.9"])
    assert evaluate_files(lm, gt, det, protocol="activitynet").mean_ap == 1.0
    with pytest.raises(ValueError, match="timestamp '902.000' is not an integer"):
        evaluate_files(lm, gt, det)
    # ... through a float, as the official "%.6f" % Decimal(ts): 902.0000025 is 902.000003
    gt, det = files(tmp_path, ["v,902.000003," + a + ",1"], [f"v,902.0000025,{a},1,0.3"])
    assert evaluate_files(lm, gt, det, protocol="activitynet").mean_ap == 1.0
    # duplicate ground-truth rows are two instances: one detection finds one -> AP 1/2
    gt, det = files(tmp_path, gt_rows * 2, [f"v,0902,{a},1,0.3"])
    for protocol in ("pyslowfast", "activitynet"):
        assert evaluate_files(lm, gt, det, protocol=protocol).mean_ap == 0.5
