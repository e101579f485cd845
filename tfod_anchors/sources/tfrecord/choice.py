"""Which TFRecord reader reads a set of files: ``tf.data`` or the native one.

Both readers give the same boxes and count the same problems (:mod:`.tfdata`,
:mod:`.native`). ``reader`` is ``"tf"``, ``"native"`` or ``"auto"``:

* ``"native"`` - our own framing, CRC-32C and protobuf parsing, local files only,
  one thread; no TensorFlow import at all.
* ``"tf"`` - ``tf.data`` + ``tf.io.parse_example``: remote filesystems (``gs://``
  ...), parallel reads and parsing on every core, but ``import tensorflow`` first
  (seconds; 20 s on slow disks) and hundreds of MB of memory.
* ``"auto"`` (the default) - ``tf.data`` when a path is remote, when the CRC
  package is missing or runs without its compiled code, or when the estimated number of records
  is past the crossover below and TensorFlow is installed; the native reader
  otherwise (always when TensorFlow is not installed).

The crossover (``benchmarks/bench_native_reader.py``, all figures from one run on
the shared 2-core development machine, load average ~8): the native reader costs
``NATIVE_US_PER_RECORD`` microseconds per record plus ``NATIVE_US_PER_MB`` per MB of
records (framing, CRC, parsing, all in one thread); our ``tf.data`` reader costs
``TF_STARTUP_S`` seconds to import TensorFlow and start (``TF_STARTUP_IMPORTED_S``
when TensorFlow is already imported) plus ``TF_US_PER_RECORD`` and ``TF_US_PER_MB``
(parallel on both cores). ``tf.data`` is chosen when its estimated time is lower.
Measured: box-only records (~450 bytes) 19.6 vs 7.6 us a record, so ``tf.data`` wins
from about 1.1 million records (0.5 GB) on; image-bearing records (~95 KB JPEGs)
227 vs 175 us a record, from about 250,000 records (24 GB) on. Below that, and on
every small set, the native reader also saves TensorFlow's memory (46 MB vs 690 MB
for ``check`` on the raccoon demo). Records are estimated from file sizes and each
file's first record (compressed files: assumed to inflate ``COMPRESSION_RATIO`` times).
"""

from __future__ import annotations

import importlib.util
import sys

from ...errors import UsageError, option
from ..fileio import is_remote
from .files import RECORD_OVERHEAD, FileInfo
from .framing import CRC_IMPLEMENTATION

READERS = ("auto", "tf", "native")

# Fitted to the two regimes of one benchmark run (see the module docstring).
NATIVE_US_PER_RECORD = 18.6
NATIVE_US_PER_MB = 2190.0
TF_STARTUP_S = 12.8
TF_STARTUP_IMPORTED_S = 0.5
TF_US_PER_RECORD = 6.8
TF_US_PER_MB = 1780.0
COMPRESSION_RATIO = 3.0
_DEFAULT_RECORD_BYTES = 500


def tensorflow_installed() -> bool:
    """True when ``import tensorflow`` would find a package (without importing it)."""
    if "tensorflow" in sys.modules:
        return True
    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):
        return False


def estimate(infos: list[FileInfo]) -> tuple[float, float]:
    """Estimated ``(records, megabytes)`` of uncompressed record data in ``infos``."""
    records = 0.0
    megabytes = 0.0
    for info in infos:
        size = info.size * (COMPRESSION_RATIO if info.compression else 1.0)
        per_record = (info.first_length or _DEFAULT_RECORD_BYTES) + RECORD_OVERHEAD
        records += size / per_record
        megabytes += size / 1e6
    return records, megabytes


def tf_is_faster(records: float, megabytes: float, tf_imported: bool) -> bool:
    """Whether ``tf.data`` is estimated to read this much faster than the native reader."""
    native = records * NATIVE_US_PER_RECORD * 1e-6 + megabytes * NATIVE_US_PER_MB * 1e-6
    startup = TF_STARTUP_IMPORTED_S if tf_imported else TF_STARTUP_S
    tf = startup + records * TF_US_PER_RECORD * 1e-6 + megabytes * TF_US_PER_MB * 1e-6
    return tf < native


def choose_reader(requested: str | None, infos: list[FileInfo]) -> str:
    """``"tf"`` or ``"native"`` for reading ``infos``.

    Raises:
        UsageError: unknown ``requested``; ``"native"`` with a remote path;
            ``"tf"`` (or a remote path) without TensorFlow installed.
    """
    requested = (requested or "auto").lower()
    if requested not in READERS:
        raise UsageError(f"reader must be auto, tf or native, got {requested!r}")
    remote = [info.path for info in infos if is_remote(info.path)]
    if requested == "native":
        if remote:
            raise UsageError(f"the native reader reads local files only, not {remote[0]}; "
                             f"use {option('reader_tf')} (or auto)")
        return "native"
    installed = tensorflow_installed()
    if requested == "tf" or remote:
        if not installed:
            what = option("reader_tf") if requested == "tf" else f"reading {remote[0]}"
            raise UsageError(f"{what} needs TensorFlow: pip install 'tfod-anchors[cpu]' "
                             "(or tensorflow)")
        return "tf"
    if CRC_IMPLEMENTATION != "c" and installed:
        return "tf"  # no compiled CRC: tf.data checks CRCs far faster
    if not installed:
        return "native"
    records, megabytes = estimate(infos)
    return "tf" if tf_is_faster(records, megabytes, "tensorflow" in sys.modules) else "native"
