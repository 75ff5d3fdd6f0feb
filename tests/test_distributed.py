import json
import os

import pytest
import torch
import torch.multiprocessing as mp
from netutil import free_port

from videossl import distributed as dist_utils


def _gather_job(out_dir: str) -> None:
    rank = dist_utils.get_rank()
    gathered = dist_utils.all_gather_object({"rank": rank})
    mean = dist_utils.all_reduce_mean(torch.tensor(float(rank)))
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(
            {"world": dist_utils.get_world_size(), "gathered": gathered, "mean": float(mean)}, f
        )


def test_single_process_helpers():
    assert dist_utils.get_world_size() == 1
    assert dist_utils.all_gather_object(3) == [3]
    assert dist_utils.is_main_process()


@pytest.mark.slow
def test_launch_two_gloo_processes(tmp_path):
    dist_utils.launch(
        _gather_job,
        (str(tmp_path),),
        procs_per_node=2,
        init_method=f"tcp://127.0.0.1:{free_port()}",
        backend="gloo",
        timeout_s=60,
    )
    for rank in (0, 1):
        data = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert data["world"] == 2
        assert data["gathered"] == [{"rank": 0}, {"rank": 1}]
        assert data["mean"] == 0.5


def _dead_peer_job(out_dir: str) -> None:
    if dist_utils.get_rank() == 1:
        os._exit(0)  # a rank that dies without a word
    dist_utils.barrier()


@pytest.mark.slow
def test_dead_rank_fails_instead_of_hanging(tmp_path):
    with pytest.raises(mp.ProcessRaisedException):
        dist_utils.launch(
            _dead_peer_job,
            (str(tmp_path),),
            procs_per_node=2,
            init_method=f"tcp://127.0.0.1:{free_port()}",
            backend="gloo",
            timeout_s=5,
        )


def test_slurm_environment_is_read(monkeypatch):
    for key in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SLURM_PROCID", "3")
    monkeypatch.setenv("SLURM_NTASKS", "8")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    assert dist_utils._slurm_env() == {"rank": 3, "world_size": 8, "local_rank": 1}
