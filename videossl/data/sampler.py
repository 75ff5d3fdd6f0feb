"""A distributed sampler that can start mid-epoch and seeds every sample.

Each yielded key is `(index, seed)`: the dataset index and a seed derived from (base seed,
epoch, position in the epoch's order). `SeededDataset` hands the seed to datasets that take one
(`takes_seed = True`: they seed explicit torch.Generators from it) and also seeds
torch/numpy/random with it before loading the item (for datasets that draw from the global
RNGs), so augmentations do not depend on which worker loads a sample; together with
`set_epoch(epoch, start)` a resumed run sees exactly the data it would have seen.
"""

from __future__ import annotations

import math
import random
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


def mix_seed(*values: int) -> int:
    """A deterministic 63-bit hash of integers (splitmix-style): a seed for (seed, k, ...)."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h ^= (v + 0x9E3779B97F4A7C15 + ((h << 6) & 0xFFFFFFFFFFFFFFFF) + (h >> 2)) & (
            0xFFFFFFFFFFFFFFFF
        )
        h = (h * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    return h & 0x7FFFFFFFFFFFFFFF


_mix = mix_seed


class ResumableDistributedSampler(Sampler):
    """Shards `size` indices over `num_replicas` ranks, optionally shuffled per epoch.

    Without `drop_last` the order is padded by repeating indices so every rank gets the same
    count (evaluators must de-duplicate by index); with it the tail is dropped.
    """

    def __init__(
        self,
        size: int,
        *,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if size <= 0:
            raise ValueError("The dataset is empty: check the list file and the data path.")
        self.size = size
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        if drop_last:
            self.per_rank = size // num_replicas
        else:
            self.per_rank = math.ceil(size / num_replicas)
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Use epoch `epoch`'s order and skip this rank's first `start` samples."""
        self.epoch = epoch
        self.start = start

    def _order(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(_mix(self.seed, self.epoch))
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        total = self.per_rank * self.num_replicas
        if total > len(order):
            order += order[: total - len(order)]
        return order[:total]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = self._order()
        mine = order[self.rank : len(order) : self.num_replicas]
        for pos in range(self.start, len(mine)):
            global_pos = pos * self.num_replicas + self.rank
            yield mine[pos], _mix(self.seed, self.epoch, global_pos)

    def __len__(self) -> int:
        return self.per_rank - self.start


class SeededDataset(Dataset):
    """Wraps a dataset so that `ds[(index, seed)]` seeds all RNGs before loading the item, and
    passes `(index, seed)` on to a dataset whose `takes_seed` is true."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]):
        index, seed = key
        torch.manual_seed(seed)
        np.random.seed(seed % (2**32))
        random.seed(seed)
        if getattr(self.dataset, "takes_seed", False):
            return self.dataset[(index, seed)]
        return self.dataset[index]

    def __getattr__(self, name: str):
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)
