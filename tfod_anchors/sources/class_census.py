"""Which class names a label map does not know, and how many boxes carry each.

The readers turn a class text the label map does not know into ``-1`` and the
filters drop those boxes (``unknown_class_boxes``), so the names are gone by the
time anything reports the drop. When there are such boxes, :func:`unknown_class_counts`
reads the class names again (only the names: local TFRecords through the
TensorFlow-free skimmer, box caches from their stored texts, CSV and VOC files through
their readers) and counts the
unknown ones. It is a second pass over the files, taken only when boxes were dropped.
"""

from __future__ import annotations

from collections import Counter

from .labelmap import LabelMap
from .raw import Skips


def _tfrecord_texts(specs: list[str], compression: str | None) -> Counter[str] | None:
    """Every ``image/object/class/text`` of local TFRecord files, counted; None when a
    file is remote or unreadable (the census is best-effort: the read itself already
    reported what it could not read)."""
    from .fileio import is_remote
    from .tfrecord.example_skim import ExampleSkimmer
    from .tfrecord.files import batch_size, expand_paths, inspect_files
    from .tfrecord.framing import RecordError, read_records
    from .tfrecord.tfexample import TEXT_KEY

    if any(is_remote(s) for s in specs):
        return None
    counts: Counter[str] = Counter()
    parser = ExampleSkimmer(None, False, keep_text=True)
    try:
        infos = inspect_files(expand_paths(specs), compression)
        batch = batch_size(infos)
        for info in infos:
            with open(info.path, "rb", buffering=0) as f:
                try:
                    for records in read_records(f, info.compression, batch):
                        columns = parser.parse(records)[0]
                        counts.update(t.decode("utf-8", "replace")
                                      for t in columns[TEXT_KEY].tolist())
                except RecordError:
                    continue  # the rest of a damaged file is lost to the read too
    except Exception:  # noqa: BLE001 - best effort: names are extra detail
        return None
    return counts


def _coco_names(spec: str) -> Counter[str] | None:
    """Every annotation's category name of a COCO instances file, counted (a category id
    the file does not name counts under ``""``); None if unreadable."""
    import json

    from .fileio import read_bytes

    try:
        data = json.loads(read_bytes(spec))
        names = {c.get("id"): str(c.get("name", "")) for c in data.get("categories") or []
                 if isinstance(c, dict)}
        return Counter(names.get(a.get("category_id"), "") for a in data["annotations"]
                       if isinstance(a, dict))
    except Exception:  # noqa: BLE001 - best effort: the read reports bad files
        return None


def _cache_texts(spec: str) -> Counter[str] | None:
    """Every stored class text of a box cache (``extract``), counted; None if unreadable."""
    from .cache import load_manifest, read_cache_rows

    try:
        rows = read_cache_rows(spec, load_manifest(spec), text=True)
    except Exception:  # noqa: BLE001 - best effort, as for TFRecords
        return None
    codes = rows.values.get("class_text")
    if codes is None:
        return Counter()
    return Counter(rows.texts[int(c)] for c in codes.tolist())


def unknown_class_counts(specs: list[str], label_map: LabelMap,
                         compression: str | None = None) -> dict[str, int] | None:
    """``{class name: boxes}`` for every class name in ``specs`` that ``label_map``
    does not know (TFOD drops those boxes), most boxes first; None when the names
    cannot be read again (remote TFRecords, unreadable files)."""
    from . import source_kind
    from .csvfile import read_csv
    from .voc import read_voc

    counts: Counter[str] = Counter()
    tfrecords: list[str] = []
    for spec in specs:
        kind = source_kind(spec)
        if kind == "tfrecord":
            tfrecords.append(spec)
        elif kind in ("cache", "coco"):
            found = _cache_texts(spec) if kind == "cache" else _coco_names(spec)
            if found is None:
                return None
            counts.update(found)
        elif kind in ("csv", "voc"):
            try:
                part = read_csv(spec, skips=Skips()) if kind == "csv" else \
                    read_voc(spec, skips=Skips())
            except Exception:  # noqa: BLE001 - the read itself reports bad files
                return None
            codes = part.raw.label.tolist()
            counts.update(part.names[c] for c in codes)
        else:  # pragma: no cover - every source kind is handled above
            return None
    if tfrecords:
        found = _tfrecord_texts(tfrecords, compression)
        if found is None:
            return None
        counts.update(found)
    unknown = {name: n for name, n in counts.items() if label_map.lookup(name) < 0}
    return dict(sorted(unknown.items(), key=lambda kv: (-kv[1], kv[0])))


def sorted_name_ids(specs: list[str]) -> dict[int, str] | None:
    """id -> name for CSV/VOC sources read without a label map, whose ids number the
    sorted names from 1 (:func:`.texts.resolve_names`); None for other sources."""
    from . import source_kind
    from .csvfile import read_csv
    from .voc import read_voc

    names: set[str] = set()
    for spec in specs:
        kind = source_kind(spec)
        if kind not in ("csv", "voc"):
            return None
        try:
            part = read_csv(spec, skips=Skips()) if kind == "csv" else read_voc(spec, skips=Skips())
        except Exception:  # noqa: BLE001 - the read itself reports bad files
            return None
        names.update(part.names)
    return {i + 1: name for i, name in enumerate(sorted(names))}
