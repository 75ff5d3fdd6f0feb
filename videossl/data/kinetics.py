"""Kinetics-400/600/700 (and any ``{train,val,test}.csv`` list; formats in data_lists/README.md)."""

from __future__ import annotations

import os

from fvcore.common.config import CfgNode

from .base import VideoDataset
from .options import dataset_kwargs
from .records import check_records_exist, read_list


class KineticsDataset(VideoDataset):
    """Clips from ``<PATH_TO_DATA_DIR>/<split>.csv``; see VideoDataset for items and views."""

    @classmethod
    def from_config(cls, cfg: CfgNode, split: str) -> KineticsDataset:
        list_path = os.path.join(cfg.DATA.PATH_TO_DATA_DIR, f"{split}.csv")
        records = read_list(
            list_path,
            separator=cfg.DATA.PATH_LABEL_SEPARATOR,
            prefix=cfg.DATA.PATH_PREFIX,
            fmt=cfg.DATA.LIST_FORMAT,
        )
        check_records_exist(records, list_path)
        return cls(records, **dataset_kwargs(cfg, split))
