"""Dataset registry, ``build_dataset(cfg, split)``, the batch ``collate`` and ``MaskingCollate``.

A registered object is either a class with ``from_config(cfg, split)`` or a function
``fn(cfg, split) -> Dataset``.
"""

from __future__ import annotations

from typing import Any

import torch
from fvcore.common.config import CfgNode
from fvcore.common.registry import Registry
from torch.utils.data import Dataset

from .folder import FolderDataset
from .kinetics import KineticsDataset
from .ssv2 import SSv2Dataset

DATASETS = Registry("DATASETS")
DATASETS.__doc__ = "Datasets by DATA.DATASET name; built with build_dataset(cfg, split)."


def _build_ava(cfg: CfgNode, split: str) -> Dataset:
    from .ava import build_ava_dataset

    return build_ava_dataset(cfg, split)


# fvcore registers under obj.__name__; _do_register sets the lower-case DATA.DATASET names.
for _name, _obj in (
    ("kinetics", KineticsDataset),
    ("ssv2", SSv2Dataset),
    ("folder", FolderDataset),
    ("ava", _build_ava),
):
    DATASETS._do_register(_name, _obj)


def build_dataset(cfg: CfgNode, split: str) -> Dataset:
    """The ``split`` ("train", "val" or "test") of dataset ``cfg.DATA.DATASET``.

    With ``cfg.DATA.DEMO`` set, the built-in demo data is written to DATA.PATH_TO_DATA_DIR
    first when its lists are missing (Kinetics format)."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    name = cfg.DATA.DATASET
    if name not in DATASETS:
        known = ", ".join(sorted(k for k, _ in DATASETS))
        raise KeyError(f"DATA.DATASET={name!r} is not a registered dataset; use one of {known}.")
    if cfg.DATA.DEMO and name == "kinetics":
        from .demo import ensure_demo_dataset

        ensure_demo_dataset(cfg.DATA.PATH_TO_DATA_DIR)
    obj = DATASETS.get(name)
    if hasattr(obj, "from_config"):
        return obj.from_config(cfg, split)
    return obj(cfg, split)


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack items into a batch. Items with K repeated samples (``video`` [K,3,T,H,W]) are
    flattened to B*K clips, with the per-item fields repeated K times (sample-major)."""
    if not items:
        raise ValueError("collate got an empty list")
    videos = [item["video"] for item in items]
    out = None
    if torch.utils.data.get_worker_info() is not None:
        # In a worker, stack straight into shared memory (as default_collate does): saves the
        # copy that sending a regular tensor to the main process would make.
        first = videos[0]
        storage = first.untyped_storage()._new_shared(
            len(videos) * first.numel() * first.element_size(), device=first.device
        )
        out = first.new(storage).view(len(videos), *first.shape)
    video = torch.stack(videos, out=out)
    batch: dict[str, Any] = {}
    repeats = 1
    if video.dim() == 6:  # [B,K,3,T,H,W]
        repeats = video.shape[1]
        video = video.flatten(0, 1)
    batch["video"] = video
    for key in items[0]:
        if key == "video":
            continue
        values = [item[key] for item in items]
        if isinstance(values[0], torch.Tensor):
            stacked = torch.stack(values)
            batch[key] = stacked.repeat_interleave(repeats, dim=0) if repeats > 1 else stacked
        else:
            batch[key] = [v for v in values for _ in range(repeats)]
    return batch


class MaskingCollate:
    """``collate``, then one mask per clip drawn in the loader worker (MASK.IN_LOADER).

    ``masker`` is the objective's own (``model.masker``, a ``videossl.masking.Masker``); its
    ``draw(seeds, (T,H,W))`` seeds one generator per clip from (the item's ``seed``, the repeat
    index, the mask stream), so a clip gets the same mask here as when the objective draws it,
    whatever worker or batch it lands in. Items without a seed get one from torch's global RNG.
    A picklable object (spawned workers receive it)."""

    def __init__(self, masker: Any) -> None:
        self.masker = masker

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        batch = collate(items)
        video = batch["video"]
        repeats = video.shape[0] // len(items)
        seeds = []
        for item in items:
            seed = item.get("seed")
            seed = int(torch.randint(2**62, ())) if seed is None else int(seed)
            seeds += [seed] * repeats
        batch["mask"] = self.masker.draw(seeds, tuple(video.shape[2:]))
        return batch
