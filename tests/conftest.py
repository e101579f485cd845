"""Where the tests find the shared data, and what they do when it is absent.

``../shared`` (beside the repository) holds the upstream TFOD sample configs and real
box datasets. CI has it; a fresh clone may not, and the tests that need it skip with a
reason then.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SHARED_CONFIGS = SHARED / "tfod-configs"
SHARED_DATASETS = SHARED / "datasets"
