"""Hostile box data (issue 12, items 4, 6, 10, 13): non-finite coordinates, image sizes
that would wrap through int32, oversized CSV fields, messages that name the file and
record, say "negative" for negative sizes and keep "tf.Example" for TFRecords; boxes
TFOD keeps but can never match are counted."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tfod_anchors.errors import InputError
from tfod_anchors.sources import read_boxes
from tfod_anchors.sources.raw import SKIP_KEYS

tf = pytest.importorskip("tensorflow", reason="the TFRecord cases write records with TF")

from helpers.hostile import GOOD_BOXES, example, good_records, run_cli, write_records  # noqa: E402


def _boxes_equal(a, b) -> None:
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.box_image, b.box_image)
    np.testing.assert_array_equal(a.image_height, b.image_height)


# ---------------------------------------------------------------- item 4: +-inf


@pytest.mark.parametrize("bad", [[-math.inf, 0.1, 0.5, 0.5], [0.1, 0.1, math.inf, 0.5],
                                 [0.1, -math.inf, 0.5, math.inf]])
def test_infinite_coordinates_are_dropped_and_counted_like_nan(tmp_path, bad):
    clean = read_boxes([str(good_records(tmp_path / "clean.tfrecord"))], progress=False)
    dirty_path = good_records(tmp_path / "dirty.tfrecord", [example([bad] + GOOD_BOXES)])
    dirty = read_boxes([str(dirty_path)], progress=False)
    assert dirty.skipped == {"infinite_boxes": 1}
    assert dirty.skip_examples["infinite_boxes"].startswith(f"{dirty_path} (record 4) box 0")
    # everything downstream sees the clean boxes: one more image with the same 2 boxes
    np.testing.assert_array_equal(dirty.boxes[:8], clean.boxes)
    np.testing.assert_array_equal(dirty.boxes[8:], np.asarray(GOOD_BOXES, np.float32))
    assert np.isfinite(dirty.boxes).all()


def test_infinite_coordinates_in_csv_coco_voc(tmp_path):
    csv = tmp_path / "boxes.csv"
    csv.write_text("filename,width,height,class,xmin,ymin,xmax,ymax\n"
                   "a.jpg,100,100,cat,10,10,50,50\n"
                   "a.jpg,100,100,cat,-inf,10,50,50\n"
                   "b.jpg,100,100,cat,10,10,1e400,50\n")
    out = read_boxes([str(csv)], progress=False)
    assert out.num_boxes == 1 and out.skipped["infinite_boxes"] == 2
    coco = tmp_path / "instances.json"
    coco.write_text('{"images": [{"id": 1, "width": 100, "height": 100}], "annotations": ['
                    '{"image_id": 1, "bbox": [10, 10, 20, 20], "category_id": 1},'
                    '{"image_id": 1, "bbox": [-Infinity, 10, 20, 20], "category_id": 1},'
                    '{"image_id": 1, "bbox": [-1e400, 10, 20, 20], "category_id": 1}]}')
    out = read_boxes([str(coco)], progress=False)
    assert out.num_boxes == 1 and out.skipped == {"infinite_boxes": 2}
    voc = tmp_path / "voc"
    voc.mkdir()
    (voc / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>100</width><height>100</height>"
        "</size><object><name>cat</name><bndbox><xmin>10</xmin><ymin>-inf</ymin><xmax>50</xmax>"
        "<ymax>50</ymax></bndbox></object><object><name>cat</name><bndbox><xmin>10</xmin>"
        "<ymin>10</ymin><xmax>50</xmax><ymax>50</ymax></bndbox></object></annotation>")
    out = read_boxes([str(voc)], progress=False)
    assert out.num_boxes == 1 and out.skipped == {"infinite_boxes": 1}


def test_stats_with_an_infinite_box_prints_finite_percentiles(capsys, tmp_path):
    path = good_records(tmp_path / "dirty.tfrecord", [example([[-math.inf, 0.1, 0.5, 0.5]])])
    code, out, _ = run_cli(capsys, "stats", "--input", path, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["skipped"]["infinite_boxes"] == 1 and doc["num_boxes"] == 8
    assert list(doc["skipped"]) == list(SKIP_KEYS)
    assert all(v is not None and math.isfinite(v) for v in doc["width"].values())
    assert doc["width"]["min"] == pytest.approx(16.0) and doc["width"]["max"] == pytest.approx(24)


# ---------------------------------------------------------------- item 6: int32 wrap


@pytest.mark.parametrize(("height", "width", "shown"), [
    (2**33 + 640, 64, "8589935232 x 64"),   # was read as 640
    (64, 2**31, "64 x 2147483648"),         # was a negative width
    (2**27, 10, "134217728 x 10"),          # one side beyond TensorFlow's decoders
    (30000, 20000, "30000 x 20000"),        # 6e8 pixels: beyond them too
])
@pytest.mark.parametrize("reader", ["tf", "native"])
def test_image_sizes_beyond_what_tfod_decodes_are_rejected(tmp_path, height, width, shown,
                                                           reader):
    if reader == "native":
        pytest.importorskip("google_crc32c")
    path = good_records(tmp_path / "big.tfrecord", [example(GOOD_BOXES, height, width)])
    with pytest.raises(InputError) as err:
        read_boxes([str(path)], progress=False, reader=reader)
    message = str(err.value)
    assert f"{path} (record 4): image/height x image/width {shown} is beyond what TFOD can " \
           "decode" in message
    out = read_boxes([str(path)], skip_bad=True, progress=False, reader=reader)
    assert out.num_images == 4 and out.skipped == {"malformed_records": 1}
    assert (out.image_height == 64).all()


def test_largest_decodable_sizes_are_kept(tmp_path):
    path = write_records(tmp_path / "ok.tfrecord", [example(GOOD_BOXES, 2**27 - 1, 3),
                                                    example(GOOD_BOXES, 16384, 16384)])
    out = read_boxes([str(path)], progress=False)
    np.testing.assert_array_equal(out.image_height, [2**27 - 1, 16384])


# ---------------------------------------------------------------- item 10: named errors


def _one_line_naming(capsys, path, where, *flags):
    code, out, err = run_cli(capsys, "stats", "--input", path, *flags)
    assert code == 2 and err.count("\n") == 1 and "unexpected" not in err, err
    assert where in err, err
    return err


def test_coco_huge_sizes_are_named_and_skippable(capsys, tmp_path):
    path = tmp_path / "instances.json"
    path.write_text('{"images": [{"id": 1, "width": 100, "height": 100},'
                    '{"id": 2, "width": 100, "height": 1e400},'
                    '{"id": 3, "width": 1099511627776, "height": 100}],'
                    '"annotations": [{"image_id": 1, "bbox": [1, 1, 20, 20], "category_id": 1},'
                    '{"image_id": 3, "bbox": [1, 1, 20, 20], "category_id": 1}]}')
    err = _one_line_naming(capsys, path, f"{path} (image id 3): image height x width "
                                         "100 x 1099511627776 is beyond what TFOD can decode")
    assert "tf.Example" not in err
    out = read_boxes([str(path)], skip_bad=True, progress=False)
    assert out.num_images == 1
    assert out.skipped == {"missing_image_size": 1, "malformed_records": 1,
                           "orphan_annotations": 1}
    assert out.skip_examples["missing_image_size"] == (
        f"{path} (image id 2): height x width inf x 100 (missing, 0 or not a number)")


def test_csv_huge_width_and_huge_field(capsys, tmp_path):
    path = tmp_path / "boxes.csv"
    path.write_text("filename,width,height,class,xmin,ymin,xmax,ymax\n"
                    "a.jpg,100,100,cat,10,10,50,50\n"
                    "b.jpg,1099511627776,100,cat,10,10,50,50\n"
                    "c.jpg,100,100," + "x" * 140_000 + ",10,10,50,50\n")
    err = _one_line_naming(capsys, path, f"{path} (line")
    assert "tf.Example" not in err and len(err) < 1000
    out = read_boxes([str(path)], skip_bad=True, progress=False)
    assert out.num_images == 1 and out.skipped == {"malformed_records": 2}
    assert "line 3" in out.skip_examples["malformed_records"] or \
        "line 4" in out.skip_examples["malformed_records"]
    # each alone
    path.write_text("filename,width,height,class,xmin,ymin,xmax,ymax\n"
                    "c.jpg,100,100," + "x" * 140_000 + ",10,10,50,50\n"
                    "a.jpg,100,100,cat,10,10,50,50\n")
    err = _one_line_naming(capsys, path, f"{path} (line 2): unreadable CSV row (field larger")


# ---------------------------------------------------------------- item 13: wording


def test_negative_sizes_are_called_negative(tmp_path):
    path = good_records(tmp_path / "neg.tfrecord", [example(GOOD_BOXES, -5, 64)])
    with pytest.raises(InputError) as err:
        read_boxes([str(path)], progress=False)
    assert "image/height x image/width -5 x 64 (negative)" in str(err.value)
    coco = tmp_path / "neg.json"
    coco.write_text('{"images": [{"id": 1, "width": 100, "height": -3}], "annotations": []}')
    with pytest.raises(InputError, match=r"height x width -3 x 100 \(negative\)"):
        read_boxes([str(coco)], progress=False)
    csv = tmp_path / "neg.csv"
    csv.write_text("filename,width,height,class,xmin,ymin,xmax,ymax\nn.jpg,-100,100,c,1,1,5,5\n")
    with pytest.raises(InputError, match="negative width/height"):
        read_boxes([str(csv)], progress=False)


def test_annotation_problems_are_not_called_tf_examples(tmp_path):
    coco = tmp_path / "instances.json"
    coco.write_text('{"images": [{"id": 1, "width": 100, "height": 100}], "annotations": ['
                    '{"image_id": 1, "bbox": "oops", "category_id": 1}]}')
    voc = tmp_path / "voc"
    voc.mkdir()
    (voc / "a.xml").write_text("<annotation><size><width>10</width>")
    for path in (coco, voc):
        with pytest.raises(InputError) as err:
            read_boxes([str(path)], progress=False)
        assert "tf.Example" not in str(err.value)
        assert "malformed record(s), row(s) or annotation(s)" in str(err.value)


# ---------------------------------------------------------------- item 13: counted boxes


def test_zero_area_and_fully_outside_boxes_are_counted(capsys, tmp_path):
    odd = [[0.2, 0.2, 0.2, 0.5], [1.0, 0.1, 1.05, 0.3], [0.1, -0.5, 0.3, 0.0]]
    path = good_records(tmp_path / "odd.tfrecord", [example(odd)])
    out = read_boxes([str(path)], progress=False)
    assert out.num_boxes == 11  # kept: TFOD trains on them
    assert out.skipped == {"zero_area_boxes": 1, "fully_outside_boxes": 2}
    assert out.skip_examples["zero_area_boxes"].startswith(f"{path} (record 4) box 0")
    code, text, _ = run_cli(capsys, "stats", "--input", path)
    assert code == 0 and "zero_area_boxes: 1" in text and "fully_outside_boxes: 2" in text
