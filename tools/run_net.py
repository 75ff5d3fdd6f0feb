#!/usr/bin/env python
"""Train and test videossl models: `python tools/run_net.py --cfg CFG.yaml [--opts KEY VALUE]`."""

import sys

from videossl.cli import main

if __name__ == "__main__":
    sys.exit(main())
