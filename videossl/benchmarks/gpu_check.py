"""`tools/gpu_check.py`: one command that proves the CUDA path and measures throughput and MFU.

``python tools/gpu_check.py --out gpu_check`` (any CUDA machine, 1-8 GPUs; < 8 min on one
H100/H200) writes ``gpu_report.json`` and ``gpu_report.md`` under ``--out``. Sections, in order:

- ``environment``: torch/CUDA/driver/NCCL versions, GPUs, the measured peak bf16 matmul TFLOP/s
  (a large GEMM) and the datasheet dense bf16 figure looked up from the GPU name;
- ``pytest``: ``pytest -m gpu tests/test_gpu.py`` (HOG CUDA = CPU, bf16 vs fp32 losses, fused
  vs unfused AdamW, SDPA flash/efficient kernels, uint8 normalisation on the device);
- ``ddp``: a DDP run through torchrun, NCCL with 2 processes (1 when there is one GPU; gloo on
  ``--device cpu``): ranks must hold identical weights after steps on different data;
- ``checkpoint``: the real Trainer on the device, stopped after one epoch and resumed, must end
  bit-identical to an uninterrupted run;
- ``throughput``: ViT-B MAE PT (mask 0.9), MViTv2-S MaskFeat PT and ViT-B fine-tuning, 16x224,
  bf16, fused AdamW, activation checkpointing off, eager then ``torch.compile``; the largest
  batch (doubling search) whose reserved memory stays below 90%; clips/s, step time, peak
  memory, achieved TFLOP/s and MFU against both denominators;
- ``data_feed``: the real loader on generated 320x240 H.264 clips, all CPU cores as workers,
  uint8 clips normalised on the device: loader clips/s beside the models' clips/s.

Every section runs in its own subprocess with its own time budget (and the whole run under
``--total-budget``); a failure or timeout is recorded and the next section runs. The report is
rewritten after every section, so it always exists. ``--quick`` runs environment + correctness
only (< 3 min); ``--device cpu --dry-run`` runs everything on CPU at tiny sizes (CI).

FLOPs: fvcore counts one multiply-add as one FLOP; achieved TFLOP/s = 2 x fvcore count of one
training forward (the objective's real forward: masked tokens dropped for MAE) x 3 (forward +
backward) x clips/s.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]

# Dense (no sparsity) bf16 tensor-core TFLOP/s from NVIDIA datasheets; first match wins.
DATASHEET_BF16_TFLOPS: list[tuple[str, float]] = [
    ("GH200", 989.4),
    ("H200 NVL", 835.0),
    ("H200", 989.4),
    ("H100 NVL", 835.0),
    ("H100 PCIE", 756.5),
    ("H100", 989.4),
    ("H800", 989.4),
    ("B200", 2250.0),
    ("B100", 1750.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.1),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("A6000", 154.8),
    ("RTX 4090", 165.2),
]

# (key, config, what): the throughput models.
MODELS: list[tuple[str, str, str]] = [
    ("vit_b_mae_pt", "configs/kinetics/VIT_B_16x4_MAE_PT.yaml", "ViT-B MAE PT 16x224 mask 0.9"),
    (
        "mvitv2_s_maskfeat_pt",
        "configs/kinetics/MVITv2_S_16x4_MaskFeat_PT.yaml",
        "MViTv2-S MaskFeat PT 16x224",
    ),
    ("vit_b_ft", "configs/kinetics/VIT_B_16x4_MAE_FT.yaml", "ViT-B fine-tune 16x224"),
]

_COMMON_OPTS = ["DATA.NUM_FRAMES", "16", "DATA.TRAIN_CROP_SIZE", "224", "DATA.TEST_CROP_SIZE"]
_COMMON_OPTS += ["224", "MODEL.ACT_CHECKPOINT", "False", "SOLVER.FUSED", "True"]
_COMMON_OPTS += ["TRAIN.AMP", "bf16"]
_MASK_OPTS = {"vit_b_mae_pt": ["MASK.RATIO", "0.9"]}

# --dry-run: the same models, tiny.
_TINY_VIT = ["VIT.PRESET", "custom", "VIT.EMBED_DIM", "64", "VIT.DEPTH", "2", "VIT.NUM_HEADS", "2"]
_TINY = {
    "vit_b_mae_pt": _TINY_VIT
    + ["MODEL.DECODER_DIM", "32", "MODEL.DECODER_DEPTH", "1"]
    + ["MODEL.DECODER_HEADS", "2"],
    "mvitv2_s_maskfeat_pt": ["MVIT.PRESET", "custom", "MVIT.EMBED_DIM", "16"]
    + ["MVIT.DEPTHS", "[1,1,1,1]", "MASK.UNIT", "[2,16,16]"],
    "vit_b_ft": _TINY_VIT,
}
_TINY_DATA = ["DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32"]


def datasheet_tflops(name: str) -> float | None:
    """Dense bf16 TFLOP/s of a GPU from its name (e.g. 'NVIDIA H100 80GB HBM3' -> 989.4)."""
    upper = name.upper().replace("-", " ")
    for key, value in DATASHEET_BF16_TFLOPS:
        if key in upper:
            return value
    return None


def _device(args: argparse.Namespace):
    import torch

    return torch.device("cuda" if args.device == "cuda" else "cpu")


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------- sections
def section_environment(args: argparse.Namespace) -> dict[str, Any]:
    import platform

    import torch

    out: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cpu_count": len(os.sched_getaffinity(0)),
        "device": args.device,
        "gpus": [],
    }
    if args.device == "cuda":
        out["gpu_count"] = torch.cuda.device_count()
        for i in range(torch.cuda.device_count()):
            prop = torch.cuda.get_device_properties(i)
            out["gpus"].append(
                {
                    "name": prop.name,
                    "memory_gib": round(prop.total_memory / 2**30, 1),
                    "capability": f"{prop.major}.{prop.minor}",
                    "sms": prop.multi_processor_count,
                }
            )
        try:
            out["nccl"] = ".".join(str(v) for v in torch.cuda.nccl.version())
        except Exception as e:  # noqa: BLE001
            out["nccl"] = f"n/a ({e})"
        try:
            smi = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            out["driver"] = smi.stdout.strip().splitlines()[0] if smi.stdout.strip() else None
        except Exception as e:  # noqa: BLE001
            out["driver"] = f"n/a ({e})"
        out["gpu_name"] = out["gpus"][0]["name"] if out["gpus"] else None
        out["datasheet_bf16_tflops"] = datasheet_tflops(out["gpu_name"] or "")
    else:
        out["gpu_name"] = None
        out["datasheet_bf16_tflops"] = None
    out.update(_peak_matmul(args))
    return out


def _peak_matmul(args: argparse.Namespace) -> dict[str, Any]:
    """Best bf16 GEMM TFLOP/s over a few square sizes, each timed for ~1-2 s."""
    import torch

    device = _device(args)
    sizes = (256, 512) if args.dry_run else (4096, 8192, 16384)
    seconds = 0.2 if args.dry_run else 1.5
    best, per_size = 0.0, {}
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
        b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
        for _ in range(3):
            a @ b
        _sync(device)
        iters, start = 0, time.perf_counter()
        while True:
            for _ in range(5):
                a @ b
            iters += 5
            _sync(device)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        tflops = 2 * n**3 * iters / elapsed / 1e12
        per_size[str(n)] = round(tflops, 4)
        best = max(best, tflops)
        del a, b
    return {"matmul_bf16_tflops": round(best, 4), "matmul_bf16_tflops_by_size": per_size}


def section_pytest(args: argparse.Namespace) -> dict[str, Any]:
    import xml.etree.ElementTree as ET

    test_file = ROOT / "tests" / "test_gpu.py"
    if not test_file.exists():
        raise FileNotFoundError(f"{test_file} not found (run from a source checkout)")
    xml = os.path.join(args.out, "pytest_gpu.xml")
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", str(test_file)]
    cmd += [f"--junitxml={xml}", "-p", "no:cacheprovider", "-o", "addopts="]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT), env=_child_env())
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
    cmd += ["--nnodes=1", "--master_addr=127.0.0.1", f"--master_port={_free_port()}"]
    cmd += ["-m", "videossl.benchmarks.gpu_check", "--section", "ddp_worker"]
    cmd += ["--device", args.device, "--out", args.out] + (["--dry-run"] if args.dry_run else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT), env=_child_env())
    if proc.returncode or not os.path.exists(result_file):
        raise SectionFailed({"returncode": proc.returncode, "output_tail": proc.stderr[-3000:]})
    with open(result_file) as f:
        result = json.load(f)
    if not result["ranks_identical"] or not result["loss_finite"]:
        raise SectionFailed(result)
    return result


def _ddp_forked(args: argparse.Namespace, nproc: int, result_file: str) -> dict[str, Any]:
    import multiprocessing as mp

    port = _free_port()
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
    model, cfg = _tiny_classifier(device)
    ddp = DistributedDataParallel(model, device_ids=[local] if cuda else None)
    opt = build_optimizer(model, lr=1e-3, weight_decay=0.05, fused=True)
    start = time.perf_counter()
    losses = []
    for step in range(4):
        batch = _tiny_batch(cfg, 4, seed=100 * rank + step, device=device)
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

    from videossl.data.loader import make_loader
    from videossl.engine.optim import build_optimizer, build_scheduler
    from videossl.engine.trainer import Trainer, TrainOptions

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = _device(args)
    cfg_holder: list = []

    class Clips(torch.utils.data.Dataset):
        def __len__(self):
            return 16

        def __getitem__(self, i):
            return {k: v[0] for k, v in _tiny_batch(cfg_holder[0], 1, seed=i).items()}

    def run(out: str, epochs: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        model, cfg = _tiny_classifier(device)
        cfg_holder[:] = [cfg]
        loader = make_loader(Clips(), batch_size=4, shuffle=True, drop_last=True, seed=3)
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

    with tempfile.TemporaryDirectory() as tmp:
        straight = run(os.path.join(tmp, "a"), 2)
        run(os.path.join(tmp, "b"), 1)
        resumed = run(os.path.join(tmp, "b"), 2)
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


def section_throughput(args: argparse.Namespace) -> dict[str, Any]:
    """Throughput of one model (args.model), eager or compiled (args.compile)."""
    import torch

    from videossl.config import load_config
    from videossl.engine.optim import build_optimizer
    from videossl.engine.trainer import autocast
    from videossl.models.build import build_model

    key, path, what = next(m for m in MODELS if m[0] == args.model)
    opts = list(_COMMON_OPTS) + _MASK_OPTS.get(key, [])
    if args.dry_run:
        opts += _TINY[key] + _TINY_DATA
    opts += ["TRAIN.COMPILE", str(bool(args.compile))]
    cfg = load_config([str(ROOT / path)], opts)
    device = _device(args)
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True
    model = build_model(cfg).to(device)
    macs = _forward_macs(model, cfg, device)
    backend = "eager" if args.dry_run else "inductor"  # dry run: dynamo tracing, no codegen
    if cfg.TRAIN.COMPILE:
        model.encoder.compile(backend=backend)  # what the job does for TRAIN.COMPILE
    opt = build_optimizer(
        model,
        lr=1e-4,
        weight_decay=cfg.SOLVER.WEIGHT_DECAY,
        layer_decay=cfg.SOLVER.LAYER_DECAY,
        fused=cfg.SOLVER.FUSED,
    )
    amp = "bf16" if device.type == "cuda" else cfg.TRAIN.AMP

    def step(batch) -> float:
        with autocast(device, amp):
            loss = sum(v for k, v in model(batch).items() if k.startswith("loss"))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        _sync(device)
        return float(loss)

    total_mem = (
        torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else 0
    )
    search: list[dict[str, Any]] = []
    batch_size = args.batch
    if not batch_size:
        batch_size = _batch_search(
            cfg,
            device,
            step,
            total_mem,
            search,
            max_batch=2 if args.dry_run else 512,
            masker=getattr(model, "masker", None),
        )
    if not batch_size:
        raise SectionFailed({"model": what, "error": "batch 2 does not fit", "search": search})
    batch = _tiny_batch(cfg, batch_size, 0, device, getattr(model, "masker", None))
    t0 = time.perf_counter()
    for _ in range(3):  # warm-up (and compilation)
        loss = step(batch)
    warmup_s = time.perf_counter() - t0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds or len(times) < 3:
        t = time.perf_counter()
        loss = step(batch)
        times.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - start
    clips_s = batch_size * len(times) / elapsed
    times.sort()
    train_flops = 2 * 3 * macs if macs else None
    return {
        "model": what + (" (dry run: tiny)" if args.dry_run else ""),
        "config": path,
        "compile": bool(args.compile),
        "compile_backend": backend if args.compile else None,
        "batch": batch_size,
        "batch_search": search,
        "warmup_s": round(warmup_s, 2),
        "steps": len(times),
        "measured_s": round(elapsed, 2),
        "clips_per_s": round(clips_s, 2),
        "step_ms_median": round(times[len(times) // 2] * 1e3, 2),
        "peak_memory_gib": round(_peak_gib(device), 2),
        "memory_fraction": round(_peak_reserved(device) / total_mem, 3) if total_mem else None,
        "fvcore_gmacs_per_clip": round(macs / 1e9, 3) if macs else None,
        "achieved_tflops": round(train_flops * clips_s / 1e12, 5) if train_flops else None,
        "loss": loss,
    }


def _batch_search(cfg, device, step, total_mem, search, *, max_batch: int, masker=None) -> int:
    """Largest power-of-two batch whose two steps keep reserved memory below 90%."""
    import torch

    best, b = 0, 2  # even: Mixup/CutMix need pairs
    while b <= max_batch:
        try:
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            batch = _tiny_batch(cfg, b, 0, device, masker)
            step(batch)
            step(batch)
            frac = _peak_reserved(device) / total_mem if total_mem else 0.0
            search.append({"batch": b, "memory_fraction": round(frac, 3)})
            del batch
            if frac >= 0.9:
                break
            best = b
        except torch.cuda.OutOfMemoryError:
            search.append({"batch": b, "oom": True})
            break
        b *= 2
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return best


def _peak_gib(device) -> float:
    import resource

    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _peak_reserved(device) -> float:
    import torch

    return torch.cuda.max_memory_reserved(device) if device.type == "cuda" else 0.0


def _forward_macs(model, cfg, device) -> float | None:
    """fvcore multiply-adds of one clip's training forward (the objective's own forward)."""
    import torch

    from videossl.models.flops import flop_analysis

    try:
        with torch.no_grad():
            # Two clips (Mixup pairs them), per clip.
            batch = _tiny_batch(cfg, 2, 0, device, getattr(model, "masker", None))
            total = flop_analysis(model, (batch,), device=device.type)
            return float(total.total()) / 2
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        return None
    finally:
        model.train()


def section_data_feed(args: argparse.Namespace) -> dict[str, Any]:
    """The real loader (make_loader over the kinetics dataset) on generated 320x240 H.264."""
    from videossl.benchmarks.loader import write_videos
    from videossl.config import get_defaults
    from videossl.data.build import build_dataset, collate
    from videossl.data.loader import make_loader
    from videossl.data.options import transform_from_config
    from videossl.models.normalize import Normalize

    device = _device(args)
    cores = len(os.sched_getaffinity(0))
    workers = min(2, cores) if args.dry_run else cores
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        num_videos = 2 if args.dry_run else 8
        write_videos(tmp, num_videos, 1.5 if args.dry_run else 4.0, "smooth", 23, 60)
        lines = open(os.path.join(tmp, "train.csv")).read().splitlines()
        with open(os.path.join(tmp, "train.csv"), "w") as f:
            f.write("\n".join(lines * 64) + "\n")  # a long epoch over the same files
        gen_s = time.perf_counter() - t0
        cfg = get_defaults()
        cfg.DATA.PATH_TO_DATA_DIR = tmp
        cfg.DATA.DATASET = "kinetics"
        cfg.OUTPUT_DIR = tmp
        if args.dry_run:
            cfg.merge_from_list(_TINY_DATA + ["DATA.SAMPLING_RATE", "2"])
        dataset = build_dataset(cfg, "train")
        dataset.transform = transform_from_config(cfg)  # uint8 clips (the loader contract)
        batch_size = 2 if args.dry_run else 16
        loader = make_loader(
            dataset,
            batch_size=batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            seed=0,
            collate_fn=collate,
        )
        normalize = Normalize(cfg.DATA.MEAN, cfg.DATA.STD).to(device)
        clips, start, first = 0, None, None
        t0 = time.perf_counter()
        for batch in loader:
            video = normalize(batch["video"].to(device, non_blocking=True))
            if start is None:  # exclude worker start-up
                first = time.perf_counter() - t0
                start = time.perf_counter()
                continue
            clips += video.shape[0]
            if time.perf_counter() - start >= args.seconds:
                break
        _sync(device)
        elapsed = time.perf_counter() - start
        dtype = str(batch["video"].dtype)
        shape = list(video.shape)
        del loader
    return {
        "workers": workers,
        "videos": num_videos,
        "generate_s": round(gen_s, 1),
        "first_batch_s": round(first, 2),
        "clip_shape": shape,
        "loader_dtype": dtype,
        "normalised_dtype": str(video.dtype),
        "clips": clips,
        "loader_clips_per_s": round(clips / elapsed, 2),
        "load_average": os.getloadavg(),
    }


# ----------------------------------------------------------------------------- helpers
class SectionFailed(Exception):
    """A section ran but its check failed; `args[0]` is the partial result."""


def _tiny_classifier(device):
    """A 2-block ViT classifier on 4x32x32 clips, from the public builders."""
    from videossl.config import load_config
    from videossl.models.build import build_model

    opts = _TINY_VIT + ["DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "32"]
    opts += ["DATA.TEST_CROP_SIZE", "32", "MODEL.NUM_CLASSES", "5", "MODEL.DROP_PATH", "0.1"]
    cfg = load_config([str(ROOT / "configs/kinetics/VIT_B_16x4_MAE_FT.yaml")], opts)
    return build_model(cfg).to(device), cfg


def _tiny_batch(cfg, batch: int, seed: int, device=None, masker=None) -> dict:
    """Synthetic uint8 clips for `cfg`'s input, with masks drawn by the objective's `masker`
    (as the loader draws them, MASK.IN_LOADER) when it has one."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    t, s = cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE
    out = {
        "video": torch.randint(0, 256, (batch, 3, t, s, s), generator=gen, dtype=torch.uint8),
        "label": torch.randint(0, cfg.MODEL.NUM_CLASSES, (batch,), generator=gen),
    }
    if masker is not None:
        seeds = torch.randint(2**62, (batch,), generator=gen).tolist()
        out["mask"] = masker.draw(seeds, (t, s, s))
    if device is not None:
        out = {k: v.to(device) for k, v in out.items()}
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


SECTIONS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "environment": section_environment,
    "pytest": section_pytest,
    "ddp": section_ddp,
    "ddp_worker": section_ddp_worker,
    "checkpoint": section_checkpoint,
    "throughput": section_throughput,
    "data_feed": section_data_feed,
}


# ----------------------------------------------------------------------------- driver
def plan(args: argparse.Namespace) -> list[tuple[str, str, list[str], float]]:
    """(report key, section, extra argv, budget seconds) in run order."""
    dry = args.dry_run
    steps: list[tuple[str, str, list[str], float]] = [
        ("environment", "environment", [], 90),
        ("pytest", "pytest", [], 150),
        ("ddp", "ddp", [], 120),
        ("checkpoint", "checkpoint", [], 90),
    ]
    if args.quick:
        return steps
    for key, _, _ in MODELS:
        steps.append((f"throughput/{key}/eager", "throughput", ["--model", key], 150))
    steps.append(("data_feed", "data_feed", [], 120))
    for key, _, _ in MODELS:
        steps.append(
            (f"throughput/{key}/compile", "throughput", ["--model", key, "--compile"], 180)
        )
    if dry:
        return [(k, s, a, 120.0) for k, s, a, _ in steps]
    return steps


def run_section(
    args: argparse.Namespace, section: str, extra: list[str], budget: float
) -> dict[str, Any]:
    """Run one section in a child process under `budget` seconds; always returns a record.

    CUDA: a fresh interpreter per section (CUDA cannot be forked; each section gets its own
    memory and peak statistics). CPU: a fork of this process, which has imported the package
    already (saves ~10 s of imports per section on a small machine).
    """
    sections_dir = os.path.join(args.out, "sections")
    result_file = os.path.join(sections_dir, f"{len(os.listdir(sections_dir)):02d}_{section}.json")
    argv = ["--section", section, "--device", args.device, "--out", args.out]
    argv += ["--seconds", str(args.seconds), "--result-file", result_file] + extra
    argv += ["--dry-run"] if args.dry_run else []
    start = time.perf_counter()
    if args.device == "cuda":
        returncode, stderr = _run_subprocess(argv, budget)
    else:
        returncode, stderr = _run_forked(argv, budget)
    seconds = round(time.perf_counter() - start, 1)
    if returncode is None:
        return {
            "status": "timeout",
            "budget_s": budget,
            "seconds": seconds,
            "error": f"exceeded its {budget:.0f} s budget",
            "stderr_tail": stderr,
        }
    record: dict[str, Any] = {"status": "failed", "budget_s": budget}
    if os.path.exists(result_file):
        with open(result_file) as f:
            record.update(json.load(f))
    if returncode and record["status"] == "ok":
        record["status"] = "failed"
    if record["status"] != "ok":
        record.setdefault("error", f"exit code {returncode}")
        record["stderr_tail"] = stderr
    record["seconds"] = seconds
    return record


def _run_subprocess(argv: list[str], budget: float) -> tuple[int | None, str]:
    cmd = [sys.executable, "-m", "videossl.benchmarks.gpu_check", *argv]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=budget, cwd=str(ROOT), env=_child_env()
        )
    except subprocess.TimeoutExpired as e:
        tail = e.stderr or b""
        return None, (tail.decode(errors="replace") if isinstance(tail, bytes) else tail)[-2000:]
    return proc.returncode, proc.stderr[-2000:]


def _run_forked(argv: list[str], budget: float) -> tuple[int | None, str]:
    import multiprocessing as mp

    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    proc = mp.get_context("fork").Process(target=_forked_main, args=(argv, log.name))
    proc.start()
    proc.join(budget)
    if proc.is_alive():
        proc.kill()
        proc.join()
        code = None
    else:
        code = proc.exitcode
    with open(log.name) as f:
        tail = f.read()[-2000:]
    os.unlink(log.name)
    return code, tail


def _forked_main(argv: list[str], log: str) -> None:
    with open(log, "w") as f:
        os.dup2(f.fileno(), 2)
        os.dup2(f.fileno(), 1)
        os.chdir(str(ROOT))
        os.environ.update(_child_env())
        code = main(argv)
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _preimport() -> None:
    """Modules every section needs (the CPU runner forks after these)."""
    import timm  # noqa: F401
    import torch  # noqa: F401

    import videossl.engine.trainer  # noqa: F401
    import videossl.models.build  # noqa: F401


def _child(args: argparse.Namespace) -> int:
    """Run `args.section` in this process and write its record to `args.result_file`."""
    record: dict[str, Any]
    try:
        record = {"status": "ok", **SECTIONS[args.section](args)}
    except SectionFailed as e:
        record = {"status": "failed", "error": "check failed", **e.args[0]}
    except Exception as e:  # noqa: BLE001
        record = {
            "status": "failed",
            "error": f"{type(e).__name__}: {e}",
            "traceback": traceback.format_exc()[-3000:],
        }
    if args.result_file:
        with open(args.result_file, "w") as f:
            json.dump(record, f, default=str)
    return 0 if record["status"] == "ok" else 1


def finish(report: dict[str, Any]) -> None:
    """MFU against both denominators, and the loader beside each model's clips/s."""
    env = report["sections"].get("environment", {})
    measured = env.get("matmul_bf16_tflops")
    sheet = env.get("datasheet_bf16_tflops")
    loader = report["sections"].get("data_feed", {}).get("loader_clips_per_s")
    for key, rec in report["sections"].items():
        if not key.startswith("throughput/") or rec.get("status") != "ok":
            continue
        achieved = rec.get("achieved_tflops")
        rec["mfu_vs_measured_matmul"] = (
            round(achieved / measured, 4) if achieved and measured else None
        )
        rec["mfu_vs_datasheet"] = round(achieved / sheet, 4) if achieved and sheet else None
        if loader:
            rec["loader_clips_per_s"] = loader
            rec["data_bound"] = loader < rec["clips_per_s"]


def markdown(report: dict[str, Any]) -> str:
    s = report["sections"]
    env = s.get("environment", {})
    lines = [
        "# GPU check",
        "",
        f"{report['started']} · device `{report['device']}`"
        + (" · dry run" if report["dry_run"] else "")
        + f" · {report['total_s']:.0f} s in all",
        "",
        "| environment | |",
        "|---|---|",
    ]
    for k in (
        "gpu_name",
        "gpu_count",
        "torch",
        "cuda_runtime",
        "driver",
        "nccl",
        "cpu_count",
        "matmul_bf16_tflops",
        "datasheet_bf16_tflops",
    ):
        lines.append(f"| {k} | {env.get(k, 'n/a')} |")
    lines += ["", "| section | status | seconds | detail |", "|---|---|---|---|"]
    for key, rec in s.items():
        lines.append(
            f"| {key} | {rec.get('status')} | {rec.get('seconds', '')} | {_detail(key, rec)} |"
        )
    lines += [
        "",
        "| model | compile | batch | clips/s | step ms | peak GiB | TFLOP/s | MFU (matmul) | "
        "MFU (datasheet) | loader clips/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, rec in s.items():
        if key.startswith("throughput/") and rec.get("status") == "ok":
            lines.append(
                f"| {rec['model']} | {rec['compile']} | {rec['batch']} | {rec['clips_per_s']} | "
                f"{rec['step_ms_median']} | {rec['peak_memory_gib']} | "
                f"{rec.get('achieved_tflops')} | {_pct(rec.get('mfu_vs_measured_matmul'))} | "
                f"{_pct(rec.get('mfu_vs_datasheet'))} | {rec.get('loader_clips_per_s', 'n/a')} |"
            )
    return "\n".join(lines) + "\n"


def _pct(v) -> str:
    return f"{100 * v:.1f}%" if isinstance(v, (int, float)) else "n/a"


def _detail(key: str, rec: dict[str, Any]) -> str:
    if rec.get("status") != "ok":
        return str(rec.get("error", ""))[:120].replace("|", "/").replace("\n", " ")
    if key == "pytest":
        return ", ".join(f"{n} {k}" for k, n in rec.get("counts", {}).items())
    if key == "ddp":
        return f"{rec['backend']} x{rec['world_size']}, ranks identical"
    if key == "checkpoint":
        return f"{rec['tensors_compared']} tensors bit-exact after resume"
    if key == "data_feed":
        return f"{rec['loader_clips_per_s']} clips/s, {rec['workers']} workers"
    if key.startswith("throughput/"):
        return f"{rec['clips_per_s']} clips/s at batch {rec['batch']}"
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="gpu_check", help="folder for the report")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--quick", action="store_true", help="environment + correctness only")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes (CI, on CPU)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="timed seconds per throughput/data run (default 15; 1 dry run)",
    )
    parser.add_argument(
        "--total-budget",
        type=float,
        default=470.0,
        help="seconds for the whole check; later sections are skipped",
    )
    parser.add_argument("--section", default="", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", default="", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="", help=argparse.SUPPRESS)
    parser.add_argument("--compile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 1.0 if args.dry_run else 15.0
    os.makedirs(os.path.join(args.out, "sections"), exist_ok=True)
    if args.section:
        return _child(args)
    if args.device == "cpu":
        _preimport()
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            _say("error: no CUDA device; use --device cpu --dry-run for the CPU run")
            return 2
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "device": args.device,
        "dry_run": args.dry_run,
        "quick": args.quick,
        "seconds_per_run": args.seconds,
        "total_s": 0.0,
        "sections": {},
    }
    steps = plan(args)
    _say(f"gpu_check: {len(steps)} sections on {args.device}, report in {args.out}")
    start = time.perf_counter()
    eager_batch: dict[str, int] = {}
    for i, (key, section, extra, budget) in enumerate(steps):
        left = args.total_budget - (time.perf_counter() - start)
        if left < 10:
            rec = {"status": "skipped", "error": "out of total time budget", "seconds": 0}
        else:
            if section == "throughput" and "--compile" in extra and extra[1] in eager_batch:
                extra = extra + ["--batch", str(eager_batch[extra[1]])]  # no second search
            rec = run_section(args, section, extra, min(budget, left))
            if section == "throughput" and "--compile" not in extra and rec.get("status") == "ok":
                eager_batch[extra[1]] = rec["batch"]
        report["sections"][key] = rec
        report["total_s"] = round(time.perf_counter() - start, 1)
        finish(report)
        _write(args.out, report)
        _say(
            f"[{i + 1}/{len(steps)}] {key}: {rec['status']} ({rec.get('seconds', 0)} s) "
            f"{_detail(key, rec)}"
        )
    _say(f"gpu_check: done in {report['total_s']:.0f} s; {os.path.join(args.out, 'gpu_report.md')}")
    return 0


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _write(out: str, report: dict[str, Any]) -> None:
    with open(os.path.join(out, "gpu_report.json"), "w") as f:
        json.dump(report, f, indent=2, default=str)
    with open(os.path.join(out, "gpu_report.md"), "w") as f:
        f.write(markdown(report))


if __name__ == "__main__":
    sys.exit(main())
