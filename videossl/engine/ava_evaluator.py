"""The AVA evaluator: collects per-box scores, gathers them, computes the official frame mAP,
writes the detections csv (official format) and a per-class AP table on rank 0."""

from __future__ import annotations

import csv
import logging
import math
import os
from typing import Any

import numpy as np
from fvcore.common.config import CfgNode

from ..distributed import all_gather_object, is_main_process
from .ava_csv import (
    FrameBoxes,
    apply_protocol,
    read_csv,
    read_csv_keys,
    read_exclusions,
    read_label_map,
    write_detections_csv,
)
from .ava_eval import format_per_class, frame_map
from .evaluators import EVALUATORS

logger = logging.getLogger(__name__)


def _resolve(annotation_dir: str, name: str) -> str:
    return name if not name or os.path.isabs(name) else os.path.join(annotation_dir, name)


@EVALUATORS.register()
class AVAEvaluator:
    """Built as `AVAEvaluator(cfg, dataset)`; `process(batch, outputs)` per batch,
    `summarize()` on every rank -> {"mAP": percent, "num_keyframes", "num_boxes"}."""

    @classmethod
    def from_config(cls, cfg: CfgNode, dataset: Any, tag: str) -> dict[str, Any]:
        """Constructor keywords: the config itself (AVA.* annotation files and protocol)."""
        return dict(cfg=cfg, dataset=dataset, tag=tag)

    def __init__(self, cfg: CfgNode, dataset: Any = None, *, tag: str = "test") -> None:
        ava = cfg.AVA
        self.label_map = read_label_map(_resolve(ava.ANNOTATION_DIR, ava.LABEL_MAP_FILE))
        gt_path = _resolve(ava.ANNOTATION_DIR, ava.GROUNDTRUTH_FILE)
        if not os.path.isfile(gt_path):
            raise FileNotFoundError(
                f"AVA ground truth {gt_path} not found (AVA.GROUNDTRUTH_FILE in "
                f"AVA.ANNOTATION_DIR={ava.ANNOTATION_DIR!r})."
            )
        self.protocol = ava.EVAL_PROTOCOL
        cap = ava.EVAL_DETECTIONS_PER_FRAME
        self.capacity = None if cap < 0 else cap  # None: the protocol's own (0 / 50)
        self.groundtruth = read_csv(
            gt_path, set(self.label_map), with_scores=False, protocol=self.protocol
        )
        excl = _resolve(ava.ANNOTATION_DIR, ava.EXCLUSION_FILE)
        self.excluded = read_exclusions(excl) if ava.EXCLUSION_FILE else set()
        self.included = None
        if self.protocol == "activitynet":
            # get_ava_performance.py takes no exclusions file: it scores detections only on
            # the keyframes the ground truth file lists
            self.included = read_csv_keys(gt_path)
            if self.excluded:
                logger.warning(
                    "AVA.EVAL_PROTOCOL activitynet: AVA.EXCLUSION_FILE is not used (the "
                    "official script scores only the ground truth's keyframes)."
                )
            self.excluded = set()
        self.iou_threshold = ava.EVAL_IOU_THRESHOLD
        self.write = ava.WRITE_DETECTIONS
        self.output_dir = cfg.OUTPUT_DIR
        self.tag = tag
        self.reset()

    def reset(self) -> None:
        # (video_id, timestamp, rounded box) -> (box, scores [K]); a box seen twice (padding
        # of the distributed sampler) is kept once
        self.boxes: dict[tuple, tuple[tuple[float, ...], np.ndarray]] = {}

    def process(self, batch: dict, outputs: dict) -> None:
        meta = batch["meta"]
        scores = outputs["scores"].detach().float().cpu().numpy()
        orig = meta["orig_boxes"].detach().float().cpu().numpy()
        stamps = meta["timestamp"].cpu().tolist()
        for i, (video_id, ts) in enumerate(zip(meta["video_id"], stamps)):
            box = tuple(float(v) for v in orig[i])
            self.boxes[(video_id, int(ts), tuple(round(v, 4) for v in box))] = (box, scores[i])

    def detections(self, boxes: dict) -> dict[tuple[str, int], FrameBoxes]:
        """One detection per (box, evaluated class) with the class's sigmoid score, box by box
        then class by class (PySlowFast's get_ava_eval_data order); boxes sorted by
        (video_id, timestamp, box)."""
        out: dict[tuple[str, int], FrameBoxes] = {}
        classes = sorted(self.label_map)
        for (video_id, ts, _), (box, scores) in sorted(boxes.items()):
            frame = out.setdefault((video_id, ts), FrameBoxes())
            for c in classes:
                if c - 1 < len(scores):
                    frame.add(box, c, float(scores[c - 1]))
        return out

    def summarize(self) -> dict[str, float]:
        boxes: dict = {}
        for part in all_gather_object(self.boxes):
            boxes.update(part)
        detections = self.detections(boxes)
        result = frame_map(
            self.groundtruth,
            apply_protocol(detections, self.protocol, self.capacity),
            set(self.label_map),
            self.excluded,
            iou_threshold=self.iou_threshold,
            included=self.included,
        )
        if is_main_process():
            logger.info(
                "AVA per-class AP (%s):\n%s", self.tag, format_per_class(result, self.label_map)
            )
            self._write(detections, result)
        return {
            "mAP": 100.0 * result.mean_ap,
            "num_keyframes": float(len(detections)),
            "num_boxes": float(len(boxes)),
        }

    def _write(self, detections: dict, result: Any) -> None:
        os.makedirs(self.output_dir, exist_ok=True)
        if self.write:
            write_detections_csv(
                os.path.join(self.output_dir, f"ava_detections_{self.tag}.csv"), detections
            )
        path = os.path.join(self.output_dir, f"ava_per_class_ap_{self.tag}.csv")
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["action_id", "name", "ap"])
            for label, ap in result.per_class.items():
                writer.writerow([label, self.label_map[label], "" if math.isnan(ap) else ap])
