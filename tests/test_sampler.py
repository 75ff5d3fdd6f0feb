import torch

from videossl.data.sampler import ResumableDistributedSampler, SeededDataset


def test_ranks_partition_and_pad():
    keys = [
        [i for i, _ in ResumableDistributedSampler(10, num_replicas=3, rank=r, shuffle=False)]
        for r in range(3)
    ]
    assert [len(k) for k in keys] == [4, 4, 4]
    flat = sorted(sum(keys, []))
    assert set(flat) == set(range(10)) and len(flat) == 12  # two padded repeats


def test_drop_last_drops_the_tail():
    s = ResumableDistributedSampler(10, num_replicas=3, rank=0, drop_last=True)
    assert len(s) == 3 and len(list(s)) == 3


def test_epochs_differ_and_start_skips():
    s = ResumableDistributedSampler(20, seed=5)
    s.set_epoch(0)
    e0 = list(s)
    s.set_epoch(1)
    e1 = list(s)
    assert [i for i, _ in e0] != [i for i, _ in e1]
    s.set_epoch(0, start=7)
    assert list(s) == e0[7:]
    assert len(s) == 13


def test_seeds_are_per_position_and_reproducible():
    a = list(ResumableDistributedSampler(8, seed=1))
    b = list(ResumableDistributedSampler(8, seed=1))
    assert a == b
    assert len({seed for _, seed in a}) == 8


class _Rand(torch.utils.data.Dataset):
    def __len__(self):
        return 3

    def __getitem__(self, i):
        return torch.rand(1).item()


def test_seeded_dataset_is_deterministic_per_key():
    ds = SeededDataset(_Rand())
    assert ds[(0, 42)] == ds[(0, 42)]
    assert ds[(0, 42)] != ds[(0, 43)]
    assert len(ds) == 3
