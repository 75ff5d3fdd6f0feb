"""``python -m videossl COMMAND ...`` (see videossl/entry.py)."""

import sys

from .entry import main

sys.exit(main())
