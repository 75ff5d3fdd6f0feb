"""`tools/benchmark.py model`: params, GFLOPs, MAE pretraining step time and peak CPU memory.

Each (precision, activation checkpointing) setting runs in a fresh subprocess so that its peak
RSS (`resource.getrusage(...).ru_maxrss`) is its own. The step: ViT encoder on the visible
tokens of a VideoMAE tube mask, MAE decoder, MSE on masked tokens, backward, AdamW step.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import time
from typing import Any

import torch

logger = logging.getLogger(__name__)


def add_args(parser: argparse.ArgumentParser) -> None:
    """Options of the `model` benchmark."""
    parser.add_argument("--preset", default="B", choices=("S", "B", "L", "H"))
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--mask-ratio", type=float, default=0.9)
    parser.add_argument("--decoder-dim", type=int, default=384)
    parser.add_argument("--decoder-depth", type=int, default=4)
    parser.add_argument("--decoder-heads", type=int, default=6)
    parser.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up")
    parser.add_argument("--precision", default="all", choices=("fp32", "bf16", "all"))
    parser.add_argument("--act-checkpoint", default="all", choices=("on", "off", "all"))
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--cfg",
        nargs="+",
        default=None,
        help="benchmark a config's objective instead (any model/objective): train steps on "
        "random clips of the config's size, TRAIN.BATCH_SIZE clips per step",
    )
    parser.add_argument("--opts", nargs="*", default=[], help="config overrides KEY VALUE ...")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _tube_mask(batch: int, grid: tuple[int, int, int], ratio: float) -> torch.Tensor:
    t, h, w = grid
    n_mask = int(h * w * ratio)
    order = torch.rand(batch, h * w).argsort(1)
    spatial = torch.zeros(batch, h * w, dtype=torch.bool)
    spatial.scatter_(1, order[:, :n_mask], True)
    return spatial[:, None].expand(batch, t, h * w).reshape(batch, -1)  # [B, N]


def run_single(args: argparse.Namespace, precision: str, act_checkpoint: bool) -> dict[str, Any]:
    """One setting in this process: step times and peak RSS."""
    from videossl.models.decoder import MAEDecoder
    from videossl.models.vit import PRESETS, VisionTransformer3D

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    enc = VisionTransformer3D(
        img_size=args.size, num_frames=args.frames, qkv_bias="qv", **PRESETS[args.preset]
    )
    enc.set_grad_checkpointing(act_checkpoint)
    grid = enc.input_grid(args.frames, args.size, args.size)
    dec = MAEDecoder(
        encoder_dim=enc.embed_dim,
        grid=grid,
        decoder_dim=args.decoder_dim,
        depth=args.decoder_depth,
        num_heads=args.decoder_heads,
        out_dim=1536,
    )
    params = list(enc.parameters()) + list(dec.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4)
    x = torch.randn(args.batch, 3, args.frames, args.size, args.size)
    mask = _tube_mask(args.batch, grid, args.mask_ratio)
    target = torch.randn(args.batch, int(mask[0].sum()), 1536)
    rss_before = _peak_rss_mb()
    times = []
    for _ in range(args.steps + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            pred = dec(enc.forward_visible(x, mask), mask)
            loss = torch.nn.functional.mse_loss(pred.float(), target)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return {
        "precision": precision,
        "act_checkpoint": act_checkpoint,
        "step_s": sum(times[1:]) / max(len(times) - 1, 1),
        "peak_rss_mb": _peak_rss_mb(),
        "rss_after_build_mb": rss_before,
        "loss": float(loss),
    }


def _settings(args: argparse.Namespace) -> list[tuple[str, bool]]:
    precs = ("fp32", "bf16") if args.precision == "all" else (args.precision,)
    ckpts = (False, True) if args.act_checkpoint == "all" else (args.act_checkpoint == "on",)
    return [(p, c) for p in precs for c in ckpts]


def _argv(args: argparse.Namespace, precision: str, ckpt: bool) -> list[str]:
    own = argparse.ArgumentParser()
    add_args(own)
    dests = {a.dest for a in own._actions} - {
        "help",
        "precision",
        "act_checkpoint",
        "cfg",
        "opts",
        "device",
    }
    argv = [sys.executable, "-m", "videossl.benchmarks.model"]
    for key, value in vars(args).items():
        if key not in dests:
            continue
        argv += ["--" + key.replace("_", "-"), str(value)]
    return argv + ["--precision", precision, "--act-checkpoint", "on" if ckpt else "off"]


def run_config(args: argparse.Namespace) -> dict[str, Any]:
    """Params, GFLOPs, train step time, clips/s and peak memory of a config's objective."""
    from videossl.config import load_config
    from videossl.engine.optim import build_optimizer
    from videossl.engine.trainer import autocast, peak_memory_mb
    from videossl.models.build import build_model
    from videossl.models.flops import count_gflops

    cfg = load_config(args.cfg, args.opts)
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(auto if args.device == "auto" else args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model(cfg).to(device)
    if cfg.TRAIN.COMPILE:
        model.encoder.compile()
    opt = build_optimizer(model, lr=1e-4, weight_decay=0.05, fused=cfg.SOLVER.FUSED)
    T, S, B = cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE, cfg.TRAIN.BATCH_SIZE
    batch = {
        "video": torch.randint(0, 256, (B, 3, T, S, S), dtype=torch.uint8, device=device),
        "label": torch.randint(0, cfg.MODEL.NUM_CLASSES, (B,), device=device),
    }
    try:
        with torch.device("meta"):
            gflops = count_gflops(build_model(cfg).encoder, (1, 3, T, S, S), device="meta")
    except Exception:  # fvcore cannot trace some modules on meta
        gflops = float("nan")
    times = []
    for _ in range(args.steps + 1):
        start = time.perf_counter()
        with autocast(device, cfg.TRAIN.AMP):
            loss = sum(v for k, v in model(batch).items() if k.startswith("loss"))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    step = sum(times[1:]) / max(len(times) - 1, 1)
    return {
        "model": f"{type(model).__name__}/{cfg.MODEL.ARCH} ({T}x{S}^2, batch {B}, amp "
        f"'{cfg.TRAIN.AMP}', act-ckpt {cfg.MODEL.ACT_CHECKPOINT}, {device.type})",
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "encoder_gflops_per_view": gflops,
        "step_s": step,
        "clips_per_s": B / step,
        "peak_memory_mb": peak_memory_mb(device),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Params, GFLOPs per view (dense encoder) and one result per setting (subprocesses)."""
    if args.cfg:
        return run_config(args)
    from videossl.models.flops import count_gflops, count_params
    from videossl.models.vit import PRESETS, VisionTransformer3D

    with torch.device("meta"):
        enc = VisionTransformer3D(
            img_size=args.size, num_frames=args.frames, **PRESETS[args.preset]
        )
    shape = (1, 3, args.frames, args.size, args.size)
    result: dict[str, Any] = {
        "model": f"ViT-{args.preset} MAE ({args.frames}x{args.size}^2, batch {args.batch}, "
        f"mask {args.mask_ratio}, decoder {args.decoder_depth}x{args.decoder_dim})",
        "encoder_params_m": count_params(enc) / 1e6,
        "encoder_gflops_per_view": count_gflops(enc, shape),
        "settings": [],
    }
    for precision, ckpt in _settings(args):
        out = subprocess.run(
            _argv(args, precision, ckpt), capture_output=True, text=True, check=False
        )
        if out.returncode:
            raise RuntimeError(f"benchmark setting {precision}/{ckpt} failed:\n{out.stderr}")
        row = json.loads(out.stdout.strip().splitlines()[-1])
        logger.info("%s", row)
        result["settings"].append(row)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_args(parser)
    args = parser.parse_args()
    settings = _settings(args)
    if len(settings) != 1:
        logging.basicConfig(level=logging.INFO)
        sys.stdout.write(json.dumps(run(args), indent=2) + "\n")
        return
    sys.stdout.write(json.dumps(run_single(args, *settings[0])) + "\n")


if __name__ == "__main__":
    main()
