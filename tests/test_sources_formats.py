"""COCO / VOC / CSV readers and spec dispatch, with exact values."""

from __future__ import annotations

import csv
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED

from tfod_anchors.errors import InputError
from tfod_anchors.sources import read_boxes, source_kind

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def f32(rows):
    return np.array(rows, dtype=np.float64).astype(np.float32)


# ---------------------------------------------------------------- COCO

def coco_file(tmp_path, annotations, images=None, categories=None):
    data = {
        "images": images if images is not None else [
            {"id": 1, "width": 640, "height": 480, "file_name": "a.jpg"},
            {"id": 2, "width": 100, "height": 200, "file_name": "b.jpg"},
            {"id": 3, "width": 50, "height": 50, "file_name": "c.jpg"},
        ],
        "annotations": annotations,
        "categories": categories if categories is not None else [
            {"id": 1, "name": "person"}, {"id": 18, "name": "dog"}],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_coco_like_create_coco_tf_record(tmp_path):
    path = coco_file(tmp_path, [
        {"id": 10, "image_id": 2, "bbox": [10, 20, 30, 40], "category_id": 18, "iscrowd": 0},
        {"id": 11, "image_id": 1, "bbox": [64.5, 48, 320, 240], "category_id": 1, "iscrowd": 1},
        {"id": 12, "image_id": 1, "bbox": [0, 0, 0, 10], "category_id": 1, "iscrowd": 0},
        {"id": 13, "image_id": 1, "bbox": [600, 0, 41, 10], "category_id": 1, "iscrowd": 0},
        {"id": 14, "image_id": 99, "bbox": [0, 0, 1, 1], "category_id": 1, "iscrowd": 0},
        {"id": 15, "image_id": 2, "bbox": [0, 0, 100, 200], "category_id": 1, "iscrowd": 0},
    ])
    out = read_boxes([path], progress=False)
    np.testing.assert_array_equal(out.image_height, [480, 200, 50])
    np.testing.assert_array_equal(out.image_width, [640, 100, 50])
    assert list(out.image_key) == ["a.jpg", "b.jpg", "c.jpg"]
    np.testing.assert_array_equal(out.box_image, [0, 1, 1])
    np.testing.assert_array_equal(out.boxes, f32([
        [48 / 480, 64.5 / 640, (48 + 240) / 480, (64.5 + 320) / 640],
        [20 / 200, 10 / 100, 60 / 200, 40 / 100],
        [0, 0, 1, 1],
    ]))
    np.testing.assert_array_equal(out.label, [1, 18, 1])
    np.testing.assert_array_equal(out.is_crowd, [True, False, False])
    assert out.skipped == {"zero_size_boxes": 1, "out_of_image_boxes": 1,
                           "orphan_annotations": 1, "images_without_boxes": 1}
    assert out.skip_examples["images_without_boxes"] == f"{path} (image id 3)"


def test_coco_label_map_by_category_name(tmp_path):
    pytest.importorskip("tfod_anchors.config.schema")
    path = coco_file(tmp_path, [
        {"image_id": 1, "bbox": [1, 2, 3, 4], "category_id": 18, "iscrowd": 0},
        {"image_id": 1, "bbox": [1, 2, 3, 4], "category_id": 1, "iscrowd": 0},
    ])
    label_map = tmp_path / "map.pbtxt"
    label_map.write_text("item { id: 5 name: 'dog' }\n")
    out = read_boxes([path], label_map_path=str(label_map), progress=False)
    np.testing.assert_array_equal(out.label, [5])
    assert out.skipped["unknown_class_boxes"] == 1


def test_coco_bad_files(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_boxes([str(bad)], progress=False)
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(InputError, match="needs 'images' and 'annotations'"):
        read_boxes([str(bad)], progress=False)
    path = coco_file(tmp_path, [{"image_id": 1, "bbox": [1, 2], "category_id": 1}])
    with pytest.raises(InputError, match=r"\(image id 1\): annotation 0 has no"):
        read_boxes([path], progress=False)


# ---------------------------------------------------------------- VOC

VOC = """<annotation>
  <folder>VOC</folder><filename>{name}</filename>
  <size><width>{w}</width><height>{h}</height><depth>3</depth></size>
  {objects}
</annotation>"""
OBJ = ("<object><name>{cls}</name><difficult>{d}</difficult><bndbox><xmin>{x1}</xmin>"
       "<ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>")


def voc_xml(path, name, w, h, objects):
    body = "".join(OBJ.format(cls=c, d=d, x1=x1, y1=y1, x2=x2, y2=y2)
                   for c, d, (x1, y1, x2, y2) in objects)
    path.write_text(VOC.format(name=name, w=w, h=h, objects=body))


def test_voc_directory_like_create_pascal_tf_record(tmp_path):
    root = tmp_path / "Annotations"
    root.mkdir()
    voc_xml(root / "b.xml", "b.jpg", 500, 375, [("dog", 0, (48, 240, 195, 371)),
                                                 ("cat", 1, (8, 12, 352.5, 374))])
    voc_xml(root / "a.xml", "a.jpg", 353, 500, [("person", 0, (1, 1, 353, 500))])
    voc_xml(root / "c.xml", "c.jpg", 100, 100, [])
    out = read_boxes([str(root)], progress=False)
    assert list(out.image_key) == ["a.jpg", "b.jpg", "c.jpg"]  # sorted paths
    np.testing.assert_array_equal(out.boxes, f32([
        [1 / 500, 1 / 353, 500 / 500, 353 / 353],
        [240 / 375, 48 / 500, 371 / 375, 195 / 500],
        [12 / 375, 8 / 500, 374 / 375, 352.5 / 500],
    ]))
    np.testing.assert_array_equal(out.difficult, [False, False, True])
    np.testing.assert_array_equal(out.label, [3, 2, 1])  # alphabetical: cat, dog, person
    out = read_boxes([str(root)], drop_difficult=True, progress=False)
    assert out.num_boxes == 2 and out.skipped["difficult_boxes"] == 1
    one = read_boxes([str(root / "b.xml")], progress=False)
    assert one.num_images == 1 and one.num_boxes == 2
    two = read_boxes([str(root / "[ab].xml")], progress=False)
    assert list(two.image_key) == ["a.jpg", "b.jpg"]


def test_voc_missing_size_from_image_and_bad_xml(tmp_path):
    tf = pytest.importorskip("tensorflow")
    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "JPEGImages" / "z.jpg").write_bytes(
        tf.io.encode_jpeg(tf.zeros([40, 80, 3], tf.uint8)).numpy())
    ann = tmp_path / "Annotations"
    ann.mkdir()
    voc_xml(ann / "z.xml", "z.jpg", 0, 0, [("cat", 0, (8, 4, 40, 20))])
    out = read_boxes([str(ann)], progress=False)
    np.testing.assert_array_equal(out.image_height, [40])
    np.testing.assert_array_equal(out.boxes, f32([[4 / 40, 8 / 80, 20 / 40, 40 / 80]]))
    assert out.skipped == {"size_from_header": 1}
    (ann / "broken.xml").write_text("<annotation><size>")
    with pytest.raises(InputError, match="broken.xml: not valid XML"):
        read_boxes([str(ann)], progress=False)
    out = read_boxes([str(ann)], skip_bad=True, progress=False)
    assert out.skipped["malformed_records"] == 1 and out.num_images == 1
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(InputError, match="no .xml files here"):
        read_boxes([str(empty)], progress=False)


# ---------------------------------------------------------------- CSV

def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def test_csv_notebook_layout(tmp_path):
    path = write_csv(tmp_path / "train_labels.csv",
                     ["filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax"],
                     [["IMG_1.JPG", 378, 504, "king", 27, 85, 174, 261],
                      ["IMG_2.JPG", 100, 50, "nine", 0, 0, 100, 50],
                      ["IMG_1.JPG", 378, 504, "ace", 1, 2, 3, 4]])
    out = read_boxes([path], progress=False)
    assert list(out.image_key) == ["IMG_1.JPG", "IMG_2.JPG"]
    np.testing.assert_array_equal(out.box_image, [0, 0, 1])
    np.testing.assert_array_equal(out.boxes, f32([
        [85 / 504, 27 / 378, 261 / 504, 174 / 378],
        [2 / 504, 1 / 378, 4 / 504, 3 / 378],
        [0, 0, 1, 1],
    ]))
    np.testing.assert_array_equal(out.label, [2, 1, 3])  # ace, king, nine


def test_csv_dataset_table_layout_with_difficult(tmp_path):
    path = write_csv(tmp_path / "voc.csv",
                     ["image_id", "image_width", "image_height", "xmin", "ymin", "xmax", "ymax",
                      "label", "difficult", "split"],
                     [["000005", 500, 375, 263, 211, 324, 339, "chair", 1, "val"],
                      ["000007", 500, 333, 141, 50, 500, 330, "car", 0, "train"]])
    out = read_boxes([path], drop_difficult=True, progress=False)
    np.testing.assert_array_equal(out.boxes, f32([[50 / 333, 141 / 500, 330 / 333, 1.0]]))
    assert out.skipped == {"difficult_boxes": 1, "images_without_boxes": 1}
    assert out.skip_examples["images_without_boxes"] == f"{path} (line 2)"


def test_csv_size_from_image_file_and_errors(tmp_path):
    tf = pytest.importorskip("tensorflow")
    (tmp_path / "p.png").write_bytes(tf.io.encode_png(tf.zeros([10, 20, 3], tf.uint8)).numpy())
    path = write_csv(tmp_path / "boxes.csv", ["path", "x1", "y1", "x2", "y2", "class_name"],
                     [["p.png", 2, 1, 12, 9, "a"], ["gone.png", 0, 0, 5, 5, "a"],
                      ["p.png", "x", 0, 1, 1, "a"]])
    with pytest.raises(InputError) as err:
        read_boxes([path], progress=False)
    assert str(err.value).startswith("1 malformed record(s), row(s) or annotation(s) cannot "
                                     "be used") and "(line 4)" in str(err.value)
    assert "tf.Example" not in str(err.value)  # a CSV row is not a tf.Example
    out = read_boxes([path], skip_bad=True, progress=False)
    np.testing.assert_array_equal(out.boxes, f32([[1 / 10, 2 / 20, 9 / 10, 12 / 20]]))
    assert out.skipped == {"malformed_records": 1, "missing_image_size": 1, "size_from_header": 1}
    normalized = write_csv(tmp_path / "n.csv", ["filename", "width", "height", "class", "xmin",
                                                 "ymin", "xmax", "ymax"],
                           [["a.jpg", 640, 480, "x", 0.1, 0.2, 0.5, 0.6]])
    with pytest.raises(InputError, match="looks normalized"):
        read_boxes([normalized], progress=False)
    headless = write_csv(tmp_path / "h.csv", ["a.jpg", "1", "2", "3", "4", "cat"], [])
    with pytest.raises(InputError, match="lacks image, xmin"):
        read_boxes([headless], progress=False)


# ---------------------------------------------------------------- dispatch and mixing

def test_source_kind(tmp_path):
    assert source_kind("a/instances_val2017.JSON") == "coco"
    assert source_kind("x.csv") == "csv"
    assert source_kind("x.xml") == "voc"
    assert source_kind(str(tmp_path)) == "voc"
    assert source_kind("gs://bucket/train-*.tfrecord") == "tfrecord"
    assert source_kind("data/train.record") == "tfrecord"


def test_mixed_sources_share_alphabetical_ids(tmp_path):
    root = tmp_path / "voc"
    root.mkdir()
    voc_xml(root / "a.xml", "a.jpg", 100, 100, [("zebra", 0, (0, 0, 50, 50))])
    table = write_csv(tmp_path / "t.csv", ["filename", "width", "height", "class", "xmin", "ymin",
                                           "xmax", "ymax"], [["b.jpg", 10, 10, "ant", 0, 0, 5, 5]])
    out = read_boxes([table, str(root)], progress=False)
    np.testing.assert_array_equal(out.label, [1, 2])
    assert out.sources == [table, str(root / "a.xml")]


# ---------------------------------------------------------------- the shared real datasets

def shared(*parts) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared ({path} absent)")
    return path


def csv_boxes(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return rows


def test_raccoon_xml_csv_and_tutorial_csv_agree(tmp_path):
    tar = shared("datasets", "raccoon", "original", "raccoon_annotations_xml.tar.gz")
    with tarfile.open(tar) as archive:
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(tmp_path, **safe)
    xml_dir = next(p.parent for p in tmp_path.rglob("raccoon-1.xml"))
    from_xml = read_boxes([str(xml_dir)], progress=False)
    table = read_boxes([str(shared("datasets", "raccoon", "raccoon.csv"))], progress=False)
    tutorial = read_boxes([str(shared("datasets", "raccoon", "original", "raccoon_labels.csv"))],
                          progress=False)
    assert from_xml.num_images == table.num_images == tutorial.num_images == 200
    assert from_xml.num_boxes == table.num_boxes == tutorial.num_boxes == 217

    def by_image(boxset):
        keys = [str(k).removesuffix(".jpg") for k in boxset.image_key]
        return {(keys[i], tuple(b)) for i, b in zip(boxset.box_image, boxset.boxes.tolist())}

    assert by_image(from_xml) == by_image(table) == by_image(tutorial)
    rows = csv_boxes(shared("datasets", "raccoon", "raccoon.csv"))
    first = rows[0]
    i = list(table.image_key).index(first["image_id"])
    box = table.boxes[np.flatnonzero(table.box_image == i)[0]]
    w, h = float(first["image_width"]), float(first["image_height"])
    np.testing.assert_array_equal(box, f32([float(first["ymin"]) / h, float(first["xmin"]) / w,
                                            float(first["ymax"]) / h, float(first["xmax"]) / w]))


def test_voc2007_trainval_counts(tmp_path):
    path = shared("datasets", "voc2007", "voc2007_trainval.csv")
    out = read_boxes([str(path)], progress=False)
    assert out.num_images == 5011 and out.num_boxes == 15662
    assert int(out.difficult.sum()) == 3054
    out = read_boxes([str(path)], drop_difficult=True, progress=False)
    assert out.num_boxes == 12608  # the official non-difficult count


def test_cards_and_coco_tables(tmp_path):
    cards = read_boxes([str(shared("datasets", "cards", "original", "train_labels.csv"))],
                       progress=False)
    assert cards.num_images == 296 and cards.num_boxes == 527
    coco = read_boxes([str(shared("datasets", "coco_val2017", "coco_val2017.csv"))],
                      progress=False)
    assert coco.num_images == 4952 and coco.num_boxes == 36781


def test_a_label_map_that_knows_none_of_the_classes_is_named_with_examples(tmp_path):
    rows = ["image_id,image_width,image_height,xmin,ymin,xmax,ymax,label"]
    rows += [f"img{i},100,100,10,10,50,50,{name}"
             for i, name in enumerate(["ace", "king", "nine", "queen", "ten", "two", "ace"])]
    data = tmp_path / "cards.csv"
    data.write_text("\n".join(rows) + "\n")
    label_map = tmp_path / "animals.pbtxt"
    label_map.write_text("item { id: 1 name: 'cat' }\nitem { id: 2 name: 'dog' }\n")
    with pytest.raises(InputError) as err:
        read_boxes([str(data)], label_map_path=str(label_map), progress=False)
    assert str(err.value) == (
        f"all 7 boxes of {data} were dropped (unknown_class_boxes: 7); the label map "
        f"{label_map} does not know their classes ('ace', 'king', 'nine', 'queen', 'ten', "
        "...): give the dataset's own with label_map_path=, or fix the config's label_map_path")
    # a map that knows some of them: the boxes it knows are kept
    label_map.write_text("item { id: 1 name: 'ace' }\n")
    assert read_boxes([str(data)], label_map_path=str(label_map),
                      progress=False).label.tolist() == [1, 1]
