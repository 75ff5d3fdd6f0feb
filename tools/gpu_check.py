#!/usr/bin/env python
"""One GPU check: CUDA correctness, NCCL DDP, exact resume, throughput/MFU and the data feed.

    python tools/gpu_check.py --out gpu_check            # any CUDA machine, < 8 min
    python tools/gpu_check.py --quick --out gpu_check    # correctness only, < 3 min
    python tools/gpu_check.py --device cpu --dry-run --out /tmp/x   # CI, tiny sizes

Writes gpu_report.json and gpu_report.md under --out (see videossl/benchmarks/gpu_check/).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from videossl.benchmarks.gpu_check import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
