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

Layout: `common` (shared helpers), `environment`, `correctness` (pytest, DDP, resume),
`throughput`, `data_feed`, `report` (MFU, json/markdown) and `runner` (plan, child processes,
CLI); ``python -m videossl.benchmarks.gpu_check`` runs `main`.
"""

from .common import ROOT, SectionFailed
from .correctness import section_checkpoint, section_ddp, section_ddp_worker, section_pytest
from .data_feed import section_data_feed
from .environment import DATASHEET_BF16_TFLOPS, datasheet_tflops, section_environment
from .report import finish, markdown
from .runner import SECTIONS, main, plan, run_section
from .throughput import MODELS, section_throughput

__all__ = [
    "DATASHEET_BF16_TFLOPS",
    "MODELS",
    "ROOT",
    "SECTIONS",
    "SectionFailed",
    "datasheet_tflops",
    "finish",
    "main",
    "markdown",
    "plan",
    "run_section",
    "section_checkpoint",
    "section_data_feed",
    "section_ddp",
    "section_ddp_worker",
    "section_environment",
    "section_pytest",
    "section_throughput",
]
