"""Real multi-process DDP (gloo on CPU) through torchrun, against single-process runs."""

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from netutil import free_port

from videossl.plotting import read_metrics

HERE = Path(__file__).resolve().parent
SCRIPT = str(HERE / "train_toy.py")
pytestmark = pytest.mark.slow


def _torchrun(out, *args, nproc=1, nnodes=1, node_rank=0, port=None):
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
    cmd += [f"--nnodes={nnodes}", f"--node_rank={node_rank}", "--master_addr=127.0.0.1"]
    cmd += [f"--master_port={port or free_port()}", SCRIPT, str(out), *map(str, args)]
    return cmd


def _run(cmd, timeout=240):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _weights(out):
    return torch.load(Path(out) / "final.pt")


def _same(a, b):
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)


def test_two_processes_equal_one_process_and_accumulation(tmp_path):
    _run([sys.executable, SCRIPT, str(tmp_path / "one"), 8, 1, 2])
    _run(_torchrun(tmp_path / "two", 8, 1, 2, nproc=2))
    _run([sys.executable, SCRIPT, str(tmp_path / "accum"), 8, 2, 2])
    one = _weights(tmp_path / "one")
    _same(one, _weights(tmp_path / "two"))
    _same(one, _weights(tmp_path / "accum"))


def test_two_nodes_train_together(tmp_path):
    port = free_port()
    cmds = [
        _torchrun(tmp_path / "nodes", 8, 1, 2, nnodes=2, node_rank=r, port=port) for r in (0, 1)
    ]
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for c in cmds]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err.decode()[-3000:]
    _run([sys.executable, SCRIPT, str(tmp_path / "one"), 8, 1, 2])
    _same(_weights(tmp_path / "one"), _weights(tmp_path / "nodes"))


def _losses(out):
    seq = {}
    for r in read_metrics(str(out)):
        if r.get("phase") == "train":
            seq[r["global_step"]] = r["loss"]
    return [seq[k] for k in sorted(seq)]


def test_sigkill_at_random_points_resumes_to_the_same_losses(tmp_path):
    args = [sys.executable, SCRIPT]
    _run([*args, str(tmp_path / "straight"), 4, 1, 6, 1])
    rng = random.Random(0)
    out = tmp_path / "killed"
    for _ in range(3):
        proc = subprocess.Popen(
            [*args, str(out), "4", "1", "6", "1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(2.0, 5.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    _run([*args, str(out), 4, 1, 6, 1])
    assert _losses(out) == _losses(tmp_path / "straight")
    _same(_weights(tmp_path / "straight"), _weights(out))
