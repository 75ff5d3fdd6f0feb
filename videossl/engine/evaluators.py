"""Evaluators: collect model outputs per view, gather across ranks, aggregate per video."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import torch
from fvcore.common.registry import Registry

from ..distributed import all_gather_object, is_main_process
from ..plotting import read_class_names, save_confusion_png

logger = logging.getLogger(__name__)

EVALUATORS = Registry("EVALUATORS")
EVALUATORS.__doc__ = (
    "Evaluators by name (an objective's registry entry names its own); built as "
    "cls(**cls.from_config(cfg, dataset, tag))."
)


def topk_accuracy(probs: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    k = min(k, probs.shape[1])
    top = probs.topk(k, dim=1).indices
    return float((top == labels[:, None]).any(dim=1).float().mean()) * 100.0


def mean_class_accuracy(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    accs = []
    for c in range(num_classes):
        sel = labels == c
        if sel.any():
            accs.append(float((preds[sel] == c).float().mean()))
    return 100.0 * sum(accs) / max(len(accs), 1)


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    flat = labels * num_classes + preds
    return torch.bincount(flat, minlength=num_classes**2).reshape(num_classes, num_classes)


@EVALUATORS.register()
class ClassificationEvaluator:
    """Multi-view video classification: softmax per view, averaged (or max) per video.

    Views are keyed by (video index, view id), so the copies a distributed sampler pads in are
    counted once. Views the dataset marks invalid (undecodable) are excluded and counted.
    """

    def __init__(
        self,
        *,
        dataset: Any,
        output_dir: str,
        ensemble: str = "sum",
        save_predictions: bool = True,
        tag: str = "test",
        class_names: list[str] | None = None,
    ) -> None:
        self.dataset = dataset
        self.output_dir = output_dir
        self.ensemble = ensemble
        self.save_predictions = save_predictions
        self.tag = tag
        self.class_names = class_names
        self.reset()

    @classmethod
    def from_config(cls, cfg: Any, dataset: Any, tag: str) -> dict[str, Any]:
        """Constructor keywords from OUTPUT_DIR and TEST.*."""
        return dict(
            dataset=dataset,
            output_dir=cfg.OUTPUT_DIR,
            ensemble=cfg.TEST.ENSEMBLE_METHOD,
            save_predictions=cfg.TEST.SAVE_PREDICTIONS,
            tag=tag,
            class_names=read_class_names(cfg.DATA.PATH_TO_DATA_DIR),
        )

    def reset(self) -> None:
        self.views: dict[tuple[int, int], torch.Tensor] = {}
        self.invalid: set[tuple[int, int]] = set()

    def process(self, batch: dict, outputs: dict) -> None:
        probs = outputs["logits"].float().softmax(dim=1).cpu()
        index = batch["index"].cpu().tolist()
        view = batch.get("view", torch.zeros(len(index), dtype=torch.long)).cpu().tolist()
        valid = batch.get("valid")
        valid = valid.cpu().tolist() if valid is not None else [True] * len(index)
        for i, (vid, v, ok) in enumerate(zip(index, view, valid)):
            if ok:
                self.views[(vid, v)] = probs[i]
            else:
                self.invalid.add((vid, v))

    def _gather(self) -> tuple[dict, set]:
        views: dict = {}
        invalid: set = set()
        for part_views, part_invalid in all_gather_object((self.views, self.invalid)):
            views.update(part_views)
            invalid |= part_invalid
        return views, invalid

    def summarize(self) -> dict[str, float]:
        views, invalid = self._gather()
        labels_all = list(self.dataset.labels)
        per_video: dict[int, list[torch.Tensor]] = {}
        for (vid, _), p in sorted(views.items()):
            per_video.setdefault(vid, []).append(p)
        missing = [i for i in range(len(labels_all)) if i not in per_video]
        if missing:
            logger.warning(
                "%d of %d videos had no decodable view and are left out of the metrics.",
                len(missing),
                len(labels_all),
            )
        ids = sorted(per_video)
        if not ids:
            raise RuntimeError("No test view could be evaluated: check the test list and data.")
        stacked = [torch.stack(per_video[i]) for i in ids]
        agg = [s.mean(0) if self.ensemble == "sum" else s.max(0).values for s in stacked]
        probs = torch.stack(agg)
        labels = torch.tensor([labels_all[i] for i in ids])
        num_classes = probs.shape[1]
        preds = probs.argmax(1)
        result = {
            "top1": topk_accuracy(probs, labels, 1),
            "top5": topk_accuracy(probs, labels, 5),
            "mean_class_acc": mean_class_accuracy(preds, labels, num_classes),
            "num_videos": float(len(ids)),
            "num_views": float(len(views)),
            "invalid_views": float(len(invalid)),
            "missing_videos": float(len(missing)),
        }
        if is_main_process():
            self._write(ids, probs, labels, preds, num_classes)
        return result

    def _write(self, ids, probs, labels, preds, num_classes: int) -> None:
        os.makedirs(self.output_dir, exist_ok=True)
        if self.save_predictions:
            paths = getattr(self.dataset, "paths", None)
            path = os.path.join(self.output_dir, f"predictions_{self.tag}.jsonl")
            with open(path, "w") as f:
                for row, vid in enumerate(ids):
                    top5 = probs[row].topk(min(5, num_classes)).indices.tolist()
                    rec = {"index": vid, "label": int(labels[row]), "pred": int(preds[row])}
                    rec["top5"] = top5
                    rec["score"] = float(probs[row, preds[row]])
                    if paths is not None:
                        rec["path"] = str(paths[vid])
                    f.write(json.dumps(rec) + "\n")
        cm = confusion_matrix(preds, labels, num_classes)
        save_confusion_png(
            cm,
            os.path.join(self.output_dir, f"confusion_{self.tag}.png"),
            class_names=self.class_names,
            title=self.tag,
        )


# Evaluators defined in their own modules register themselves on import.
from . import ava_evaluator  # noqa: E402, F401
