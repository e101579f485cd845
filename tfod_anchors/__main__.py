"""Entry point for ``python -m tfod_anchors``."""

import sys

from tfod_anchors.cli import main

if __name__ == "__main__":
    sys.exit(main())
