"""Correctness sections: `pytest -m gpu`, DDP ranks identical, and resume bit-exact."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from .common import (
    ROOT,
    SectionFailed,
    child_env,
    device_of,
    free_port,
    tiny_batch,
    tiny_classifier,
)


def section_pytest(args: argparse.Namespace) -> dict[str, Any]:
    import xml.etree.ElementTree as ET

    test_file = ROOT / "tests" / "test_gpu.py"
    if not test_file.exists():
        raise FileNotFoundError(f"{test_file} not found (run from a source checkout)")
    xml = os.path.join(args.out, "pytest_gpu.xml")
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", str(test_file)]
    cmd += [f"--junitxml={xml}", "-p", "no:cacheprovider", "-o", "addopts="]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT), env=child_env())
    suite = ET.parse(xml).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    cases = []
    for case in suite.iter("testcase"):
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                cases.append(
                    {
                        "test": case.get("name"),
                        "outcome": outcome,
                        "message": (node.get("message") or "")[:300],
                    }
                )
                break
        else:
            cases.append({"test": case.get("name"), "outcome": outcome})
    counts: dict[str, int] = {}
    for c in cases:
        counts[c["outcome"]] = counts.get(c["outcome"], 0) + 1
    result = {"returncode": proc.returncode, "counts": counts, "tests": cases}
    if proc.returncode not in (0, 5):
        result["output_tail"] = proc.stdout[-3000:]
        raise SectionFailed(result)
    return result


def section_ddp(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    cuda = args.device == "cuda"
    nproc = min(2, torch.cuda.device_count()) if cuda else 2
    result_file = os.path.join(args.out, "ddp_result.json")
    if os.path.exists(result_file):
        os.remove(result_file)
    if not cuda:  # gloo: forked ranks (the package is imported already)
        return _ddp_forked(args, nproc, result_file)
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
    cmd += ["--nnodes=1", "--master_addr=127.0.0.1", f"--master_port={free_port()}"]
    cmd += ["-m", "videossl.benchmarks.gpu_check", "--section", "ddp_worker"]
    cmd += ["--device", args.device, "--out", args.out] + (["--dry-run"] if args.dry_run else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT), env=child_env())
    if proc.returncode or not os.path.exists(result_file):
        raise SectionFailed({"returncode": proc.returncode, "output_tail": proc.stderr[-3000:]})
    with open(result_file) as f:
        result = json.load(f)
    if not result["ranks_identical"] or not result["loss_finite"]:
        raise SectionFailed(result)
    return result


def _ddp_forked(args: argparse.Namespace, nproc: int, result_file: str) -> dict[str, Any]:
    import multiprocessing as mp

    port = free_port()
    procs = [
        mp.get_context("fork").Process(target=_ddp_rank, args=(args, rank, nproc, port))
        for rank in range(nproc)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    codes = [p.exitcode for p in procs]
    if any(codes) or not os.path.exists(result_file):
        raise SectionFailed({"returncodes": codes})
    with open(result_file) as f:
        result = json.load(f)
    if not result["ranks_identical"] or not result["loss_finite"]:
        raise SectionFailed(result)
    return result


def _ddp_rank(args: argparse.Namespace, rank: int, world: int, port: int) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    section_ddp_worker(args)


def section_ddp_worker(args: argparse.Namespace) -> dict[str, Any]:
    """One rank: DDP on a tiny ViT classifier, different data per rank, then compare ranks."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from videossl.engine.optim import build_optimizer

    cuda = args.device == "cuda"
    local = int(os.environ.get("LOCAL_RANK", 0))
    if cuda:
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    model, cfg = tiny_classifier(device)
    ddp = DistributedDataParallel(model, device_ids=[local] if cuda else None)
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.05, fused=True)
    start = time.perf_counter()
    losses = []
    for step in range(4):
        batch = tiny_batch(cfg, 4, seed=100 * rank + step, device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            loss = sum(v for k, v in ddp(batch).items() if k.startswith("loss"))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss))
    flat = torch.cat([p.detach().float().flatten() for p in model.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    diff = max(float((g - gathered[0]).abs().max()) for g in gathered)
    total = torch.ones(1, device=device)
    dist.all_reduce(total)
    result = {
        "backend": dist.get_backend(),
        "world_size": world,
        "all_reduce_sum": float(total),
        "losses_rank0": losses,
        "loss_finite": all(map(lambda v: v == v and abs(v) != float("inf"), losses)),
        "max_param_diff_across_ranks": diff,
        "ranks_identical": diff == 0.0 and float(total) == world,
        "seconds": round(time.perf_counter() - start, 2),
    }
    dist.barrier()
    dist.destroy_process_group()
    if rank == 0:
        with open(os.path.join(args.out, "ddp_result.json"), "w") as f:
            json.dump(result, f)
    return result


def section_checkpoint(args: argparse.Namespace) -> dict[str, Any]:
    """Trainer on the device: 2 epochs straight vs 1 epoch + resume; weights must be equal."""
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = device_of(args)
    with tempfile.TemporaryDirectory() as tmp:
        straight = _train_state(device, os.path.join(tmp, "a"), 2)
        _train_state(device, os.path.join(tmp, "b"), 1)
        resumed = _train_state(device, os.path.join(tmp, "b"), 2)
    mismatched = [
        k for k in straight if k != "_resumed" and not torch.equal(straight[k], resumed[k])
    ]
    result = {
        "device": str(device),
        "resumed_from_checkpoint": bool(resumed["_resumed"]),
        "tensors_compared": len(straight) - 1,
        "mismatched": mismatched[:20],
        "bit_exact": not mismatched and bool(resumed["_resumed"]),
    }
    if not result["bit_exact"]:
        raise SectionFailed(result)
    return result


def _clips(cfg):
    """16 synthetic clips for `cfg`'s input, one per item."""
    import torch

    class Clips(torch.utils.data.Dataset):
        def __len__(self):
            return 16

        def __getitem__(self, i):
            return {k: v[0] for k, v in tiny_batch(cfg, 1, seed=i).items()}

    return Clips()


def _train_state(device, out: str, epochs: int) -> dict:
    """The real Trainer up to `epochs` (resuming from `out` when it holds a checkpoint):
    model and optimizer tensors, and `_resumed` (whether it resumed)."""
    import torch

    from videossl.data.loader import make_loader
    from videossl.engine.optim import build_optimizer, build_scheduler
    from videossl.engine.trainer import Trainer, TrainOptions

    torch.manual_seed(0)
    model, cfg = tiny_classifier(device)
    loader = make_loader(_clips(cfg), batch_size=4, shuffle=True, drop_last=True, seed=3)
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.05, fused=True)
    amp = "bf16" if device.type == "cuda" else ""
    options = TrainOptions(output_dir=out, max_epoch=epochs, amp=amp, log_period=2, seed=1)
    trainer = Trainer(model, opt, None, loader, options, device=device)
    trainer.scheduler = build_scheduler(
        opt,
        total_steps=trainer.steps_per_epoch * 2,
        warmup_steps=1,
        min_lr=1e-5,
        warmup_start_lr=1e-4,
    )
    resumed = trainer.resume()
    trainer.train()
    state = {f"model.{k}": v.detach().clone() for k, v in model.state_dict().items()}
    for i, s in enumerate(opt.state_dict()["state"].values()):
        for k, v in s.items():
            if torch.is_tensor(v):
                state[f"opt.{i}.{k}"] = v.detach().clone()
    state["_resumed"] = torch.tensor(resumed)
    return state
