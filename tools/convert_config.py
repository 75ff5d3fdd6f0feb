#!/usr/bin/env python
"""Write a videossl YAML from a PySlowFast YAML or a VideoMAE / mae_st command line.

    python tools/convert_config.py PYSLOWFAST.yaml -o ours.yaml
    python tools/convert_config.py --from videomae --gpus 64 -o ours.yaml -- --model ... FLAGS
    python tools/convert_config.py --from mae_st --gpus 128 -o ours.yaml -- --blr 1.6e-3 FLAGS

Flags or keys with no videossl equivalent are listed together (exit 2) and nothing is written.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from videossl.peers.convert import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
