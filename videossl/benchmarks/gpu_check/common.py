"""Helpers every gpu_check section shares: the repo root, the device, tiny models and batches."""

from __future__ import annotations

import argparse
import os
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# --dry-run: tiny ViT and clips.
TINY_VIT = ["VIT.PRESET", "custom", "VIT.EMBED_DIM", "64", "VIT.DEPTH", "2", "VIT.NUM_HEADS", "2"]
TINY_DATA = ["DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32"]


class SectionFailed(Exception):
    """A section ran but its check failed; `args[0]` is the partial result."""


def device_of(args: argparse.Namespace):
    """The torch device `--device` names."""
    import torch

    return torch.device("cuda" if args.device == "cuda" else "cpu")


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def tiny_classifier(device):
    """A 2-block ViT classifier on 4x32x32 clips, from the public builders."""
    from videossl.config import load_config
    from videossl.models.build import build_model

    opts = TINY_VIT + ["DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "32"]
    opts += ["DATA.TEST_CROP_SIZE", "32", "MODEL.NUM_CLASSES", "5", "MODEL.DROP_PATH", "0.1"]
    cfg = load_config([str(ROOT / "configs/kinetics/VIT_B_16x4_MAE_FT.yaml")], opts)
    return build_model(cfg).to(device), cfg


def tiny_batch(cfg, batch: int, seed: int, device=None, masker=None) -> dict:
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env
