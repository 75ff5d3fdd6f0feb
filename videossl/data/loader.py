"""DataLoaders over the project's datasets, with the resumable distributed sampler."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch.utils.data import DataLoader, Dataset

from .sampler import ResumableDistributedSampler, SeededDataset


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    shuffle: bool,
    drop_last: bool,
    num_workers: int = 0,
    pin_memory: bool = False,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> DataLoader:
    """A DataLoader whose `.sampler` is a `ResumableDistributedSampler`.

    `batch_size` is per process. The dataset's own `collate_fn` attribute wins over the one
    given. The loader draws nothing from the global RNG, so resuming does not shift it.
    """
    sampler = ResumableDistributedSampler(
        len(dataset),  # type: ignore[arg-type]
        num_replicas=world_size,
        rank=rank,
        shuffle=shuffle,
        seed=seed,
        drop_last=drop_last,
    )
    collate = getattr(dataset, "collate_fn", None) or collate_fn
    return DataLoader(
        SeededDataset(dataset),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory and torch.cuda.is_available(),
        drop_last=drop_last,
        collate_fn=collate,
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(seed),
    )
