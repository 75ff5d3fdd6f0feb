"""The `throughput` section: clips/s, step time, peak memory and achieved TFLOP/s of one model."""

from __future__ import annotations

import argparse
import time
import traceback
from typing import Any

from .common import ROOT, TINY_DATA, TINY_VIT, SectionFailed, device_of, sync, tiny_batch

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
_TINY = {
    "vit_b_mae_pt": TINY_VIT
    + ["MODEL.DECODER_DIM", "32", "MODEL.DECODER_DEPTH", "1"]
    + ["MODEL.DECODER_HEADS", "2"],
    "mvitv2_s_maskfeat_pt": ["MVIT.PRESET", "custom", "MVIT.EMBED_DIM", "16"]
    + ["MVIT.DEPTHS", "[1,1,1,1]", "MASK.UNIT", "[2,16,16]"],
    "vit_b_ft": TINY_VIT,
}


def section_throughput(args: argparse.Namespace) -> dict[str, Any]:
    """Throughput of one model (args.model), eager or compiled (args.compile)."""
    import torch

    key, path, what = next(m for m in MODELS if m[0] == args.model)
    cfg = _model_config(args, key, path)
    device = device_of(args)
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True
    model, opt, macs, backend = _build(cfg, device, args.dry_run)
    step = _train_step(model, opt, device, "bf16" if device.type == "cuda" else cfg.TRAIN.AMP)
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
    batch = tiny_batch(cfg, batch_size, 0, device, getattr(model, "masker", None))
    warmup_s, times, elapsed, loss = _time_steps(step, batch, device, args.seconds)
    clips_s = batch_size * len(times) / elapsed
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


def _model_config(args: argparse.Namespace, key: str, path: str):
    """The model's config at 16x224 bf16 (tiny with --dry-run), compiled or not."""
    from videossl.config import load_config

    opts = list(_COMMON_OPTS) + _MASK_OPTS.get(key, [])
    if args.dry_run:
        opts += _TINY[key] + TINY_DATA
    opts += ["TRAIN.COMPILE", str(bool(args.compile))]
    return load_config([str(ROOT / path)], opts)


def _build(cfg, device, dry_run: bool):
    """(model, optimizer, forward multiply-adds per clip, compile backend) from `cfg`."""
    from videossl.engine.optim import build_optimizer
    from videossl.models.build import build_model

    model = build_model(cfg).to(device)
    macs = _forward_macs(model, cfg, device)
    backend = "eager" if dry_run else "inductor"  # dry run: dynamo tracing, no codegen
    if cfg.TRAIN.COMPILE:
        model.encoder.compile(backend=backend)  # what the job does for TRAIN.COMPILE
    opt = build_optimizer(
        model,
        lr=1e-4,
        weight_decay=cfg.SOLVER.WEIGHT_DECAY,
        layer_decay=cfg.SOLVER.LAYER_DECAY,
        fused=cfg.SOLVER.FUSED,
    )
    return model, opt, macs, backend


def _train_step(model, opt, device, amp: str):
    """One optimizer step on a batch, synchronised; returns the loss."""
    from videossl.engine.trainer import autocast

    def step(batch) -> float:
        with autocast(device, amp):
            loss = sum(v for k, v in model(batch).items() if k.startswith("loss"))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(device)
        return float(loss)

    return step


def _time_steps(step, batch, device, seconds: float) -> tuple[float, list[float], float, float]:
    """3 warm-up steps, then steps for `seconds` (at least 3): (warm-up seconds, sorted step
    times, seconds measured, last loss); peak memory statistics restart after the warm-up."""
    import torch

    t0 = time.perf_counter()
    for _ in range(3):  # warm-up (and compilation)
        loss = step(batch)
    warmup_s = time.perf_counter() - t0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 3:
        t = time.perf_counter()
        loss = step(batch)
        times.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - start
    times.sort()
    return warmup_s, times, elapsed, loss


def _batch_search(cfg, device, step, total_mem, search, *, max_batch: int, masker=None) -> int:
    """Largest power-of-two batch whose two steps keep reserved memory below 90%."""
    import torch

    best, b = 0, 2  # even: Mixup/CutMix need pairs
    while b <= max_batch:
        try:
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            batch = tiny_batch(cfg, b, 0, device, masker)
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
            batch = tiny_batch(cfg, 2, 0, device, getattr(model, "masker", None))
            total = flop_analysis(model, (batch,), device=device.type)
            return float(total.total()) / 2
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        return None
    finally:
        model.train()
