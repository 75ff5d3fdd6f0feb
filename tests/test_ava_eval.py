"""AVA frame mAP: hand-made cases with known AP, and an independent reference implementation."""

import math
import random
from pathlib import Path

import ava_official
import numpy as np
import pytest

from videossl.engine.ava_eval import (
    FrameBoxes,
    apply_protocol,
    evaluate_files,
    frame_map,
    match_frame,
    read_csv,
    read_csv_keys,
    read_exclusions,
    read_label_map,
    voc_average_precision,
    write_detections_csv,
)

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


def test_capacity_keeps_top_scores_per_frame():
    gt = frames([("v", 1, A, 1)])
    det = frames([("v", 1, C, 1, 0.9), ("v", 1, A, 1, 0.5)])
    # ActivityNet's cap (heap of the top scores); PySlowFast has none
    assert frame_map(gt, apply_protocol(det, "activitynet", 1), {1}).mean_ap == 0.0
    assert frame_map(gt, apply_protocol(det, "activitynet", 2), {1}).mean_ap == pytest.approx(0.5)
    with pytest.raises(ValueError, match="activitynet"):
        apply_protocol(det, "pyslowfast", 1)


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


def test_csv_round_trip_and_filters(tmp_path):
    det = frames([("v", 902, A, 1, 0.9), ("v", 902, B, 5, 0.8), ("w", 1000, C, 1, 0.1)])
    path = tmp_path / "det.csv"
    write_detections_csv(str(path), det)
    first = path.read_text().splitlines()[0]
    assert first == "v,0902,0.100,0.100,0.400,0.600,1,0.900000"
    back = read_csv(str(path), {1}, with_scores=True)
    assert set(back) == {("v", 902), ("w", 1000)}
    assert back[("v", 902)].labels == [1]
    assert frame_map(back, det, {1}).mean_ap == pytest.approx(1.0)


def test_malformed_rows_name_file_and_line(tmp_path):
    path = tmp_path / "gt.csv"
    path.write_text("v,0902,0.1,0.1,0.4,0.6,1,0\nv,0903,0.1,oops,0.4,0.6,1,0\n")
    with pytest.raises(ValueError, match=r"gt.csv:2"):
        read_csv(str(path), with_scores=False)
    path.write_text("v,0902,0.1,0.1\n")
    with pytest.raises(ValueError, match=r"gt.csv:1: expected"):
        read_csv(str(path), with_scores=False)
    excl = tmp_path / "excl.csv"
    excl.write_text("v,0902\nv,abc\n")
    with pytest.raises(ValueError, match=r"excl.csv:2"):
        read_exclusions(str(excl))


def test_label_map_has_60_classes():
    names = read_label_map(str(LABEL_MAP))
    assert len(names) == 60
    assert names[1] == "bend/bow (at the waist)"
    assert 2 not in names  # "carry/hold" is not evaluated


def test_label_map_formats_read_as_the_official_reader(tmp_path):
    full = tmp_path / "ava_action_list_v2.2.pbtxt"  # the 80-class list's layout
    full.write_text(
        'label {\n  name: "bend/bow (at the waist)"\n  label_id: 1\n  label_type: PERSON_MOVEMENT'
        '\n}\nlabel {\n  name: "crawl"\n  label_id: 2\n  label_type: PERSON_MOVEMENT\n}\n'
    )
    for path in (str(full), str(LABEL_MAP)):
        assert sorted(read_label_map(path)) == sorted(ava_official.read_labelmap_ids(path))
    assert read_label_map(str(full)) == {1: "bend/bow (at the waist)", 2: "crawl"}


def test_label_map_errors(tmp_path):
    bad = tmp_path / "map.pbtxt"
    bad.write_text("nothing here")
    with pytest.raises(ValueError, match="map.pbtxt"):
        read_label_map(str(bad))
    with pytest.raises(FileNotFoundError):
        read_label_map(str(tmp_path / "missing.pbtxt"))


# --- identical to the official evaluators on csv files ---------------------------------------
# tests/ava_official.py re-implements PySlowFast's ava_eval_helper + ava_evaluation and
# ActivityNet's get_ava_performance.py from their code; each case is written as csv files and
# read by both sides.

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


@pytest.mark.parametrize("protocol", ["pyslowfast", "activitynet"])
def test_csv_rows_read_as_the_official_reader(tmp_path, protocol):
    gt, det, _ = write_case(tmp_path, 7, True, protocol)
    ids = set(read_label_map(str(LABEL_MAP)))
    for path, scored in ((gt, False), (det, True)):
        ours = read_csv(path, ids, with_scores=scored, protocol=protocol)
        if protocol == "pyslowfast":
            want = ava_official.read_pyslowfast(path, ids, scored)
            key = ava_official.pyslowfast_key
        else:
            want, _ = ava_official.read_activitynet(path, ids, 50 if scored else 0)
            key = ava_official.activitynet_key
        assert [key(v, t) for v, t in ours] == list(want)  # keyframes in the same order
        for (v, t), frame in ours.items():
            got = [
                (s, lab, (y1, x1, y2, x2))
                for (x1, y1, x2, y2), lab, s in zip(frame.boxes, frame.labels, frame.scores)
            ]
            assert got == want[key(v, t)]
    if protocol == "activitynet":  # every keyframe of the ground truth file, 2-column rows too
        _, seen = ava_official.read_activitynet(gt, ids, 0)
        assert {ava_official.activitynet_key(v, t) for v, t in read_csv_keys(gt)} == seen


def _files(tmp_path, gt_rows, det_rows):
    paths = []
    for name, rows in (("gt", gt_rows), ("det", det_rows)):
        path = tmp_path / f"{name}.csv"
        path.write_text("".join(line + "\n" for line in rows))
        paths.append(str(path))
    return paths


def test_hand_built_csv_cases(tmp_path):
    a, c = "0.100,0.100,0.400,0.600", "0.000,0.700,0.200,1.000"  # c overlaps nothing
    lm = str(LABEL_MAP)
    # score tie: numpy's argsort on a short array keeps the received order, reversed for
    # descending rank, so the later row ranks first. Received FP(c), TP(a): ranked TP, FP -> 1;
    # received TP(a), FP(c): ranked FP, TP -> precision 1/2 at recall 1 -> 1/2
    # ActivityNet's heap orders tied rows by (score, action, y1, ...): a (y1 0.1) before c
    # (y1 0.7) whatever the file order, so it always ranks c first -> 1/2
    gt, det = _files(tmp_path, ["v,0902," + a + ",1"], [f"v,0902,{c},1,0.5", f"v,0902,{a},1,0.5"])
    assert evaluate_files(lm, gt, det).mean_ap == 1.0
    assert evaluate_files(lm, gt, det, protocol="activitynet").mean_ap == 0.5
    gt, det = _files(tmp_path, ["v,0902," + a + ",1"], [f"v,0902,{a},1,0.5", f"v,0902,{c},1,0.5"])
    assert evaluate_files(lm, gt, det).mean_ap == 0.5
    assert evaluate_files(lm, gt, det, protocol="activitynet").mean_ap == 0.5
    # a detection on a keyframe without ground truth: a FP for PySlowFast (AP 1/2: ranked
    # FP 0.9, TP 0.3); ignored by ActivityNet (AP 1) unless the ground truth lists the keyframe
    # in a 2-column row (AP 1/2 again); an excluded keyframe is ignored by PySlowFast
    gt_rows = ["v,0902," + a + ",1"]
    det_rows = [f"v,0902,{a},1,0.3", f"v,0905,{a},1,0.9"]
    gt, det = _files(tmp_path, gt_rows, det_rows)
    assert evaluate_files(lm, gt, det).mean_ap == 0.5
    assert evaluate_files(lm, gt, det, protocol="activitynet").mean_ap == 1.0
    excl = tmp_path / "excl.csv"
    excl.write_text("v,905\n")
    assert evaluate_files(lm, gt, det, str(excl)).mean_ap == 1.0
    with pytest.raises(ValueError, match="no excluded-timestamps file"):
        evaluate_files(lm, gt, det, str(excl), protocol="activitynet")
    gt, det = _files(tmp_path, gt_rows + ["v,905"], det_rows)
    assert evaluate_files(lm, gt, det, protocol="activitynet").mean_ap == 0.5
    with pytest.raises(ValueError, match="gt.csv:2: expected"):  # PySlowFast has no such row
        evaluate_files(lm, gt, det)
    # ActivityNet keys timestamps to the microsecond ("%.6f"): 902.0 is 0902, 902.5 is not
    gt, det = _files(tmp_path, gt_rows, [f"v,902.000,{a},1,0.3", f"v,902.5,{a},1,0.9"])
    assert evaluate_files(lm, gt, det, protocol="activitynet").mean_ap == 1.0
    with pytest.raises(ValueError, match="timestamp '902.000' is not an integer"):
        evaluate_files(lm, gt, det)
    # ... through a float, as the official "%.6f" % Decimal(ts): 902.0000025 is 902.000003
    gt, det = _files(tmp_path, ["v,902.000003," + a + ",1"], [f"v,902.0000025,{a},1,0.3"])
    assert evaluate_files(lm, gt, det, protocol="activitynet").mean_ap == 1.0
    # duplicate ground-truth rows are two instances: one detection finds one -> AP 1/2
    gt, det = _files(tmp_path, gt_rows * 2, [f"v,0902,{a},1,0.3"])
    for protocol in ("pyslowfast", "activitynet"):
        assert evaluate_files(lm, gt, det, protocol=protocol).mean_ap == 0.5
