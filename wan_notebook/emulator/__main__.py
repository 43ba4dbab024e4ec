"""``python -m wan_notebook.emulator``: run the emulator until Ctrl-C."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
