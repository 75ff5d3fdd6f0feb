"""The `environment` section: versions, GPUs, the measured bf16 GEMM peak and the datasheet one."""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from typing import Any

from .common import device_of, sync

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


def datasheet_tflops(name: str) -> float | None:
    """Dense bf16 TFLOP/s of a GPU from its name (e.g. 'NVIDIA H100 80GB HBM3' -> 989.4)."""
    upper = name.upper().replace("-", " ")
    for key, value in DATASHEET_BF16_TFLOPS:
        if key in upper:
            return value
    return None


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

    device = device_of(args)
    sizes = (256, 512) if args.dry_run else (4096, 8192, 16384)
    seconds = 0.2 if args.dry_run else 1.5
    best, per_size = 0.0, {}
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
        b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
        for _ in range(3):
            a @ b
        sync(device)
        iters, start = 0, time.perf_counter()
        while True:
            for _ in range(5):
                a @ b
            iters += 5
            sync(device)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        tflops = 2 * n**3 * iters / elapsed / 1e12
        per_size[str(n)] = round(tflops, 4)
        best = max(best, tflops)
        del a, b
    return {"matmul_bf16_tflops": round(best, 4), "matmul_bf16_tflops_by_size": per_size}
