"""`python -m videossl.benchmarks.gpu_check` (also how the driver starts section processes)."""

import sys

from .runner import main

if __name__ == "__main__":
    sys.exit(main())
