"""AVA data: annotation parsing and errors, clip sampling, box-aware transforms, collate."""

import pytest
import torch
from torchvision.io import write_jpeg

from videossl.data.ava import AVADataset, build_records, clip_indices, collate_ava
from videossl.data.ava_annotations import read_box_list
from videossl.data.ava_transforms import eval_transform, train_transform

FPS, START = 2, 900
H, W = 48, 80
# normalised boxes of two actors; the first is drawn bright in every frame
BOX_A = (0.25, 0.25, 0.5, 0.75)
BOX_B = (0.6, 0.1, 0.9, 0.5)

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")


def draw_frame(box=BOX_A):
    img = torch.zeros(3, H, W, dtype=torch.uint8)
    x1, y1, x2, y2 = round(box[0] * W), round(box[1] * H), round(box[2] * W), round(box[3] * H)
    img[:, y1:y2, x1:x2] = 255
    return img


@pytest.fixture
def ava_dir(tmp_path):
    """Two videos of 8 frames (keyframes 902, 903 at 2 fps), gt and proposal csvs."""
    for vid in ("vidA", "vidB"):
        (tmp_path / "frames" / vid).mkdir(parents=True)
        for i in range(1, 9):
            write_jpeg(draw_frame(), str(tmp_path / "frames" / vid / f"{vid}_{i:06d}.jpg"))
    gt = [
        f"vidA,0902,{','.join(map(str, BOX_A))},1,0",
        f"vidA,0902,{','.join(map(str, BOX_A))},5,0",
        f"vidA,0902,{','.join(map(str, BOX_B))},3,1",
        f"vidB,0903,{','.join(map(str, BOX_A))},2,0",
        f"vidB,0950,{','.join(map(str, BOX_A))},2,0",  # outside the keyframe range
    ]
    (tmp_path / "gt.csv").write_text("\n".join(gt) + "\n")
    props = [
        f"vidA,0902,{','.join(map(str, BOX_A))},,0.95",
        f"vidA,0902,{','.join(map(str, BOX_B))},,0.3",
        f"vidB,0903,{','.join(map(str, BOX_B))},,0.85",
    ]
    (tmp_path / "props.csv").write_text("\n".join(props) + "\n")
    return tmp_path


def make_dataset(ava_dir, path, with_scores, train, **kw):
    frames = read_box_list(
        str(ava_dir / path),
        with_scores=with_scores,
        num_classes=8,
        score_thresh=0.8,
        keyframe_range=(902, 903),
    )
    return AVADataset(
        build_records(frames, 8),
        frame_dir=str(ava_dir / "frames"),
        fps=FPS,
        video_start_sec=START,
        num_frames=4,
        sampling_rate=2,
        train=train,
        crop_size=32,
        jitter_scales=(32, 40),
        **kw,
    )


def test_gt_rows_merge_into_multi_hot(ava_dir):
    frames = read_box_list(
        str(ava_dir / "gt.csv"), with_scores=False, num_classes=8, keyframe_range=(902, 903)
    )
    assert set(frames) == {("vidA", 902), ("vidB", 903)}
    records = build_records(frames, 8)
    a = records[0]
    assert a.boxes.shape == (2, 4)
    assert a.labels[0].nonzero()[0].tolist() == [0, 4]  # actions 1 and 5
    assert a.labels[1].nonzero()[0].tolist() == [2]


def test_proposals_threshold(ava_dir):
    frames = read_box_list(
        str(ava_dir / "props.csv"), with_scores=True, num_classes=8, score_thresh=0.8
    )
    records = build_records(frames, 8)
    assert [(r.video_id, len(r.boxes)) for r in records] == [("vidA", 1), ("vidB", 1)]
    assert records[0].labels.sum() == 0  # proposals carry no action


@pytest.mark.parametrize(
    "row, message",
    [
        ("vidA,0902,0.1,0.1,0.5", "expected 8 columns"),
        ("vidA,09x2,0.1,0.1,0.5,0.5,1,0", "timestamp"),
        ("vidA,0902,0.1,0.1,1.2,0.5,1,0", r"\[0, 1\]"),
        ("vidA,0902,0.5,0.1,0.1,0.5,1,0", "x1<=x2"),
        ("vidA,0902,0.1,0.1,0.5,0.5,99,0", "outside 1..8"),
        ("vidA,0902,0.1,0.1,0.5,0.5,,0", "need an action id"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, row, message):
    path = tmp_path / "bad.csv"
    path.write_text("vidA,0902,0.1,0.1,0.5,0.5,1,0\n" + row + "\n")
    with pytest.raises(ValueError, match=rf"bad.csv:2: .*{message}"):
        read_box_list(str(path), with_scores=False, num_classes=8)


def test_clip_indices_clamp():
    assert clip_indices(4, 4, 2, 8) == [0, 2, 4, 6]
    assert clip_indices(1, 4, 2, 8) == [0, 0, 1, 3]
    assert clip_indices(7, 4, 3, 8) == [1, 4, 7, 7]


def test_train_item_and_collate(ava_dir):
    ds = make_dataset(ava_dir, "gt.csv", False, True)
    assert len(ds) == 2
    torch.manual_seed(0)
    items = [ds[0], ds[1]]
    assert items[0]["video"].shape == (3, 4, 32, 32)
    assert items[0]["video"].dtype == torch.uint8  # the objective normalises on the device
    # A seeded key draws the crop from its own generator: same seed, same clip and boxes.
    a, b = ds[(0, 7)], ds[(0, 7)]
    assert torch.equal(a["video"], b["video"]) and torch.equal(a["boxes"], b["boxes"])
    assert len({tuple(ds[(0, s)]["boxes"][0].tolist()) for s in range(10)}) > 1
    batch = ds.collate_fn(items)
    assert batch["video"].shape == (2, 3, 4, 32, 32)
    assert batch["boxes"].shape == (3, 5)
    assert batch["boxes"][:, 0].tolist() == [0.0, 0.0, 1.0]
    assert batch["labels"].shape == (3, 8)
    assert batch["meta"]["video_id"] == ["vidA", "vidA", "vidB"]
    assert batch["meta"]["timestamp"].tolist() == [902, 902, 903]
    assert torch.allclose(batch["meta"]["orig_boxes"][2], torch.tensor(BOX_A))
    assert (batch["boxes"][:, 1:] >= 0).all() and (batch["boxes"][:, 1:] <= 32).all()


def test_eval_item_keeps_boxes_in_place(ava_dir):
    ds = make_dataset(ava_dir, "props.csv", True, False)
    item = ds[0]
    assert item["video"].shape == (3, 4, 32, 32)
    expected = torch.tensor(BOX_A) * 32
    assert torch.allclose(item["boxes"][0], expected, atol=1e-4)
    assert collate_ava([item])["labels"].sum() == 0


def assert_box_on_bright(frames, box):
    """The bright actor's pixel extent equals the transformed box (within resampling)."""
    bright = frames.float().mean(dim=(0, 1)) > 127
    x1, y1, x2, y2 = box.tolist()
    if not bright.any():
        assert min(x2 - x1, y2 - y1) < 1.5, "box kept an area but its pixels vanished"
        return
    ys, xs = bright.nonzero(as_tuple=True)
    found = [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]
    assert found == pytest.approx([x1, y1, x2, y2], abs=1.5)


@pytest.mark.parametrize("seed", range(6))
def test_train_transform_moves_boxes_with_pixels(seed):
    frames = draw_frame().unsqueeze(0).repeat(2, 1, 1, 1)
    boxes = torch.tensor([BOX_A]) * torch.tensor([W, H, W, H])
    gen = torch.Generator().manual_seed(seed)
    out, out_boxes = train_transform(
        frames, boxes, crop_size=40, jitter_scales=(48, 64), generator=gen
    )
    assert out.shape == (2, 3, 40, 40)
    assert_box_on_bright(out, out_boxes[0])


@pytest.mark.parametrize("mode", ["resize", "center_crop"])
def test_eval_transform_moves_boxes_with_pixels(mode):
    frames = draw_frame().unsqueeze(0)
    boxes = torch.tensor([BOX_A]) * torch.tensor([W, H, W, H])
    out, out_boxes = eval_transform(frames, boxes, crop_size=32, mode=mode)
    assert out.shape == (1, 3, 32, 32)
    assert_box_on_bright(out, out_boxes[0])


def test_flip_mirrors_box():
    frames = draw_frame().unsqueeze(0)
    boxes = torch.tensor([BOX_A]) * torch.tensor([W, H, W, H])
    flipped = None
    for seed in range(20):  # some seed flips, some does not; both must stay aligned
        gen = torch.Generator().manual_seed(seed)
        out, b = train_transform(frames, boxes, crop_size=48, jitter_scales=(48, 48), generator=gen)
        centre = (b[0, 0] + b[0, 2]) / 2
        flipped = flipped or bool(centre > out.shape[-1] / 2)
    assert flipped  # BOX_A sits left of centre; a flip moves it right


def test_missing_frames_are_named(ava_dir):
    ds = make_dataset(ava_dir, "gt.csv", False, False)
    (ava_dir / "frames" / "vidA" / "vidA_000005.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="vidA_000005.jpg"):
        ds[0]
    for f in (ava_dir / "frames" / "vidB").iterdir():
        f.unlink()
    (ava_dir / "frames" / "vidB").rmdir()
    with pytest.raises(FileNotFoundError, match=r"vidB.*gt.csv:4"):
        ds[1]
