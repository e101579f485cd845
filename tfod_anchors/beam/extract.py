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
from apache_beam.io.filesystems import FileSystems

from ..errors import InputError, TfodAnchorsError, UsageError
from ..sources.cache import (
    MANIFEST,
    SHARD_PREFIX,
    arrow_schema,
    load_manifest,
    pyarrow_modules,
    rows_to_table,
)
from ..sources.cache_write import (
    BEAM_TEMP,
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
    """Temporary object/file, then rename (Beam's FileSystems: local, gs://...)."""
    temp = path + ".tmp"
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
        _, pq = pyarrow_modules()
        sizes = summary["sizes"]
        if sizes["boxes"] == 0:
            where = ", ".join(self._args["read"][:3]) or "the input"
            raise BadInput.of(f"no boxes left in {sizes['records']} records of {where} "
                           f"(skipped: {summary['skipped']}); check the label map and flags")
        shards = []
        for path in sorted(shard_paths):
            with FileSystems.open(path) as f:
                rows = pq.ParquetFile(f).metadata.num_rows
            shards.append({"path": posixpath.basename(path), "rows": int(rows)})
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
        manifest = build_manifest(
            specs=self._args["specs"], stamps=self._args["stamps"], read=self._args["read"],
            stored=stored, boxset_skipped={k: v for k, v in skipped.items() if v},
            skip_examples=examples,
            counts={"files": len(self._args["stamps"]), "records": sizes["records"],
                    "box_entries": sizes["box_entries"], "images": sizes["images"],
                    "boxes": sizes["boxes"]},
            options=self._args["options"], shards=shards, extractor=self._args["extractor"])
        text = json.dumps(manifest, indent=2, allow_nan=False) + "\n"
        _write_text(FileSystems.join(self._output, MANIFEST), text)
        yield manifest["counts"]


def _prepare_output(output: str) -> None:
    """Beam's FileSystems version of :func:`~..sources.cache_write.prepare_output`."""
    FileSystems.mkdirs(output) if not FileSystems.exists(output) else None
    found = FileSystems.match([FileSystems.join(output, "*")])[0].metadata_list
    ours = [m.path for m in found if posixpath.basename(m.path) == MANIFEST
            or posixpath.basename(m.path).startswith((SHARD_PREFIX + "-", BEAM_TEMP))]
    others = [m.path for m in found if m.path not in ours
              and not posixpath.basename(m.path).startswith(".")]
    if others:
        raise UsageError(f"{output}: output directory holds other files ({others[0]}, ...); "
                         "choose an empty or new directory for the box cache")
    ours.sort(key=lambda p: posixpath.basename(p) != MANIFEST)  # the manifest goes first
    for path in ours:
        FileSystems.delete([path])


def _remove_temp(output: str) -> None:
    """Best effort: the temporary folders of a failed job's Parquet sink."""
    try:
        if "://" not in output:
            import glob
            import shutil

            for path in glob.glob(FileSystems.join(output, BEAM_TEMP + "*")):
                shutil.rmtree(path, ignore_errors=True)
            return
        found = FileSystems.match([FileSystems.join(output, BEAM_TEMP + "*", "*")])[0]
        FileSystems.delete(sorted({m.path for m in found.metadata_list}))
    except Exception:  # noqa: BLE001, S110 - cleaning up must not hide the real error
        pass


def unwrap_bad_input(err: BaseException) -> TfodAnchorsError | None:
    """The one-line error inside whatever a runner wrapped a worker's failure in
    (exception chains, ``args``, or only the remote traceback's text)."""
    pattern = re.compile(re.escape(MARKER) + r"(\{\"message\": \"(?:[^\"\\]|\\.)*\"\})")

    def marked(text: str) -> TfodAnchorsError | None:
        match = pattern.search(text)
        return InputError(json.loads(match.group(1))["message"]) if match else None

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
        UsageError: unknown runner, non-TFRecord input, occupied output directory.
    """
    from apache_beam.io.parquetio import WriteToParquetBatched
    from apache_beam.options.pipeline_options import PipelineOptions

    options = options if options is not None else ReadOptions()
    if runner not in RUNNERS:
        raise UsageError(f"unknown runner {runner!r}; use one of {', '.join(RUNNERS)}")
    check_tfrecord_specs(specs)
    pa, _ = pyarrow_modules()
    read = ReadRows(specs, options)
    _prepare_output(output)
    record = extraction_options(options.compression, options.verify_sizes, options.skip_bad,
                                options.label_map_path, options.max_number_of_boxes,
                                options.drop_difficult)
    args = {"specs": list(specs), "stamps": read.matched.stamps, "read": read.files,
            "launch_skips": read.matched.skips, "options": record,
            "extractor": f"apache_beam {beam.__version__} {runner}"}
    files = read.files
    pipeline = beam.Pipeline(options=PipelineOptions(list(beam_args or []), runner=runner))
    parts = pipeline | "Rows" >> read
    written = (parts.rows
               | "Arrow" >> beam.Map(lambda rows: rows_to_table(rows, files))
               | "Shards" >> WriteToParquetBatched(
                   FileSystems.join(output, SHARD_PREFIX), schema=arrow_schema(pa),
                   codec="zstd", file_name_suffix=".parquet",
                   num_shards=num_shards or 0,
                   shard_name_template="-SSSSS-of-NNNNN"))
    summary = parts.summary | "Merge" >> beam.CombineGlobally(MergeSummaries())
    _ = (pipeline
         | "Once" >> beam.Create([None])
         | "Manifest" >> beam.ParDo(WriteManifest(output, args), beam.pvalue.AsList(written),
                                    beam.pvalue.AsSingleton(summary)))
    try:
        result = pipeline.run()
        result.wait_until_finish()
    except Exception as err:  # noqa: BLE001 - runners wrap worker errors their own way
        _remove_temp(output)
        found = unwrap_bad_input(err)
        if found is not None:
            raise found from None
        raise
    return Extraction(load_manifest(output), counters(result))


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
