"""TFRecord files of TFOD ``tf.Example`` records -> :class:`RawBoxes`, without TensorFlow.

The TensorFlow-free twin of the ``tf.data`` reader in :mod:`.tfdata`: local
files only, read one after the other in a single thread. :mod:`.framing` reads
the records and checks their CRCs, :class:`.example_skim.ExampleSkimmer` parses a
batch of them (vectorized over the wire format, with protobuf's verdict for any
unusual or malformed record) into the same columns as the in-graph parser, and
:func:`.tfexample.process_batch` (shared with the ``tf.data`` reader) turns the
columns into arrays. What gets counted, and where, is the same as with the
careful gear of the ``tf.data`` reader: damage -> ``corrupt_files`` naming the
record (earlier records kept, the rest of the file lost); a record
``tf.io.parse_example`` would reject -> ``malformed_records`` naming it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ...errors import InputError
from ..labelmap import LabelMap
from ..progress import Progress
from ..raw import RawBoxes, Skips
from .example_skim import ExampleSkimmer
from .files import FileInfo, batch_size, compression_hint
from .framing import RecordError, read_records
from .tfexample import Chunk, chunks_to_raw, process_batch


def native_batches(infos: list[FileInfo], parser: ExampleSkimmer, skips: Skips
                   ) -> Iterator[tuple[int, dict[str, Any], np.ndarray]]:
    """Parsed batches of local TFRecord files: ``(file index, columns, record numbers)``
    (int64 ``[n]``, the records kept). Malformed records and damaged files are counted
    in ``skips`` (the records before the damage are yielded).

    Raises:
        InputError: a file cannot be opened or read.
    """
    batch = batch_size(infos)
    for index, info in enumerate(infos):
        done = 0
        try:
            with open(info.path, "rb", buffering=0) as f:
                for records in read_records(f, info.compression, batch):
                    numbers = np.arange(done, done + len(records), dtype=np.int64)
                    done += len(records)
                    columns, kept, bad = parser.parse(records)
                    for position, reason in bad:
                        skips.add("malformed_records", 1,
                                  f"{info.path} (record {int(numbers[position])}): {reason}")
                    if kept.size:
                        yield index, columns, numbers[kept]
        except RecordError as err:
            detail = err.detail + (compression_hint(info) if err.hint else "")
            skips.add("corrupt_files", 1, f"{info.path} (record {err.record}): {detail}")
        except OSError as err:
            reason = err.strerror or " ".join(str(err).split())
            raise InputError(f"cannot read: {reason}", path=info.path) from None


def read_native(infos: list[FileInfo], *, label_map: LabelMap | None, verify_sizes: bool,
                progress: Progress, skips: Skips) -> RawBoxes:
    """Read local TFRecord files (already inspected) into :class:`RawBoxes`.

    Args:
        infos: the files, with their compression (:func:`.files.inspect_files`).
        label_map: look up ``class/text`` with it (TFOD's rule) when given.
        verify_sizes: check every stored size against its image header.
        progress: updated after every batch with records and boxes kept.
        skips: damaged files and malformed records are counted here.
    Raises:
        InputError: a file cannot be opened or read.
    """
    files = [info.path for info in infos]
    parser = ExampleSkimmer(label_map, verify_sizes)
    chunks: list[tuple[int, Chunk]] = []
    for index, columns, numbers in native_batches(infos, parser, skips):
        chunk = process_batch(columns, files[index], numbers, use_text=label_map is not None,
                              verify=verify_sizes, skips=skips)
        progress.update(int(numbers.size), int(chunk.boxes.shape[0]))
        chunks.append((index, chunk))
    return chunks_to_raw(chunks, files)
