"""Which TFRecord reader reads a set of files: ``tf.data`` or the native one.

Both readers give the same boxes and count the same problems (:mod:`.tfrecord`,
:mod:`.tfrecord_native`). ``reader`` is ``"tf"``, ``"native"`` or ``"auto"``:

* ``"native"`` - our own framing, CRC-32C and protobuf parsing, local files only,
  one thread; no TensorFlow import at all.
* ``"tf"`` - ``tf.data`` + ``tf.io.parse_example``: remote filesystems (``gs://``
  ...), parallel reads and parsing on every core, but ``import tensorflow`` first
  (seconds; 20 s on slow disks) and hundreds of MB of memory.
* ``"auto"`` (the default) - ``tf.data`` when a path is remote, when the CRC
  package runs without its compiled code, or when the estimated number of records
  is past the crossover below and TensorFlow is installed; the native reader
  otherwise (always when TensorFlow is not installed).

The crossover (``benchmarks/bench_native_reader.py``): the native reader costs
about ``NATIVE_US_PER_RECORD`` microseconds per record and ``NATIVE_US_PER_MB``
per MB; ``tf.data`` costs ``TF_STARTUP_S`` seconds to import and set up (less when
TensorFlow is already imported) plus ``TF_US_PER_RECORD`` and ``TF_US_PER_MB``.
``tf.data`` is chosen when its estimated time is lower. With these figures it wins
on box-only records (no image bytes, ~450 bytes each) from about 0.5 million
records on, and on image-bearing records (~100 KB each) not before tens of
millions. Records are estimated from file sizes and each file's first record
(compressed files: assumed to inflate ``COMPRESSION_RATIO`` times).
"""

from __future__ import annotations

import importlib.util
import sys

from ..errors import UsageError
from .fileio import is_remote
from .framing import CRC_IMPLEMENTATION
from .tfrecord_files import RECORD_OVERHEAD, FileInfo

READERS = ("auto", "tf", "native")

# Measured on the shared 2-core development machine (see the module docstring).
NATIVE_US_PER_RECORD = 12.0
NATIVE_US_PER_MB = 300.0
TF_STARTUP_S = 4.0
TF_STARTUP_IMPORTED_S = 0.3
TF_US_PER_RECORD = 4.0
TF_US_PER_MB = 300.0
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
                             "use --reader tf (or auto)")
        return "native"
    installed = tensorflow_installed()
    if requested == "tf" or remote:
        if not installed:
            what = "--reader tf" if requested == "tf" else f"reading {remote[0]}"
            raise UsageError(f"{what} needs TensorFlow: pip install 'tfod-anchors[cpu]' "
                             "(or tensorflow)")
        return "tf"
    if not installed:
        return "native"
    if CRC_IMPLEMENTATION != "c":
        return "tf"
    records, megabytes = estimate(infos)
    return "tf" if tf_is_faster(records, megabytes, "tensorflow" in sys.modules) else "native"
