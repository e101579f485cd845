"""Shared building blocks of the tests (no test imports another test module).

* :mod:`helpers.cli` runs the command line in-process (``run_cli``, ``run_json``).
* :mod:`helpers.grid64` is the hand-made 64x64 Faster R-CNN dataset of the end-to-end
  tests; :mod:`helpers.hostile` its variant for the hostile-input tests.
* :mod:`helpers.tfexample` builds TFOD-style tf.Example records; :mod:`helpers.cache` a
  damaged dataset of them.
* :mod:`helpers.fitting` holds small configs and boxes placed on their anchors.
* :mod:`helpers.augment` and :mod:`helpers.augment_csv` build augmentation inputs.
* :mod:`helpers.reference` holds slow reference implementations.

The test directory is on ``sys.path`` (pytest's rootdir-relative import), so tests import
these as ``from helpers.cli import run_cli``.
"""
