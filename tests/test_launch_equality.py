"""Spawn-safe launches give equal losses: the same 2-process CPU run (gloo, DATA.NUM_WORKERS 2,
two epochs) started three ways logs identical per-step losses in metrics.jsonl:

- PySlowFast-style spawn: `tools/run_net.py ... NUM_GPUS 2` (videossl.distributed.launch);
- torchrun: `torchrun --nproc_per_node 2 tools/run_net.py ... NUM_GPUS 2`;
- two shards: `tools/run_net.py ... --num-shards 2 --shard-id {0,1} --init-method tcp://...`,
  two processes started by the test.

The recipe is the flagship MaskFeat MViTv2-S pretraining, shrunk with videossl.recipes (cube
masks drawn in the loader workers, RandomResizedCrop + flip), in fp32 for all three launches,
and with the recipe's bf16 autocast for spawn and torchrun. Regression (issue 12): in bf16 the
pooling convs' weight gradients were garbage (gradient norms of 1e+15 from the second step, in
every launch, at random; oneDNN's bf16 depthwise Conv3d weight gradient on a channels-last
grid, see tests/test_mvit_attention.py), so the bf16 runs also check every gradient norm.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from netutil import free_port

from videossl.config import load_config
from videossl.data.demo import write_demo_dataset
from videossl.recipes import shrink_overrides

pytestmark = pytest.mark.slow
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(REPO, "configs", "kinetics", "MVITv2_S_16x4_MaskFeat_PT.yaml")
RUN_NET = os.path.join(REPO, "tools", "run_net.py")
STEPS = 2  # per epoch; two epochs
TIMEOUT_S = 300


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp("k400_tiny"))
    # 12 training videos: 6 per rank, 3 steps of 2 clips available per epoch.
    write_demo_dataset(
        root, num_train_per_class=2, num_val_per_class=1, num_test_per_class=1, num_frames=24
    )
    return root


def _opts(data_dir: str, out: str, amp: str = "") -> list[str]:
    cfg = load_config([RECIPE])
    opts = shrink_overrides(cfg, data_dir=data_dir, output_dir=out)
    return opts + [
        "DATA.NUM_WORKERS", "2", "TRAIN.BATCH_SIZE", "4", "SOLVER.MAX_EPOCH", "2",
        "TRAIN.MAX_ITERS_PER_EPOCH", str(STEPS), "DISTRIBUTED.TIMEOUT_S", "120", "TRAIN.AMP", amp,
    ]  # fmt: skip


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, env.get("PYTHONPATH", "")) if p)
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _run_all(cmds: list[list[str]]) -> None:
    procs = [
        subprocess.Popen(c, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for c in cmds
    ]
    for proc in procs:
        out, _ = proc.communicate(timeout=TIMEOUT_S)
        assert proc.returncode == 0, out[-4000:]


def _losses(out: str, key: str = "loss") -> list[float]:
    """The `key` ("loss" or "grad_norm") of each training step logged in metrics.jsonl."""
    with open(os.path.join(out, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f if line.strip()]
    by_step = {r["global_step"]: r[key] for r in records if r.get("phase") == "train"}
    return [by_step[k] for k in sorted(by_step)]


def _spawn(data_dir: str, out: str, amp: str = "") -> list[float]:
    init = f"tcp://127.0.0.1:{free_port()}"
    opts = _opts(data_dir, out, amp) + ["NUM_GPUS", "2", "DISTRIBUTED.INIT_METHOD", init]
    _run_all([[sys.executable, RUN_NET, "--cfg", RECIPE, *opts]])
    return _losses(out)


def _torchrun(data_dir: str, out: str, amp: str = "") -> list[float]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    cmd += ["--master_addr", "127.0.0.1", "--master_port", str(free_port()), RUN_NET]
    _run_all([cmd + ["--cfg", RECIPE, *_opts(data_dir, out, amp), "NUM_GPUS", "2"]])
    return _losses(out)


def _shards(data_dir: str, out: str) -> list[float]:
    init = f"tcp://127.0.0.1:{free_port()}"
    base = [sys.executable, RUN_NET, "--cfg", RECIPE, "--num-shards", "2", "--init-method", init]
    _run_all([base + ["--shard-id", str(s), *_opts(data_dir, out)] for s in (0, 1)])
    return _losses(out)


def test_spawn_torchrun_and_shards_log_identical_losses(data_dir, tmp_path):
    spawn = _spawn(data_dir, str(tmp_path / "spawn"))
    torchrun = _torchrun(data_dir, str(tmp_path / "torchrun"))
    shards = _shards(data_dir, str(tmp_path / "shards"))
    assert len(torchrun) == 2 * STEPS
    assert all(0 < v < 10 for v in torchrun), torchrun
    assert spawn == torchrun, (spawn, torchrun)
    assert shards == torchrun, (shards, torchrun)
    for name in ("spawn", "torchrun", "shards"):
        assert os.listdir(tmp_path / name / "checkpoints")


def test_bf16_spawn_and_torchrun_log_identical_losses_and_sane_gradients(data_dir, tmp_path):
    spawn = _spawn(data_dir, str(tmp_path / "spawn"), amp="bf16")
    torchrun = _torchrun(data_dir, str(tmp_path / "torchrun"), amp="bf16")
    assert len(torchrun) == 2 * STEPS
    assert all(0 < v < 10 for v in torchrun), torchrun
    assert spawn == torchrun, (spawn, torchrun)
    for name in ("spawn", "torchrun"):
        norms = _losses(str(tmp_path / name), key="grad_norm")
        assert len(norms) == 2 * STEPS and all(0 < g < 10 for g in norms), (name, norms)
