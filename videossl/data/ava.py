"""AVA dataset: one item per keyframe, a clip centred on it and the person boxes in it.

Frames live at `frame_dir / frame_template.format(video_id=..., index=i + 1)` (1-based JPEG
numbering, PySlowFast layout `<video_id>/<video_id>_%06d.jpg`), extracted at `fps` from the
movie's second `video_start_sec` on. Keyframe `ts` (seconds of the movie) is frame index
`(ts - video_start_sec) * fps`; the clip takes `num_frames` frames `sampling_rate` apart
around it, clamped to the frames that exist.

Training keyframes and boxes come from ground-truth csvs (plus labelled proposals when
configured); test keyframes from person proposals with score >= threshold.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from fvcore.common.config import CfgNode
from torch.utils.data import Dataset
from torchvision.io import ImageReadMode, decode_jpeg, read_file

from .ava_annotations import KeyframeBoxes, read_box_list
from .ava_transforms import eval_transform, train_transform

logger = logging.getLogger(__name__)


@dataclass
class AVARecord:
    """One keyframe: boxes [n,4] normalised x1y1x2y2, labels [n,K] multi-hot, its source."""

    video_id: str
    timestamp: int
    boxes: np.ndarray
    labels: np.ndarray
    source: str


def _read_jpeg(path: str) -> torch.Tensor:
    """uint8 [3,H,W] RGB (torchvision's libjpeg decoder; its deprecation notice silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return decode_jpeg(read_file(path), mode=ImageReadMode.RGB)


def build_records(
    frames: dict[tuple[str, int], KeyframeBoxes], num_classes: int
) -> list[AVARecord]:
    """Records sorted by (video_id, timestamp), keyframes without boxes dropped."""
    out = []
    for (video_id, ts), kf in sorted(frames.items()):
        if not kf.boxes:
            continue
        boxes = np.asarray(kf.boxes, dtype=np.float32).reshape(-1, 4)
        out.append(AVARecord(video_id, ts, boxes, kf.multi_hot(num_classes), kf.source))
    return out


def clip_indices(center: int, num_frames: int, sampling_rate: int, total: int) -> list[int]:
    """0-based frame indices of a clip centred on `center`, clamped to [0, total-1]."""
    offsets = (np.arange(num_frames) - num_frames // 2) * sampling_rate
    return np.clip(center + offsets, 0, total - 1).astype(int).tolist()


def collate_ava(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack items: video [B,3,T,H,W]; boxes [R,5] (batch index, x1,y1,x2,y2 pixels);
    labels [R,K]; index [B]; meta: video_id list[str] (R), timestamp [R], orig_boxes [R,4]."""
    boxes, ids, stamps = [], [], []
    for b, item in enumerate(items):
        n = item["boxes"].shape[0]
        boxes.append(torch.cat([torch.full((n, 1), float(b)), item["boxes"]], dim=1))
        ids.extend([item["video_id"]] * n)
        stamps.extend([item["timestamp"]] * n)
    return {
        "video": torch.stack([item["video"] for item in items]),
        "boxes": torch.cat(boxes),
        "labels": torch.cat([item["labels"] for item in items]),
        "index": torch.tensor([item["index"] for item in items], dtype=torch.long),
        "meta": {
            "video_id": ids,
            "timestamp": torch.tensor(stamps, dtype=torch.long),
            "orig_boxes": torch.cat([item["orig_boxes"] for item in items]),
        },
    }


class AVADataset(Dataset):
    """Items: video [3,T,H,W] uint8, boxes [n,4] pixels of the crop, labels [n,K],
    orig_boxes [n,4] normalised, video_id, timestamp, index. Batch with `collate_fn`.

    ``ds[(index, seed)]`` (what SeededDataset asks for) draws the training crop and flip from
    a generator seeded with ``seed``; ``ds[index]`` draws the seed from torch's global RNG."""

    def __init__(
        self,
        records: Sequence[AVARecord],
        *,
        frame_dir: str,
        frame_template: str = "{video_id}/{video_id}_{index:06d}.jpg",
        fps: int = 30,
        video_start_sec: int = 900,
        num_frames: int = 16,
        sampling_rate: int = 4,
        train: bool = True,
        crop_size: int = 224,
        jitter_scales: Sequence[int] = (256, 320),
        random_flip: bool = True,
        test_spatial: str = "resize",
    ) -> None:
        if not records:
            raise ValueError("AVA dataset has no keyframe with boxes; check the box lists.")
        self.records = list(records)
        self.frame_dir = frame_dir
        self.frame_template = frame_template
        self.fps, self.video_start_sec = fps, video_start_sec
        self.num_frames, self.sampling_rate = num_frames, sampling_rate
        self.train, self.crop_size = train, crop_size
        self.jitter_scales, self.random_flip = tuple(jitter_scales), random_flip
        self.test_spatial = test_spatial
        self._frame_counts: dict[str, int] = {}

    collate_fn = staticmethod(collate_ava)
    takes_seed = True

    def __len__(self) -> int:
        return len(self.records)

    def frame_path(self, video_id: str, index: int) -> str:
        """Path of 0-based frame `index` of a video."""
        name = self.frame_template.format(video_id=video_id, index=index + 1)
        return os.path.join(self.frame_dir, name)

    def num_video_frames(self, record: AVARecord) -> int:
        video_id = record.video_id
        if video_id not in self._frame_counts:
            folder = os.path.dirname(self.frame_path(video_id, 0))
            if not os.path.isdir(folder):
                raise FileNotFoundError(
                    f"Frame folder {folder} of video {video_id!r} is missing (keyframe "
                    f"{record.timestamp} from {record.source}); extract frames with "
                    "tools/prepare_ava.py or fix AVA.FRAME_DIR."
                )
            self._frame_counts[video_id] = sum(f.endswith(".jpg") for f in os.listdir(folder))
        return self._frame_counts[video_id]

    def load_frames(self, record: AVARecord) -> torch.Tensor:
        """uint8 [T,3,H,W] clip around the record's keyframe."""
        total = self.num_video_frames(record)
        center = (record.timestamp - self.video_start_sec) * self.fps
        if total == 0 or not 0 <= center < total:
            raise FileNotFoundError(
                f"Keyframe {record.timestamp}s of {record.video_id!r} (from {record.source}) "
                f"is frame {center + 1}, but its folder holds {total} frames; check AVA.FPS, "
                "AVA.VIDEO_START_SEC and the extraction."
            )
        images = []
        for i in clip_indices(center, self.num_frames, self.sampling_rate, total):
            path = self.frame_path(record.video_id, i)
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"Frame {path} is missing (keyframe {record.timestamp} from {record.source})."
                )
            images.append(_read_jpeg(path))
        return torch.stack(images)

    def __getitem__(self, key) -> dict[str, Any]:
        index, seed = key if isinstance(key, tuple) else (key, None)
        record = self.records[index]
        frames = self.load_frames(record)
        h, w = frames.shape[-2:]
        orig = torch.from_numpy(record.boxes)
        boxes = orig * torch.tensor([w, h, w, h], dtype=orig.dtype)
        if self.train:
            frames, boxes = train_transform(
                frames,
                boxes,
                crop_size=self.crop_size,
                jitter_scales=self.jitter_scales,
                random_flip=self.random_flip,
                generator=torch.Generator().manual_seed(
                    int(torch.randint(2**62, ())) if seed is None else int(seed)
                ),
            )
        else:
            frames, boxes = eval_transform(
                frames, boxes, crop_size=self.crop_size, mode=self.test_spatial
            )
        return {
            "video": frames.permute(1, 0, 2, 3).contiguous(),  # uint8 [3,T,H,W]
            "boxes": boxes.float(),
            "labels": torch.from_numpy(record.labels),
            "orig_boxes": orig,
            "video_id": record.video_id,
            "timestamp": record.timestamp,
            "index": index,
        }


def _resolve(cfg: CfgNode, name: str) -> str:
    return name if os.path.isabs(name) else os.path.join(cfg.AVA.ANNOTATION_DIR, name)


def load_split_records(cfg: CfgNode, split: str) -> list[AVARecord]:
    """Keyframes of a split: "train" = ground truth (+ labelled proposals); else proposals."""
    ava = cfg.AVA
    kw = dict(num_classes=ava.NUM_CLASSES, keyframe_range=tuple(ava.KEYFRAME_RANGE))
    frames: dict = {}
    if split == "train":
        for name in ava.TRAIN_GT_BOX_LISTS:
            read_box_list(_resolve(cfg, name), with_scores=False, into=frames, **kw)
        lists = ava.TRAIN_PREDICT_BOX_LISTS
    else:
        lists = ava.TEST_PREDICT_BOX_LISTS
    for name in lists:
        read_box_list(
            _resolve(cfg, name),
            with_scores=True,
            score_thresh=ava.DETECTION_SCORE_THRESH,
            into=frames,
            **kw,
        )
    records = build_records(frames, ava.NUM_CLASSES)
    logger.info(
        "AVA %s: %d keyframes, %d boxes", split, len(records), sum(len(r.boxes) for r in records)
    )
    return records


def build_ava_dataset(cfg: CfgNode, split: str) -> AVADataset:
    """The AVA dataset of `split` ("train", "val" or "test") from the config."""
    if cfg.DATA.DEMO:
        from .ava_toy import ensure_toy_ava

        ensure_toy_ava(cfg)
    train = split == "train"
    return AVADataset(
        load_split_records(cfg, split),
        frame_dir=cfg.AVA.FRAME_DIR,
        frame_template=cfg.AVA.FRAME_TEMPLATE,
        fps=cfg.AVA.FPS,
        video_start_sec=cfg.AVA.VIDEO_START_SEC,
        num_frames=cfg.DATA.NUM_FRAMES,
        sampling_rate=cfg.DATA.SAMPLING_RATE,
        train=train,
        crop_size=cfg.DATA.TRAIN_CROP_SIZE if train else cfg.DATA.TEST_CROP_SIZE,
        jitter_scales=cfg.DATA.TRAIN_JITTER_SCALES,
        random_flip=cfg.DATA.RANDOM_FLIP,
        test_spatial=cfg.AVA.TEST_SPATIAL,
    )
