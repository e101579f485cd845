"""The TensorFlow-free TFRecord reader: framing, CRCs, Example parsing, reader choice.

Records here are written with our own protobuf schema and framing code, so most
tests run without TensorFlow; the ones comparing with ``tf.data`` skip cleanly
when TensorFlow is absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfod_anchors.errors import InputError, UsageError
from tfod_anchors.sources import read_boxes
from tfod_anchors.sources.tfrecord import choice as rc
from tfod_anchors.sources.tfrecord.example_proto import ExampleParser, example_class
from tfod_anchors.sources.tfrecord.files import FileInfo, inspect_files
from tfod_anchors.sources.tfrecord.framing import masked_crc, read_records, unmask

google_crc32c = pytest.importorskip("google_crc32c")  # an install_requires of the package
REPO = Path(__file__).resolve().parents[1]
B1 = [0.1, 0.2, 0.5, 0.6]
B2 = [0.0, 0.0, 1.0, 1.0]
BOX_KEYS = [f"image/object/bbox/{k}" for k in ("ymin", "xmin", "ymax", "xmax")]


def example(boxes=(), height=100, width=200, labels=None, texts=None, difficult=None,
            encoded=None, source_id=None, filename=None, extra=None) -> bytes:
    """A TFOD-style tf.Example built with our schema; ``boxes`` as [ymin, xmin, ymax,
    xmax] rows; ``None`` height/width leave the keys out; ``extra`` maps a key to
    ``(kind, values)`` (kind ``None``: a feature with no list set)."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    ex = example_class()()
    f = ex.features.feature
    if height is not None:
        f["image/height"].int64_list.value.append(height)
    if width is not None:
        f["image/width"].int64_list.value.append(width)
    for i, key in enumerate(BOX_KEYS):
        f[key].float_list.value.extend(boxes[:, i].tolist())
    if labels is None and texts is None:
        labels = [1] * len(boxes)
    if labels is not None:
        f["image/object/class/label"].int64_list.value.extend(labels)
    if texts is not None:
        f["image/object/class/text"].bytes_list.value.extend(t.encode() for t in texts)
    if difficult is not None:
        f["image/object/difficult"].int64_list.value.extend(difficult)
    if encoded is not None:
        f["image/encoded"].bytes_list.value.append(encoded)
    if source_id is not None:
        f["image/source_id"].bytes_list.value.append(source_id.encode())
    if filename is not None:
        f["image/filename"].bytes_list.value.append(filename.encode())
    for key, (kind, values) in (extra or {}).items():
        if key in f:
            del f[key]
        if kind is None:
            f[key].SetInParent()
        else:
            getattr(f[key], kind).value.extend(values)
            getattr(f[key], kind).SetInParent()
    return ex.SerializeToString(deterministic=True)


def frame(records: list[bytes]) -> bytes:
    """TFRecord framing of ``records``, written with our own code."""
    out = []
    for record in records:
        length = len(record).to_bytes(8, "little")
        out += [length, masked_crc(length).to_bytes(4, "little"), record,
                masked_crc(record).to_bytes(4, "little")]
    return b"".join(out)


def compress(data: bytes, compression: str | None) -> bytes:
    if not compression:
        return data
    wbits = 31 if compression == "GZIP" else 15
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


def write(path, records, compression=None) -> str:
    Path(path).write_bytes(compress(frame(records), compression))
    return str(path)


def offsets(records):
    out, pos = [], 0
    for record in records:
        out.append(pos)
        pos += 16 + len(record)
    return out


def native(specs, **kw):
    return read_boxes(specs, progress=False, reader="native", **kw)


# ---------------------------------------------------------------- CRC and framing

def test_crc32c_and_mask_known_values():
    # The CRC-32C check value of "123456789" (RFC 3720 test vector) is 0xE3069283.
    assert google_crc32c.value(b"123456789") == 0xE3069283
    assert unmask(masked_crc(b"123456789")) == 0xE3069283
    # mask = rotate right by 15, then add 0xa282ead8 (mod 2**32)
    crc = 0xE3069283
    rotated = ((crc >> 15) | (crc << 17)) & 0xFFFFFFFF
    assert masked_crc(b"123456789") == (rotated + 0xA282EAD8) & 0xFFFFFFFF


@pytest.mark.parametrize("compression", [None, "GZIP", "ZLIB"])
def test_read_records_batches_in_order(tmp_path, compression):
    records = [bytes([i]) * i for i in range(23)]  # includes an empty record
    path = write(tmp_path / "r.record", records, compression)
    with open(path, "rb") as f:
        batches = list(read_records(f, compression or "", batch=5))
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    assert [r for b in batches for r in b] == records


def test_exact_values_plain_gzip_zlib(tmp_path):
    a = write(tmp_path / "a.record", [
        example([B1, B2], 100, 200, labels=[3, 7], difficult=[0, 1], source_id="img0"),
        example([], 50, 60, filename="empty.jpg"),
    ])
    b = write(tmp_path / "b.record", [example([B2], 30, 40, labels=[2])], "GZIP")
    c = write(tmp_path / "c.record", [example([B1], 10, 20, labels=[5])], "ZLIB")
    out = native([a, b, c])
    np.testing.assert_array_equal(out.image_height, [100, 50, 30, 10])
    np.testing.assert_array_equal(out.image_width, [200, 60, 40, 20])
    assert list(out.image_key) == ["img0", "empty.jpg", "b.record#0", "c.record#0"]
    np.testing.assert_array_equal(out.box_image, [0, 0, 2, 3])
    np.testing.assert_array_equal(out.boxes, np.array([B1, B2, B2, B1], np.float32))
    np.testing.assert_array_equal(out.label, [3, 7, 2, 5])
    np.testing.assert_array_equal(out.difficult, [False, True, False, False])
    assert out.skipped == {"images_without_boxes": 1}
    assert [i.compression for i in inspect_files([a, b, c], None)] == ["", "GZIP", "ZLIB"]


FIVE = [example([B1], 10 + i, 20) for i in range(5)]
AT = offsets(FIVE)
L2 = len(FIVE[2])


def _flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0xFF
    return bytes(out)


# (name, damage to the plain bytes, record named, message): offsets worked out by hand
# from the framing (header of record 2 at AT[2], its data at AT[2] + 12).
DAMAGE = [
    ("length", lambda d: _flip(d, AT[2] + 1), 2,
     f"CRC mismatch (corrupted record at byte {AT[2]})"),
    ("length_crc", lambda d: _flip(d, AT[2] + 9), 2,
     f"CRC mismatch (corrupted record at byte {AT[2]})"),
    ("data", lambda d: _flip(d, AT[2] + 20), 2,
     f"CRC mismatch (corrupted record at byte {AT[2] + 12})"),
    ("data_crc", lambda d: _flip(d, AT[2] + 12 + L2 + 1), 2,
     f"CRC mismatch (corrupted record at byte {AT[2] + 12})"),
    ("cut_in_data", lambda d: d[:AT[3] + 30], 3,
     f"file truncated (incomplete record at byte {AT[3]})"),
    ("cut_after_header", lambda d: d[:AT[3] + 12], 3,
     f"file truncated (incomplete record at byte {AT[3]})"),
    ("cut_in_header", lambda d: d[:AT[3] + 5], 3,
     "file truncated (5 trailing bytes are not a whole record)"),
    ("garbage_after", lambda d: d + b"not a record at all!", 5,
     f"CRC mismatch (corrupted record at byte {AT[4] + 16 + len(FIVE[4])})"),
]


@pytest.mark.parametrize("name, damage, record, message", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_damage_named_and_skipped_like_tf(tmp_path, name, damage, record, message):
    path = tmp_path / f"{name}.record"
    path.write_bytes(damage(frame(FIVE)))
    good = write(tmp_path / "good.record", [example([B2], 7, 8)])
    with pytest.raises(InputError) as err:
        native([str(path), good])
    assert f"{path} (record {record}): {message}" in str(err.value)
    assert str(err.value).startswith("1 file(s) are corrupt")
    out = native([str(path), good], skip_bad=True)
    np.testing.assert_array_equal(out.image_height, [10 + i for i in range(record)] + [7])
    assert out.skipped == {"corrupt_files": 1}
    assert out.skip_examples["corrupt_files"] == f"{path} (record {record}): {message}"


def test_huge_length_with_valid_crc_is_truncation(tmp_path):
    length = (1 << 40).to_bytes(8, "little")
    data = frame(FIVE[:2]) + length + masked_crc(length).to_bytes(4, "little") + b"x" * 40
    path = tmp_path / "huge.record"
    path.write_bytes(data)
    out = native([str(path)], skip_bad=True)
    assert out.num_images == 2
    assert out.skip_examples["corrupt_files"].endswith(
        f"(record 2): file truncated (incomplete record at byte {AT[2]})")


@pytest.mark.parametrize("compression", ["GZIP", "ZLIB"])
def test_compressed_damage(tmp_path, compression):
    plain = frame(FIVE)
    # A CRC error inside a compressed stream: same record and uncompressed offset.
    bad = tmp_path / "crc.record"
    bad.write_bytes(compress(_flip(plain, AT[2] + 20), compression))
    out = native([str(bad)], skip_bad=True)
    assert out.num_images == 2
    assert out.skip_examples["corrupt_files"] == \
        f"{bad} (record 2): CRC mismatch (corrupted record at byte {AT[2] + 12})"
    # A stream that ends properly inside a record's data, or inside a header.
    cut = tmp_path / "cut.record"
    cut.write_bytes(compress(plain[:AT[3] + 30], compression))
    out = native([str(cut)], skip_bad=True)
    assert out.num_images == 3
    assert out.skip_examples["corrupt_files"] == \
        f"{cut} (record 3): file truncated (incomplete record at byte {AT[3]})"
    cut.write_bytes(compress(plain[:AT[3] + 5], compression))
    out = native([str(cut)])  # tf.data ignores a partial header in a whole stream
    assert out.num_images == 3 and out.skipped == {}
    # Only the stream's trailer missing: every record is whole, nothing is reported.
    whole = compress(plain, compression)
    cut.write_bytes(whole[:-3])
    assert native([str(cut)]).num_images == 5
    # Compressed bytes damaged: a corrupt file (zlib's reason, or a record CRC).
    cut.write_bytes(_flip(whole, len(whole) // 2))
    with pytest.raises(InputError, match=r"cut.record \(record \d\): "):
        native([str(cut)])
    # A stream cut short: the records inflated before the cut are kept.
    rng = np.random.default_rng(0)  # incompressible padding: the cut lands mid-stream
    padded = [example([B1], 10, 20, extra={"pad": ("float_list", rng.random(500).tolist())})
              for _ in range(50)]
    data = compress(frame(padded), compression)
    cut.write_bytes(data[: len(data) // 2])
    out = native([str(cut)], skip_bad=True)
    assert 0 < out.num_images < 50 and out.skipped == {"corrupt_files": 1}
    assert "file truncated (incomplete record at byte" in out.skip_examples["corrupt_files"]


def test_gzip_members_and_trailing_bytes(tmp_path):
    gz = compress(frame(FIVE[:2]), "GZIP")
    both = tmp_path / "two.record"
    both.write_bytes(gz + compress(frame(FIVE[2:]), "GZIP"))
    np.testing.assert_array_equal(native([str(both)]).image_height, [10, 11, 12, 13, 14])
    junk = tmp_path / "junk.record"
    junk.write_bytes(gz + b"garbage!")  # read as a second member, like tf.data
    out = native([str(junk)], skip_bad=True)
    assert out.num_images == 2
    assert out.skip_examples["corrupt_files"].startswith(
        f"{junk} (record 2): GZIP stream damaged, cannot inflate: incorrect header check")
    zl = tmp_path / "z.record"
    zl.write_bytes(compress(frame(FIVE), "ZLIB") + b"garbage!")  # ignored, like tf.data
    assert native([str(zl)]).num_images == 5


def test_wrong_forced_compression_hint(tmp_path):
    path = write(tmp_path / "g.record", [example([B1])], "GZIP")
    with pytest.raises(InputError) as err:
        native([path], compression="none")
    assert f"{path} (record 0): CRC mismatch (corrupted record at byte 0) (the file looks " \
           "GZIP; try compression gzip)" in str(err.value)
    plain = write(tmp_path / "p.record", [example([B1])])
    with pytest.raises(InputError) as err:
        native([plain], compression="zlib")
    assert "ZLIB stream damaged, cannot inflate: incorrect header check (the file looks " \
           "uncompressed; try compression none)" in str(err.value)


# ---------------------------------------------------------------- Example parsing

MALFORMED = [
    (b"this is not a tf.Example", "cannot parse the record as a tf.Example"),
    (example([B1], extra={"image/height": ("int64_list", [1, 2])}),
     "image/height: 2 values where exactly 1 is expected"),
    (example([B1], extra={"image/height": ("int64_list", [])}),
     "image/height: 0 values where exactly 1 is expected"),
    (example([B1], extra={"image/width": ("float_list", [3.0])}),
     "image/width: float values where int64 values are expected"),
    (example([B1], extra={"image/object/bbox/ymin": ("int64_list", [1])}),
     "image/object/bbox/ymin: int64 values where float values are expected"),
    (example([B1], extra={"image/object/class/label": ("float_list", [1.0])}),
     "image/object/class/label: float values where int64 values are expected"),
    (example([B1], extra={"image/object/difficult": ("bytes_list", [b"x"])}),
     "image/object/difficult: bytes values where int64 values are expected"),
    (example([B1], source_id="a", extra={"image/filename": ("bytes_list", [b"a", b"b"])}),
     "image/filename: 2 values where exactly 1 is expected"),
    (example([B1], height=0, extra={"image/encoded": ("int64_list", [5])}),
     "image/encoded: int64 values where bytes values are expected"),
    # a feature name that is not UTF-8: protobuf and TensorFlow both refuse the record
    (example([B1]) + bytes([0x0A, 0x0C, 0x0A, 0x02, 0xFF, 0xFE, 0x12, 0x06, 0x1A, 0x04, 0x0A,
                            0x02, 0x01, 0x02]), "cannot parse the record as a tf.Example"),
]


@pytest.mark.parametrize("record, reason", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_record_named(tmp_path, record, reason):
    path = write(tmp_path / "m.record", [example([B2], 5, 6), record, example([B1], 7, 8)])
    with pytest.raises(InputError) as err:
        native([path])
    assert str(err.value).startswith("1 malformed record(s), row(s) or annotation(s) cannot "
                                     "be used; first: "
                                     f"{path} (record 1): {reason}")
    out = native([path], skip_bad=True)
    np.testing.assert_array_equal(out.image_height, [5, 7])
    np.testing.assert_array_equal(out.boxes, np.array([B2, B1], np.float32))


def test_lenient_cases_match_parse_example(tmp_path):
    """Kind-less features read as absent; an empty record is an empty Example; a
    malformed image/encoded only matters for records that need the image."""
    path = write(tmp_path / "l.record", [
        example([B1], extra={"image/object/bbox/ymin": (None, None)}),  # 0 ymin values
        example([B1], 33, 44, extra={"image/height": (None, None)}, encoded=b"x"),
        b"",
        example([B2], 9, 9, extra={"image/encoded": ("int64_list", [5])}),
    ])
    out = native([path], skip_bad=True)
    assert out.skipped == {"malformed_records": 1, "missing_image_size": 2}
    assert "(record 0): image/object/bbox/{ymin,xmin,ymax,xmax} have different lengths" in \
        out.skip_examples["malformed_records"]
    assert out.skip_examples["missing_image_size"] == (
        f"{path} (record 1): image/height x image/width 0 x 44 (missing or 0) and no readable "
        "image header")
    np.testing.assert_array_equal(out.image_height, [9])


def test_parser_columns_and_label_map(tmp_path):
    from tfod_anchors.sources.labelmap import parse_label_map

    label_map = parse_label_map(b"item { id: 1 name: 'cat' display_name: 'Cat' }\n"
                                b"item { id: 2 name: 'dog' }\n", "map")
    parser = ExampleParser(label_map, verify_sizes=False)
    columns, kept, bad = parser.parse([
        example([B1, B2], texts=["cat", "bird"], labels=[9, 9], source_id="a\nb"),
        b"\x08",  # a truncated varint: not an Example
        example([B2], height=0, texts=["Cat"], encoded=b"img", filename="f.jpg"),
    ])
    np.testing.assert_array_equal(kept, [0, 2])
    assert bad == [(1, "cannot parse the record as a tf.Example")]
    np.testing.assert_array_equal(columns["image/object/class/text"], [1, -1, 1])
    np.testing.assert_array_equal(columns["image/object/class/text:splits"], [0, 2, 3])
    np.testing.assert_array_equal(columns["image/object/bbox/ymin"],
                                  np.array([0.1, 0.0, 0.0], np.float32))
    np.testing.assert_array_equal(columns["image/height"], [100, 0])
    np.testing.assert_array_equal(columns["need"], [False, True])
    assert columns["encoded"] == [b"img"]
    assert columns["keys"] == b"a b\nf.jpg"


# ---------------------------------------------------------------- reader choice

def _info(path="x.record", size=1000, first=100, compression=""):
    return FileInfo(path, compression, size, first, compression)


def test_choose_reader_rules(monkeypatch):
    local = [_info()]
    assert rc.choose_reader("native", local) == "native"
    with pytest.raises(UsageError, match="local files only"):
        rc.choose_reader("native", [_info("gs://bucket/train.record")])
    with pytest.raises(UsageError, match="auto, tf or native"):
        rc.choose_reader("fast", local)
    with pytest.raises(UsageError, match="auto, tf or native"):
        read_boxes(["x.record"], reader="fast")
    monkeypatch.setattr(rc, "tensorflow_installed", lambda: False)
    assert rc.choose_reader("auto", [_info(size=10**12)]) == "native"
    with pytest.raises(UsageError, match="needs TensorFlow"):
        rc.choose_reader("tf", local)
    with pytest.raises(UsageError, match="needs TensorFlow"):
        rc.choose_reader(None, [_info("gs://bucket/train.record")])
    monkeypatch.setattr(rc, "tensorflow_installed", lambda: True)
    assert rc.choose_reader("tf", local) == "tf"
    assert rc.choose_reader(None, [_info("gs://bucket/train.record")]) == "tf"
    assert rc.choose_reader("auto", local) == "native"


def test_crossover_estimate():
    # 1000 bytes at ~116 bytes a record: ~8.6 records; compressed counts COMPRESSION_RATIO x.
    records, mb = rc.estimate([_info(size=1160, first=100)])
    assert records == pytest.approx(10.0) and mb == pytest.approx(0.00116)
    records, _ = rc.estimate([_info(size=1160, first=100, compression="GZIP")])
    assert records == pytest.approx(10.0 * rc.COMPRESSION_RATIO)
    assert not rc.tf_is_faster(1_000, 0.5, tf_imported=False)
    assert rc.tf_is_faster(50_000_000, 25_000, tf_imported=False)
    # The crossover in box-only records is lower once TensorFlow is already imported.
    n = next(n for n in (10 ** k for k in range(3, 9)) if rc.tf_is_faster(n, n * 4.5e-4, False))
    m = next(m for m in (10 ** k for k in range(3, 9)) if rc.tf_is_faster(m, m * 4.5e-4, True))
    assert m <= n


# ---------------------------------------------------------------- no TensorFlow on this path

_PROBE = ("import sys; from tfod_anchors.cli import main; code = main(sys.argv[1:]); "
          "print('TF_IMPORTED', 'tensorflow' in sys.modules, file=sys.stderr); sys.exit(code)")


@pytest.mark.parametrize("extra", [[], ["--reader", "native"], ["--input",
                                                                "configs/demo/raccoon.tfrecord"]])
def test_check_on_local_records_never_imports_tensorflow(extra):
    config = "configs/ssd_mobilenet_v2_300x300_raccoon.config"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _PROBE, "check", config, *extra],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "coverage of 868 augmented boxes" in proc.stdout + proc.stderr
    assert "TF_IMPORTED False" in proc.stderr


def test_sources_import_without_tensorflow():
    code = ("import sys; import tfod_anchors.sources, tfod_anchors.sources.tfrecord.tfdata, "
            "tfod_anchors.sources.tfrecord.native, tfod_anchors.pipeline, tfod_anchors.cli; "
            "print('tensorflow' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    assert proc.stdout.strip() == "False", proc.stderr


# ---------------------------------------------------------------- schema and tf.data parity

def _message_proto(descriptor):
    from google.protobuf import descriptor_pb2

    proto = descriptor_pb2.DescriptorProto()
    descriptor.CopyToProto(proto)
    stack = [proto]
    while stack:  # json_name is derived from the name; protoc stores it, runtimes may not
        message = stack.pop()
        for field in message.field:
            field.ClearField("json_name")
        stack.extend(message.nested_type)
    return proto


def test_example_schema_matches_tensorflow():
    pytest.importorskip("tensorflow")
    from tensorflow.core.example import example_pb2, feature_pb2

    ours = example_class().DESCRIPTOR.file.pool
    for module, names in ((feature_pb2, ["BytesList", "FloatList", "Int64List", "Feature",
                                         "Features", "Features.FeatureEntry", "FeatureList",
                                         "FeatureLists", "FeatureLists.FeatureListEntry"]),
                          (example_pb2, ["Example", "SequenceExample"])):
        assert ours.FindFileByName(module.DESCRIPTOR.name).package == "tensorflow"
        for name in names:
            theirs = module.DESCRIPTOR.pool.FindMessageTypeByName(f"tensorflow.{name}")
            mine = ours.FindMessageTypeByName(f"tensorflow.{name}")
            assert _message_proto(mine) == _message_proto(theirs), name


def _both(paths, examples=False, **kw):
    """read_boxes with each reader: (result or error text) per reader; ``examples``:
    compare where each skip reason was first seen too (wording included)."""
    out = {}
    for reader in ("tf", "native"):
        try:
            box = read_boxes(paths, progress=False, reader=reader, **kw)
            out[reader] = (box.boxes.tobytes(), box.label.tolist(), box.box_image.tolist(),
                           box.image_height.tolist(), box.image_width.tolist(),
                           list(box.image_key), box.difficult.tolist(), box.skipped,
                           box.skip_examples if examples else None)
        except InputError as err:
            out[reader] = str(err)
    return out


@pytest.mark.parametrize("name, damage, record, message", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_damage_caught_exactly_as_by_tf_data(tmp_path, name, damage, record, message):
    pytest.importorskip("tensorflow")
    path = tmp_path / f"{name}.record"
    path.write_bytes(damage(frame(FIVE)))
    for skip_bad in (False, True):
        out = _both([str(path)], examples=True, skip_bad=skip_bad)
        assert out["tf"] == out["native"]
    if record:
        assert f"(record {record}): {message}" in _both([str(path)])["tf"]


_values = st.lists(st.floats(0, 1, width=32), max_size=4)
_feature = st.one_of(
    st.tuples(st.just("float_list"), _values),
    st.tuples(st.just("int64_list"), st.lists(st.integers(-3, 2**40), max_size=4)),
    st.tuples(st.just("bytes_list"), st.lists(st.binary(max_size=3), max_size=3)),
    st.tuples(st.none(), st.none()),
)
_keys = st.sampled_from(BOX_KEYS + ["image/object/class/label", "image/height", "image/width",
                                    "image/object/difficult", "image/source_id",
                                    "image/filename", "image/encoded", "other"])


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.tuples(st.integers(0, 3), st.dictionaries(_keys, _feature,
                                                                     max_size=3)),
                        min_size=1, max_size=6))
def test_random_records_parse_like_tf_data(tmp_path, records):
    """Random (often malformed) records: both readers keep, count and name the same."""
    pytest.importorskip("tensorflow")
    rng = np.random.default_rng(len(records))
    data = []
    for n, extra in records:
        lo = rng.uniform(0, 0.5, (n, 2))
        boxes = np.concatenate([lo, lo + 0.25], axis=1)
        data.append(example(boxes, int(rng.integers(0, 3)) * 50, 64, extra=extra))
    path = write(tmp_path / "h.record", data)
    out = _both([path], skip_bad=True)
    assert out["tf"] == out["native"]


# ---------------------------------------------------------------- skimmer == protobuf parser

def _same_columns(records, label_map=None, verify=False, keep_text=False):
    from tfod_anchors.sources.tfrecord.example_skim import ExampleSkimmer

    slow = ExampleParser(label_map, verify, keep_text).parse(records)
    fast = ExampleSkimmer(label_map, verify, keep_text).parse(records)
    np.testing.assert_array_equal(fast[1], slow[1])
    assert fast[2] == slow[2]
    assert set(fast[0]) == set(slow[0])
    for key, value in slow[0].items():
        if isinstance(value, np.ndarray):
            assert fast[0][key].dtype == value.dtype, key
            np.testing.assert_array_equal(fast[0][key], value, err_msg=key)
        else:
            assert fast[0][key] == value, key


def _same_as_tf_keeping_text(records, verify):
    """The skimmer keeping ``class/text`` accepts, rejects and parses as
    ``make_parse_fn(None, verify, keep_text=True)`` (the cache's parse) does."""
    tf = pytest.importorskip("tensorflow")
    from tfod_anchors.sources.tfrecord.example_skim import ExampleSkimmer
    from tfod_anchors.sources.tfrecord.tfexample import make_parse_fn

    parse = make_parse_fn(None, verify, keep_text=True)
    accepted = []
    for position, record in enumerate(records):
        try:
            parse(tf.constant([record]))
            accepted.append(position)
        except (tf.errors.InvalidArgumentError, UnicodeDecodeError):  # the latter: TF
            pass  # failing to word its error about a name that is not UTF-8
    columns, kept, bad = ExampleSkimmer(None, verify, keep_text=True).parse(records)
    assert kept.tolist() == accepted
    assert sorted(p for p, _ in bad) == sorted(set(range(len(records))) - set(accepted))
    if not accepted:
        return
    want = {k: v.numpy() for k, v in parse(tf.constant([records[i] for i in accepted])).items()}
    assert set(want) == set(columns)
    for key, value in want.items():
        if key == "encoded":
            assert list(columns[key]) == list(value)
        elif isinstance(value, bytes):
            assert columns[key] == value, key
        else:
            assert columns[key].dtype == value.dtype, key
            np.testing.assert_array_equal(columns[key], value, err_msg=key)


def _unpacked_ymin(values) -> bytes:
    """An Example whose ymin floats are written unpacked (legal, but not what
    serializers write): the skimmer must leave it to protobuf."""
    floats = b"".join(b"\x0d" + np.float32(v).tobytes() for v in values)
    feature = b"\x12" + bytes([len(floats)]) + floats
    key = b"image/object/bbox/ymin"
    entry = b"\x0a" + bytes([len(key)]) + key + b"\x12" + bytes([len(feature)]) + feature
    features = b"\x0a" + bytes([len(entry)]) + entry
    return b"\x0a" + bytes([len(features)]) + features


def test_skimmer_equals_protobuf_parser_on_edge_cases():
    from tfod_anchors.sources.labelmap import parse_label_map

    label_map = parse_label_map(b"item { id: 1 name: 'cat' display_name: 'Cat' }\n"
                                b"item { id: 2 name: 'dog' }\n", "map")
    records = [example([B1, B2], labels=[3, 7], difficult=[0, 1], source_id="img0"),
               example([], 50, 60, filename="empty.jpg"), b"",
               example([B2], 0, 0, encoded=b"jpeg", texts=["cat"]),
               example([B1], 5, 6, labels=[-5, 2**40], source_id="a\nb", filename="f"),
               example([B1]) + _unpacked_ymin([0.3]),  # two features fields: merged
               example([B1], extra={"image/height": ("int64_list", [7])}) +
               example([B2])[:0]]
    records += [record for record, _ in MALFORMED]
    for label_map_arg in (None, label_map):
        for verify in (False, True):
            _same_columns(records, label_map_arg, verify)
            _same_columns(records[::-1], label_map_arg, verify)
    for verify in (False, True):  # texts kept as bytes (the Beam extraction's parse)
        _same_columns(records, None, verify, keep_text=True)
        _same_as_tf_keeping_text(records, verify)


@settings(max_examples=150, deadline=None)
@given(records=st.lists(st.tuples(st.integers(0, 3), st.dictionaries(_keys, _feature,
                                                                     max_size=3),
                                  st.booleans()), min_size=1, max_size=8),
       verify=st.booleans())
def test_skimmer_equals_protobuf_parser_on_random_records(records, verify):
    data = []
    for n, extra, texts in records:
        lo = np.linspace(0.1, 0.4, n)[:, None] * np.ones((1, 2))
        boxes = np.concatenate([lo, lo + 0.25], axis=1)
        data.append(example(boxes, 50 * (n % 2), 64, extra=extra,
                            texts=["cat", "dog", "x"][:n] if texts else None))
    _same_columns(data, None, verify)
    _same_columns(data, None, verify, keep_text=True)


def test_check_reader_tf_flag_reaches_the_reader():
    pytest.importorskip("tensorflow")
    config = "configs/ssd_mobilenet_v2_300x300_raccoon.config"
    proc = subprocess.run([sys.executable, "-c", _PROBE, "check", config, "--reader", "tf"],
                          capture_output=True, text=True, cwd=REPO, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    assert "TF_IMPORTED True" in proc.stderr
