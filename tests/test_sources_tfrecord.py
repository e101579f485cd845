"""TFRecord readers: real tf.Example records written with TensorFlow, exact values.

Every test runs twice, with the ``tf.data`` reader and with the native one (the
``reader`` fixture): both must give these exact values and messages.
"""

from __future__ import annotations

import functools
import io
import os

import numpy as np
import pytest
from helpers.tfexample import bytes_feature, example, float_feature, int_feature, write

from tfod_anchors.errors import InputError, UsageError
from tfod_anchors.sources import read_boxes as _read_boxes
from tfod_anchors.sources.progress import Progress
from tfod_anchors.sources.tfrecord.files import masked_crc32c, sniff

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")
read_boxes = _read_boxes


@pytest.fixture(autouse=True, params=["tf", "native"])
def reader(request, monkeypatch):
    """Runs the test with ``read_boxes`` bound to one reader."""
    if request.param == "native":
        pytest.importorskip("google_crc32c")  # an install_requires; absent in old venvs
    monkeypatch.setitem(globals(), "read_boxes",
                        functools.partial(_read_boxes, reader=request.param))
    return request.param


def offsets(records):
    """Byte offset of each record in a plain TFRecord file."""
    out, pos = [], 0
    for record in records:
        out.append(pos)
        pos += 16 + len(record)
    return out


B1 = [0.1, 0.2, 0.5, 0.6]
B2 = [0.0, 0.0, 1.0, 1.0]


# ---------------------------------------------------------------- happy paths

def test_reads_exact_values_in_file_order(tmp_path):
    a = write(tmp_path / "a.record", [
        example([B1, B2], 100, 200, labels=[3, 7], difficult=[0, 1], source_id="img0"),
        example([], 50, 60, filename="empty.jpg"),
    ])
    b = write(tmp_path / "b.record", [example([B2], 30, 40, labels=[2])])
    out = read_boxes([a, b], progress=False)
    np.testing.assert_array_equal(out.image_height, [100, 50, 30])
    np.testing.assert_array_equal(out.image_width, [200, 60, 40])
    assert list(out.image_key) == ["img0", "empty.jpg", "b.record#0"]
    np.testing.assert_array_equal(out.box_image, [0, 0, 2])
    np.testing.assert_array_equal(out.boxes, np.array([B1, B2, B2], np.float32))
    assert out.boxes.dtype == np.float32
    np.testing.assert_array_equal(out.label, [3, 7, 2])
    np.testing.assert_array_equal(out.difficult, [False, True, False])
    assert not out.group_of.any() and not out.is_crowd.any()
    assert out.skipped == {"images_without_boxes": 1}
    assert out.skip_examples["images_without_boxes"] == f"{a} (record 1)"
    assert out.sources == [a, b]


def test_many_batches_and_sharded_glob(tmp_path):
    rng = np.random.default_rng(0)
    expected = []
    for shard in range(3):
        records = []
        for i in range(700):
            n = int(rng.integers(0, 4))
            ymin = rng.uniform(0, 0.5, n)
            xmin = rng.uniform(0, 0.5, n)
            boxes = np.stack([ymin, xmin, ymin + 0.3, xmin + 0.4], axis=1)
            expected.append(boxes.astype(np.float32))
            records.append(example(boxes, 100 + shard, 200 + i))
        write(tmp_path / f"train-{shard:05d}-of-00003.tfrecord", records)
    out = read_boxes([str(tmp_path / "train-?????-of-00003.tfrecord")], progress=False)
    assert out.num_images == 2100
    np.testing.assert_array_equal(out.boxes, np.concatenate(expected))
    np.testing.assert_array_equal(out.image_width[:3], [200, 201, 202])
    np.testing.assert_array_equal(out.image_height[[0, 700, 1400]], [100, 101, 102])
    counts = np.bincount(out.box_image, minlength=2100)
    np.testing.assert_array_equal(counts, [len(b) for b in expected])


@pytest.mark.parametrize("options", ["GZIP", "ZLIB"])
def test_compressed_auto_detected_and_forced(tmp_path, options):
    path = write(tmp_path / "c.record", [example([B1], 10, 20), example([B2], 30, 40)],
                 options=options)
    for compression in (None, "auto", options.lower()):
        out = read_boxes([path], compression=compression, progress=False)
        np.testing.assert_array_equal(out.boxes, np.array([B1, B2], np.float32))
        np.testing.assert_array_equal(out.image_height, [10, 30])


def test_wrong_forced_compression_names_file_and_hint(tmp_path):
    path = write(tmp_path / "g.record", [example([B1])], options="GZIP")
    with pytest.raises(InputError) as err:
        read_boxes([path], compression="none", progress=False)
    assert "corrupt" in str(err.value) and path in str(err.value)
    assert "try compression gzip" in str(err.value)
    with pytest.raises(UsageError):
        read_boxes([path], compression="lz4", progress=False)


def test_sniff_recognises_plain_gzip_zlib(tmp_path):
    record = example([B1])
    for options, name in ((None, ""), ("GZIP", "GZIP"), ("ZLIB", "ZLIB")):
        path = write(tmp_path / f"s{name}", [record], options=options)
        data = open(path, "rb").read()
        assert sniff(path, data[:65536], len(data)) == (name, len(record))
    assert sniff("x", b"", 0) == ("", None)
    assert sniff("x", b"hello world, not a record", 25) == (None, None)
    # The masked CRC of a record's length is what TFRecord stores after it.
    data = open(tmp_path / "s", "rb").read()
    assert masked_crc32c(data[:8]) == int.from_bytes(data[8:12], "little")


# ---------------------------------------------------------------- classes and TFOD filtering

def test_label_map_text_lookup_like_tfod(tmp_path):
    pytest.importorskip("tfod_anchors.config.schema")
    label_map = tmp_path / "map.pbtxt"
    label_map.write_text("item { id: 1 name: 'cat' display_name: 'Cat' }\n"
                         "item { id: 2 name: 'dog' }\n")
    path = write(tmp_path / "l.record", [
        example([B1, B1, B1], texts=["cat", "Cat", "dog"], labels=[9, 9, 9]),
        example([B2, B2], texts=["bird", "dog"]),
        example([B1], labels=[5]),  # no text: the label int is the fallback
    ])
    out = read_boxes([path], label_map_path=str(label_map), progress=False)
    np.testing.assert_array_equal(out.label, [1, 1, 2, 2, 5])
    np.testing.assert_array_equal(out.box_image, [0, 0, 0, 1, 2])
    assert out.skipped == {"unknown_class_boxes": 1}
    assert out.skip_examples["unknown_class_boxes"].startswith(f"{path} (record 1) box 0:")
    # Without a label map TFOD uses class/label only.
    out = read_boxes([path], progress=False)
    np.testing.assert_array_equal(out.label, [9, 9, 9, 5])
    assert out.skipped["boxes_without_class"] == 2


def test_label_map_rejected_like_tfod(tmp_path):
    pytest.importorskip("tfod_anchors.config.schema")
    path = write(tmp_path / "x.record", [example([B1])])
    bad = tmp_path / "bad.pbtxt"
    bad.write_text("item { id: 0 name: 'cat' }\n")
    with pytest.raises(InputError, match="reserves"):
        read_boxes([path], label_map_path=str(bad), progress=False)
    bad.write_text("item { id: 1 nme: 'cat' }\n")
    with pytest.raises(InputError, match="bad.pbtxt"):
        read_boxes([path], label_map_path=str(bad), progress=False)


def test_nan_max_boxes_and_difficult(tmp_path):
    nan_box = [np.nan, 0.1, 0.2, 0.3]
    path = write(tmp_path / "f.record", [
        example([B1, nan_box, B2, B1, B2], difficult=[0, 0, 1, 0, 0]),
        example([B2], difficult=[1]),
    ])
    out = read_boxes([path], max_number_of_boxes=2, progress=False)
    # NaN dropped first, then the first 2 of the remaining 4 are kept.
    np.testing.assert_array_equal(out.boxes, np.array([B1, B2, B2], np.float32))
    assert out.skipped == {"nan_boxes": 1, "boxes_over_max": 2}
    assert out.skip_examples["boxes_over_max"].startswith(f"{path} (record 0) box 3:")
    out = read_boxes([path], max_number_of_boxes=2, drop_difficult=True, progress=False)
    np.testing.assert_array_equal(out.boxes, np.array([B1, B1], np.float32))
    assert out.skipped == {"nan_boxes": 1, "difficult_boxes": 2, "boxes_over_max": 1,
                           "images_without_boxes": 1}
    with pytest.raises(UsageError):
        read_boxes([path], max_number_of_boxes=0, progress=False)


# ---------------------------------------------------------------- sizes from image headers

def test_missing_size_read_from_encoded_header(tmp_path):
    jpeg = tf.io.encode_jpeg(tf.zeros([37, 53, 3], tf.uint8)).numpy()
    png = tf.io.encode_png(tf.zeros([9, 11, 3], tf.uint8)).numpy()
    path = write(tmp_path / "h.record", [
        example([B1], height=None, width=None, encoded=jpeg),
        example([B2], height=0, width=0, encoded=png),
        example([B1], 100, 200, encoded=jpeg),  # stored size trusted without verify
    ])
    out = read_boxes([path], progress=False)
    np.testing.assert_array_equal(out.image_height, [37, 9, 100])
    np.testing.assert_array_equal(out.image_width, [53, 11, 200])
    assert out.skipped == {"size_from_header": 2}


def test_verify_sizes_counts_mismatches_and_uses_image_size(tmp_path):
    jpeg = tf.io.encode_jpeg(tf.zeros([37, 53, 3], tf.uint8)).numpy()
    path = write(tmp_path / "v.record", [
        example([B1], 37, 53, encoded=jpeg),
        example([B1], 100, 200, encoded=jpeg),
        example([B2], 10, 10),  # box-only record: nothing to verify against
    ])
    out = read_boxes([path], verify_sizes=True, progress=False)
    np.testing.assert_array_equal(out.image_height, [37, 37, 10])
    np.testing.assert_array_equal(out.image_width, [53, 53, 10])
    assert out.skipped == {"size_mismatch": 1, "unverified_sizes": 1}
    assert "stored 100x200, image 37x53" in out.skip_examples["size_mismatch"]
    assert "(record 1)" in out.skip_examples["size_mismatch"]


def test_missing_size_without_image_is_fatal_then_skippable(tmp_path):
    path = write(tmp_path / "m.record", [example([B1]), example([B2], height=None),
                                         example([B2], width=0, encoded=b"not an image")])
    with pytest.raises(InputError) as err:
        read_boxes([path], progress=False)
    assert str(err.value).startswith("2 image(s) have no usable size")
    assert f"first: {path} (record 1)" in str(err.value)
    out = read_boxes([path], skip_bad=True, progress=False)
    assert out.num_images == 1 and out.skipped == {"missing_image_size": 2}


# ---------------------------------------------------------------- damaged files

def test_crc_mismatch_names_record_and_skip_keeps_earlier(tmp_path):
    records = [example([B1], 10 + i, 20) for i in range(5)]
    path = write(tmp_path / "crc.record", records)
    data = bytearray(open(path, "rb").read())
    data[offsets(records)[2] + 20] ^= 0xFF  # inside record 2's payload
    open(path, "wb").write(bytes(data))
    good = write(tmp_path / "good.record", [example([B2], 7, 8)])
    with pytest.raises(InputError) as err:
        read_boxes([path, good], progress=False)
    message = str(err.value)
    assert f"{path} (record 2): CRC mismatch" in message and "\n" not in message
    out = read_boxes([path, good], skip_bad=True, progress=False)
    np.testing.assert_array_equal(out.image_height, [10, 11, 7])
    assert out.skipped == {"corrupt_files": 1}


def test_truncated_file_mid_record_and_mid_header(tmp_path):
    records = [example([B1], 10 + i, 20) for i in range(4)]
    data = open(write(tmp_path / "full.record", records), "rb").read()
    cut = tmp_path / "cut.record"
    cut.write_bytes(data[:offsets(records)[3] + 30])  # inside record 3's data
    with pytest.raises(InputError, match=r"cut.record \(record 3\): file truncated"):
        read_boxes([str(cut)], progress=False)
    out = read_boxes([str(cut)], skip_bad=True, progress=False)
    np.testing.assert_array_equal(out.image_height, [10, 11, 12])
    # Cut inside a record header: TensorFlow stops silently; the byte count does not.
    cut.write_bytes(data[:offsets(records)[3] + 5])
    with pytest.raises(InputError, match=r"\(record 3\): file truncated \(5 trailing bytes"):
        read_boxes([str(cut)], progress=False)
    out = read_boxes([str(cut)], skip_bad=True, progress=False)
    assert out.num_images == 3 and out.skipped == {"corrupt_files": 1}


def test_truncated_gzip(tmp_path):
    rng = np.random.default_rng(0)  # incompressible padding: the cut lands mid-stream
    records = [example([B1], 10, 20, extra={"pad": float_feature(rng.random(500).tolist())})
               for _ in range(50)]
    data = open(write(tmp_path / "z.record", records, options="GZIP"), "rb").read()
    cut = tmp_path / "cut.gz.record"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cut.gz.record"):
        read_boxes([str(cut)], progress=False)
    out = read_boxes([str(cut)], skip_bad=True, progress=False)
    assert 0 < out.num_images < 50 and out.skipped == {"corrupt_files": 1}


def test_malformed_records_located(tmp_path):
    records = [example([B1]) for _ in range(6)]
    records[1] = b"this is not a tf.Example"
    records[3] = example([B1], extra={"image/height": int_feature([1, 2])})
    records[4] = example(extra={"image/object/bbox/ymin": int_feature([1]),
                                "image/object/bbox/xmin": float_feature([0.1])})
    records[5] = example([B1, B2], labels=[1])
    path = write(tmp_path / "bad.record", records)
    with pytest.raises(InputError) as err:
        read_boxes([path], progress=False)
    assert str(err.value).startswith("4 malformed record(s), row(s) or annotation(s) cannot be "
                                     f"used; first: {path} (record 1): cannot parse the record "
                                     "as a tf.Example")
    out = read_boxes([path], skip_bad=True, progress=False)
    assert out.num_images == 2 and out.skipped == {"malformed_records": 4}


def test_mismatched_bbox_lists_are_malformed(tmp_path):
    record = example(extra={"image/object/bbox/ymin": float_feature([0.1, 0.2]),
                            "image/object/bbox/xmin": float_feature([0.1]),
                            "image/object/bbox/ymax": float_feature([0.5, 0.6]),
                            "image/object/bbox/xmax": float_feature([0.5, 0.6]),
                            "image/object/class/label": int_feature([1, 1])})
    path = write(tmp_path / "mm.record", [example([B1]), record, example([B2])])
    with pytest.raises(InputError, match=r"\(record 1\): image/object/bbox/\{ymin,xmin,ymax"):
        read_boxes([path], progress=False)
    out = read_boxes([path], skip_bad=True, progress=False)
    np.testing.assert_array_equal(out.boxes, np.array([B1, B2], np.float32))


def test_pixel_coordinates_and_inverted_boxes(tmp_path):
    path = write(tmp_path / "p.record", [
        example([B1]),
        example([[10, 20, 50, 80], B1], 100, 200),
        example([[0.5, 0.1, 0.4, 0.2], B2, [0.1, 0.6, 0.2, 0.5]]),
    ])
    with pytest.raises(InputError) as err:
        read_boxes([path], progress=False)
    assert "1 record(s) have box coordinates > 1.1, which looks like absolute pixels" in \
        str(err.value)
    assert f"{path} (record 1) box 0" in str(err.value)
    two = write(tmp_path / "inv.record", [example([B1]), example([[0.5, 0.1, 0.4, 0.2], B2,
                                                                   [0.1, 0.6, 0.2, 0.5]])])
    with pytest.raises(InputError) as err:
        read_boxes([two], progress=False)
    assert str(err.value).startswith("2 box(es) have ymax < ymin or xmax < xmin")
    assert f"{two} (record 1) box 0: [ymin, xmin, ymax, xmax] = [0.5, 0.1, 0.4, 0.2]" in \
        str(err.value)
    out = read_boxes([path], skip_bad=True, progress=False)
    np.testing.assert_array_equal(out.boxes, np.array([B1, B2], np.float32))
    assert out.num_images == 2
    assert out.skipped == {"not_normalized_records": 1, "inverted_boxes": 2}


def test_deep_record_index_in_messages(tmp_path):
    records = [example([B1]) for _ in range(2600)]
    records[2501] = example([[0.9, 0.1, 0.2, 0.3]])
    path = write(tmp_path / "deep.record", records)
    with pytest.raises(InputError, match=r"\(record 2501\) box 0"):
        read_boxes([path], progress=False)


# ---------------------------------------------------------------- empty and missing input

def test_empty_and_boxless_and_missing(tmp_path):
    empty = tmp_path / "empty.record"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty dataset"):
        read_boxes([str(empty)], progress=False)
    nobox = write(tmp_path / "nobox.record",
                  [example(extra={"image/format": bytes_feature(["jpeg"])})])
    with pytest.raises(InputError, match=r"no boxes in 1 images"):
        read_boxes([nobox], progress=False)
    with pytest.raises(InputError, match="matches nothing"):
        read_boxes([str(tmp_path / "nothing-*.record")], progress=False)
    text = tmp_path / "notes.txt"
    text.write_text("hello, I am not a TFRecord file\n")
    with pytest.raises(InputError, match="not a TFRecord file"):
        read_boxes([str(text)], progress=False)
    with pytest.raises(UsageError):
        read_boxes([], progress=False)


# ---------------------------------------------------------------- progress

def test_progress_callback_and_tty_line(tmp_path):
    path = write(tmp_path / "pr.record", [example([B1, B2]) for _ in range(30)])
    seen = []
    read_boxes([path], progress=lambda records, boxes: seen.append((records, boxes)))
    assert seen[-1] == (30, 60)
    stream = io.StringIO()
    meter = Progress(True, stream=stream, interval=0.0)
    meter.update(10, 25)
    meter.close()
    assert "10 records" in stream.getvalue() and "25 boxes" in stream.getvalue()
    quiet = io.StringIO()
    meter = Progress(None, stream=quiet, interval=0.0)  # StringIO is not a TTY
    meter.update(10, 25)
    meter.close()
    assert quiet.getvalue() == ""
