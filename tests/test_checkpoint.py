import os

import pytest
import torch

from videossl import checkpoint as ckpt


def test_atomic_save_list_prune_and_resolve(tmp_path):
    d = str(tmp_path / "checkpoints")
    for e, i in [(1, 0), (0, 5), (2, 0)]:
        ckpt.save_atomic(
            {"epoch": e, "w": torch.ones(2)}, os.path.join(d, ckpt.checkpoint_name(e, i))
        )
    names = [os.path.basename(p) for p in ckpt.list_checkpoints(d)]
    assert names == [
        ckpt.checkpoint_name(0, 5),
        ckpt.checkpoint_name(1, 0),
        ckpt.checkpoint_name(2, 0),
    ]
    assert not [f for f in os.listdir(d) if f.startswith(".tmp_")]
    path, state = ckpt.newest_complete(d)
    assert state["epoch"] == 2
    assert ckpt.resolve(str(tmp_path)) == path
    ckpt.prune(d, keep=2)
    assert len(ckpt.list_checkpoints(d)) == 2


def test_incomplete_checkpoint_is_skipped(tmp_path):
    d = str(tmp_path)
    ckpt.save_atomic({"epoch": 1}, os.path.join(d, ckpt.checkpoint_name(1, 0)))
    torch.save({"epoch": 2}, os.path.join(d, ckpt.checkpoint_name(2, 0)))  # no completion mark
    assert ckpt.newest_complete(d)[1]["epoch"] == 1


def test_resolve_missing_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        ckpt.resolve(str(tmp_path / "nothing"))
