"""The Beam extraction pipeline: TFRecords -> box cache (Parquet shards + manifest).

::

    files (matched and sniffed when the pipeline is built)
      | Reshuffle | ReadRecordRows        -> row batches           + per-batch summaries
      | rows_to_table | WriteToParquetBatched -> boxes-SSSSS-of-NNNNN.parquet
      summaries | CombineGlobally(MergeSummaries)  ---------------.
      Create([None]) | WriteManifest(shard names, merged summary) -> manifest.json (last)

The manifest is written by the pipeline's last step, from the shards actually
written and the merged counts, to a temporary name and renamed, so a failed or
interrupted job never leaves a cache that looks complete.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
import traceback
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from ..errors import InputError, TfodAnchorsError, UsageError, in_interface_words
from ..sources.cache import MANIFEST, arrow_schema, load_manifest, pyarrow_modules, rows_to_table
from ..sources.cache_manifest import SHARD_PREFIX
from ..sources.cache_output import (
    Storage,
    abandon,
    absolute_specs,
    check_output,
    output_lock,
    remove_unlisted,
    shard_entry,
    start_generation,
)
from ..sources.cache_write import (
    ManifestInputs,
    build_manifest,
    check_tfrecord_specs,
    extraction_options,
)
from ..sources.raw import Skips
from . import RUNNERS
from .read import MARKER, NAMESPACE, BadInput, ReadOptions, ReadRows


class MergeSummaries(beam.CombineFn):
    """Adds per-batch summaries (see :func:`~.read._summary`); for each skip reason
    keeps the example with the smallest ``(file index, record)``."""

    def create_accumulator(self) -> dict[str, Any]:
        return {"skipped": {}, "stored": {}, "examples": {},
                "sizes": {"records": 0, "box_entries": 0, "images": 0, "boxes": 0}}

    def add_input(self, acc: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
        for part in ("skipped", "stored", "sizes"):
            for key, value in summary[part].items():
                acc[part][key] = acc[part].get(key, 0) + int(value)
        for key, (order, text) in summary["examples"].items():
            current = acc["examples"].get(key)
            if current is None or tuple(order) < tuple(current[0]):
                acc["examples"][key] = (tuple(order), text)
        return acc

    def merge_accumulators(self, accumulators: Any) -> dict[str, Any]:
        out = self.create_accumulator()
        for acc in accumulators:
            self.add_input(out, acc)
        return out

    def extract_output(self, acc: dict[str, Any]) -> dict[str, Any]:
        return acc


def _write_text(path: str, text: str) -> None:
    """Temporary object/file, then rename (Beam's FileSystems: local, gs://...); a
    local file replaces the old manifest in one ``os.replace`` (the swap)."""
    import os

    temp = path + ".tmp"
    if "://" not in path:
        with open(temp, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
        return
    with FileSystems.create(temp) as f:
        f.write(text.encode("utf-8"))
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([temp], [path])


class WriteManifest(beam.DoFn):
    """Writes ``manifest.json`` once the shards exist (the pipeline's last step)."""

    def __init__(self, output: str, manifest_args: dict[str, Any]):
        self._output = output
        self._args = manifest_args

    def process(self, _: Any, shard_paths: list[str], summary: dict[str, Any]) -> Any:
        pa, pq = pyarrow_modules()
        sizes = summary["sizes"]
        if sizes["boxes"] == 0:
            where = ", ".join(self._args["read"][:3]) or "the input"
            raise BadInput.of(f"no boxes left in {sizes['records']} records of {where} "
                           f"(skipped: {summary['skipped']}); check the label map and flags")
        shards = []
        for path in sorted(shard_paths):
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                data = f.read()
            rows = pq.ParquetFile(pa.BufferReader(data)).metadata.num_rows
            shards.append(shard_entry(posixpath.basename(path), data, rows))
        stored = Skips()
        stored.merge(self._args["launch_skips"])
        for key, count in summary["stored"].items():
            example = summary["examples"].get(key)
            stored.add(key, count, example[1] if example else None)
        skipped = {k: v for k, v in summary["skipped"].items()}
        for key, count in self._args["launch_skips"].counts.items():
            skipped[key] = skipped.get(key, 0) + count
        examples = dict(self._args["launch_skips"].first)
        for key, (_, text) in sorted(summary["examples"].items()):
            examples.setdefault(key, text)
        a = self._args
        manifest = build_manifest(
            ManifestInputs(a["specs"], a["stamps"], a["read"], a["options"], a["extractor"]),
            stored=stored, boxset_skipped={k: v for k, v in skipped.items() if v},
            skip_examples=examples,
            counts={"files": len(a["stamps"]), "records": sizes["records"],
                    "box_entries": sizes["box_entries"], "images": sizes["images"],
                    "boxes": sizes["boxes"]},
            shards=shards)
        text = json.dumps(manifest, indent=2, allow_nan=False) + "\n"
        _write_text(FileSystems.join(self._output, MANIFEST), text)
        yield manifest["counts"]


class BeamStorage(Storage):
    """:class:`Storage` through Beam's ``FileSystems`` for remote outputs (the
    launcher may have no TensorFlow)."""

    def listdir(self, directory: str) -> list[str]:
        if "://" not in directory:
            return super().listdir(directory)
        found = FileSystems.match([FileSystems.join(directory, "*")])[0].metadata_list
        names = {m.path[len(directory.rstrip("/")) + 1:].split("/", 1)[0] for m in found}
        return sorted(n for n in names if n)

    def read(self, path: str) -> bytes:
        if "://" not in path:
            return super().read(path)
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            return f.read()

    def makedirs(self, directory: str) -> None:
        if "://" not in directory:
            super().makedirs(directory)
        elif not FileSystems.exists(directory):
            FileSystems.mkdirs(directory)

    def remove(self, path: str) -> None:
        if "://" not in path:
            super().remove(path)
            return
        found = FileSystems.match([path, FileSystems.join(path, "**")])
        paths = sorted({m.path for r in found for m in r.metadata_list})
        if paths:
            FileSystems.delete(paths)


def unwrap_bad_input(err: BaseException) -> TfodAnchorsError | None:
    """The one-line error inside whatever a runner wrapped a worker's failure in
    (exception chains, ``args``, or only the remote traceback's text)."""
    text_re = r'"(?:[^"\\]|\\.)*"'
    pattern = re.compile(re.escape(MARKER) + rf'(\{{"message": {text_re}, "file": '
                         rf'(?:null|{text_re}), "record": (?:null|-?\d+)\}})')

    def marked(text: str) -> TfodAnchorsError | None:
        match = pattern.search(text)
        if not match:
            return None
        doc = json.loads(match.group(1))
        return InputError(in_interface_words(doc["message"]), path=doc["file"],
                          record=doc["record"], located_in_message=True)

    stack: list[Any] = [err]
    seen: set[int] = set()
    while stack:
        e = stack.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        found = marked(str(e))
        if found is not None:
            return found
        if isinstance(e, TfodAnchorsError):
            return e
        stack.extend([e.__cause__, e.__context__, *e.args])
    return marked("".join(traceback.format_exception(type(err), err, err.__traceback__)))


def run_extraction(specs: list[str], output: str, options: ReadOptions | None = None, *,
                   runner: str = "DirectRunner", beam_args: list[str] | None = None,
                   num_shards: int | None = None) -> Extraction:
    """Extract a box cache with a Beam pipeline; returns the manifest it wrote and
    the job's counters.

    The Beam options are checked first; the new shards are written beside the
    previous cache, which stays readable until the job's last step replaces the
    manifest (:mod:`..sources.cache_output`); a local output is locked meanwhile.

    Args:
        specs: TFRecord paths/globs (local, ``gs://``, any Beam filesystem).
        output: the cache directory.
        options: reading options; the filtering ones only set the manifest's counts.
        runner: one of ``RUNNERS``; ``beam_args`` go to ``PipelineOptions``.
        num_shards: Parquet shards; default: as the runner's bundles fall (each worker
            writes its own shards, so no record row crosses a shuffle).
    Raises:
        InputError: a bad file or record without ``skip_bad`` (one line, from the
            worker), no boxes at all.
        UsageError: unknown runner, bad Beam options, non-TFRecord input, an output
            that cannot hold a cache or is being written by another extraction.
        KeyboardInterrupt: Ctrl-C (the new shards and Beam's temporaries removed).
    """
    from .options import check_options

    options = options if options is not None else ReadOptions()
    beam_args = list(beam_args or [])
    if runner not in RUNNERS:
        raise UsageError(f"unknown runner {runner!r}; use one of {', '.join(RUNNERS)}")
    check_options(runner, beam_args)
    specs = absolute_specs(list(specs))
    check_tfrecord_specs(specs)
    pyarrow_modules()
    fs = BeamStorage()
    check_output(output, fs)
    read = ReadRows(specs, options)
    with output_lock(output, fs) as created:
        generation = start_generation(output, fs)
        try:
            result = _run_job(read, output, generation, runner, beam_args, num_shards)
        except BaseException as err:
            abandon(output, generation, created, fs)
            raise _launcher_error(err) from None
        manifest = load_manifest(output)
        remove_unlisted(output, {s["path"] for s in manifest["shards"]}, fs)
    return Extraction(manifest, counters(result))


def _run_job(read: ReadRows, output: str, generation: str, runner: str, beam_args: list[str],
             num_shards: int | None) -> Any:
    """Build and run the pipeline; returns its finished result."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from .sink import ParquetTableSink

    pa, _ = pyarrow_modules()
    o = read.options
    record = extraction_options(o.compression, o.verify_sizes, o.skip_bad, o.label_map_path,
                                o.max_number_of_boxes, o.drop_difficult)
    args = {"specs": list(read.specs), "stamps": read.matched.stamps, "read": read.files,
            "launch_skips": read.matched.skips, "options": record,
            "extractor": f"apache_beam {beam.__version__} {runner}"}
    files = read.files
    pipeline = beam.Pipeline(options=PipelineOptions(beam_args, runner=runner))
    parts = pipeline | "Rows" >> read
    sink = ParquetTableSink(FileSystems.join(output, f"{SHARD_PREFIX}-{generation}"),
                            arrow_schema(pa), num_shards or 0)
    written = (parts.rows
               | "Arrow" >> beam.Map(lambda rows: rows_to_table(rows, files))
               | "Shards" >> beam.io.Write(sink))
    summary = parts.summary | "Merge" >> beam.CombineGlobally(MergeSummaries())
    _ = (pipeline
         | "Once" >> beam.Create([None])
         | "Manifest" >> beam.ParDo(WriteManifest(output, args), beam.pvalue.AsList(written),
                                    beam.pvalue.AsSingleton(summary)))
    result = pipeline.run()
    result.wait_until_finish()
    return result


def _launcher_error(err: BaseException) -> BaseException:
    """What a failed job raises to the command: the worker's one-line error, Ctrl-C
    as :class:`KeyboardInterrupt` (runners wrap it), a one-line error for a runner
    that cannot start, else the error itself."""
    if isinstance(err, KeyboardInterrupt) or "KeyboardInterrupt" in str(err):
        return KeyboardInterrupt()
    found = unwrap_bad_input(err)
    if found is not None:
        return found
    text = " ".join(str(err).split())
    if "prism" in text.lower() and ("fetch" in text.lower() or "download" in text.lower()):
        return UsageError(f"extract: --runner PrismRunner cannot start: {text[:200]} (it "
                          "downloads its binary on first use; run once online, or use "
                          "--runner DirectRunner)")
    return err


@dataclasses.dataclass(frozen=True)
class Extraction:
    """What :func:`run_extraction` did: the manifest it wrote and the job's counters
    (namespace ``tfod_anchors``: the skip keys, ``records``, ``images``, ``boxes``)."""

    manifest: dict[str, Any]
    counters: dict[str, int]


def counters(result: Any) -> dict[str, int]:
    """The ``tfod_anchors`` counters of a finished job (committed values where the
    runner has them)."""
    from apache_beam.metrics.metric import MetricsFilter

    found = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    out: dict[str, int] = {}
    for metric in found:
        value = metric.committed if metric.committed is not None else metric.attempted
        out[metric.key.metric.name] = out.get(metric.key.metric.name, 0) + int(value or 0)
    return out
