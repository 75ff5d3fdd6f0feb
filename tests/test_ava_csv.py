"""AVA csv and label-map reading (videossl.engine.ava_csv), against the official readers as
re-implemented in tests/ava_official.py, and hand-made files."""

import ava_official
import pytest
from ava_cases import LABEL_MAP, A, B, C, frames, write_case

from videossl.engine.ava_csv import (
    apply_protocol,
    read_csv,
    read_csv_keys,
    read_exclusions,
    read_label_map,
    write_detections_csv,
)
from videossl.engine.ava_eval import frame_map


def test_capacity_keeps_top_scores_per_frame():
    gt = frames([("v", 1, A, 1)])
    det = frames([("v", 1, C, 1, 0.9), ("v", 1, A, 1, 0.5)])
    # ActivityNet's cap (heap of the top scores); PySlowFast has none
    assert frame_map(gt, apply_protocol(det, "activitynet", 1), {1}).mean_ap == 0.0
    assert frame_map(gt, apply_protocol(det, "activitynet", 2), {1}).mean_ap == pytest.approx(0.5)
    with pytest.raises(ValueError, match="activitynet"):
        apply_protocol(det, "pyslowfast", 1)


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
