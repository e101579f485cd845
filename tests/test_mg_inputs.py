"""The training boxes of a Model Garden experiment (issue 18): ``input_path`` split as
the Model Garden splits it, read by the project's readers, and the boxes its decoder and
parser drop (crowds for RetinaNet / R-CNN, non-COCO-80 ids for YOLO's coco91_to_80)."""

from __future__ import annotations

import importlib.util
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ruamel.yaml", reason="YAML experiment files need ruamel.yaml (extra 'yaml')")

from tfod_anchors.errors import ConfigError, UsageError  # noqa: E402
from tfod_anchors.frameworks.modelgarden import inputs  # noqa: E402
from tfod_anchors.frameworks.modelgarden.yaml_patch import load  # noqa: E402

FIXTURES = Path(__file__).parent / "mg_experiments"
B1, B2, B3 = [0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0], [0.25, 0.25, 0.75, 0.5]


def experiment(name: str, input_path="") -> dict:
    params = load((FIXTURES / f"{name}.yaml").read_text())
    params["task"]["train_data"]["input_path"] = input_path
    return params


@pytest.mark.parametrize("path, expected", [
    ("coco/train*", ("coco/train*",)),
    ("a.tfrecord, b-*.tfrecord ,c", ("a.tfrecord", "b-*.tfrecord", "c")),
    (["x,y", " z "], ("x", "y", "z")),
    ("", ()),
    (",,", ()),
])
def test_input_patterns_split_like_match_files(path, expected):
    assert inputs.input_patterns(path) == expected


def test_input_path_forms_that_cannot_be_read():
    with pytest.raises(ConfigError, match="mapping of datasets"):
        inputs.input_patterns({"a": "x*", "b": "y*"})
    with pytest.raises(ConfigError, match="string or a list"):
        inputs.input_patterns(3)
    both = experiment("retinanet_resnetfpn_coco", "x*")
    both["task"]["train_data"]["tfds_name"] = "coco/2017"
    with pytest.raises(ConfigError, match="both input_path and tfds_name"):
        inputs.train_inputs(both)
    with pytest.raises(ConfigError, match="neither input_path nor tfds_name"):
        inputs.train_inputs(experiment("retinanet_resnetfpn_coco", ""))


def test_what_each_family_drops():
    retina = inputs.train_inputs(experiment("retinanet_resnetfpn_coco", "a*"))
    assert (retina.drop_crowd, retina.coco91_to_80) == (True, False)
    mask = experiment("maskrcnn_resnetfpn_coco", "a*")
    mask["task"]["train_data"]["parser"]["skip_crowd_during_training"] = False
    assert not inputs.train_inputs(mask).drop_crowd
    yolo = inputs.train_inputs(experiment("yolo_darknet", "a*"))
    assert (yolo.drop_crowd, yolo.coco91_to_80) == (False, True)
    tfds = experiment("coco_yolov7tiny", "")
    tfds["task"]["train_data"].update(tfds_name="coco/2017", tfds_split="")
    got = inputs.train_inputs(tfds)
    assert (got.patterns, got.tfds_name, got.tfds_split) == ((), "coco/2017", "train")


def write_records(path: Path, images: list[tuple[list, list[int], list[int]]]) -> None:
    """TF Example records with the Model Garden's box keys, written by TensorFlow:
    per image (boxes, labels, is_crowd), 100x200 pixels."""
    tf = pytest.importorskip("tensorflow")
    with tf.io.TFRecordWriter(str(path)) as writer:
        for boxes, labels, crowd in images:
            b = np.asarray(boxes, np.float32).reshape(-1, 4)
            feature = {"image/height": [100], "image/width": [200],
                       "image/object/class/label": labels, "image/object/is_crowd": crowd}
            feature = {k: tf.train.Feature(int64_list=tf.train.Int64List(value=v))
                       for k, v in feature.items()}
            for i, key in enumerate(("ymin", "xmin", "ymax", "xmax")):
                feature[f"image/object/bbox/{key}"] = tf.train.Feature(
                    float_list=tf.train.FloatList(value=b[:, i].tolist()))
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())


@pytest.fixture
def records(tmp_path):
    write_records(tmp_path / "a-0.tfrecord", [([B1, B2], [1, 12], [0, 0]),
                                              ([B3, B1], [90, 3], [0, 1])])
    write_records(tmp_path / "b.tfrecord", [([B2], [83], [1])])
    return tmp_path


def test_input_path_records_with_the_parser_drops(records):
    path = f"{records}/a-*.tfrecord, {records}/b.tfrecord"
    retina = inputs.read_train_boxes(experiment("retinanet_resnetfpn_coco", path), reader="native")
    assert retina.num_images == 3 and retina.label.tolist() == [1, 12, 90]
    assert retina.skipped["crowd_dropped"] == 2
    np.testing.assert_array_equal(retina.boxes, np.array([B1, B2, B3], np.float32))
    yolo = inputs.read_train_boxes(experiment("coco_yolov7tiny", path), reader="native")
    # crowds are kept; 12 and 83 are not COCO-80 ids (12 is the missing "street sign")
    assert yolo.label.tolist() == [1, 90, 3] and yolo.skipped["coco91_to_80_dropped"] == 2
    assert "crowd_dropped" not in yolo.skipped and yolo.is_crowd.tolist() == [False, False, True]


def png_header(height: int, width: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
            + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)))


def test_tfds_examples_to_boxes():
    examples = [
        {"image": png_header(480, 640), "image/id": 7,
         "objects": {"bbox": np.array([B1, B2], np.float32), "label": np.array([0, 79]),
                     "is_crowd": np.array([False, True])}},
        {"image": png_header(50, 70), "image/id": 9,
         "objects": {"bbox": np.zeros((0, 4), np.float32), "label": np.zeros(0, int),
                     "is_crowd": np.zeros(0, bool)}},
    ]
    boxset = inputs._boxset(examples, "tfds:coco/2017/train")
    assert boxset.image_height.tolist() == [480, 50] and boxset.image_width.tolist() == [640, 70]
    assert boxset.box_image.tolist() == [0, 0] and boxset.label.tolist() == [0, 79]
    assert boxset.image_key.tolist() == ["7", "9"] and boxset.is_crowd.tolist() == [False, True]
    dropped = inputs.apply_parser_drops(boxset, inputs.TrainInputs((), drop_crowd=True))
    assert dropped.num_boxes == 1 and dropped.skipped["crowd_dropped"] == 1
    assert dropped.skipped["images_without_boxes"] == 1  # filtered as every source is


def test_tfds_name_needs_the_extra_or_a_detection_set():
    with pytest.raises(UsageError, match="not a detection set"):
        inputs.read_tfds("mnist", "train")
    if importlib.util.find_spec("tensorflow_datasets") is None:
        with pytest.raises(UsageError, match=r"pip install 'tfod-anchors\[tfds\]'"):
            inputs.read_tfds("coco/2017", "train")


@pytest.mark.parametrize("spec, parsed", [
    ("tfds:coco/2017", ("coco/2017", "train", "")),
    ("tfds:coco/2017:validation", ("coco/2017", "validation", "")),
    ("tfds:scenic:objects365:train[:10%]@/data/tfds",
     ("scenic:objects365", "train[:10%]", "/data/tfds")),
    ("tfds:mnist:test", ("mnist", "test", "")),
])
def test_tfds_specs(spec, parsed):
    from tfod_anchors.sources import source_kind
    from tfod_anchors.sources.tfds import parse_spec, tfds_spec

    assert source_kind(spec) == "tfds" and parse_spec(spec) == parsed
    assert parse_spec(tfds_spec(*parsed)) == parsed


def test_tfds_name_is_the_spec_input_and_one_line_without_the_extra(tmp_path, capsys):
    from tfod_anchors.cli import main
    from tfod_anchors.frameworks.modelgarden.spec import model_garden_spec

    exp = experiment("retinanet_resnetfpn_coco", "")
    exp["task"]["train_data"].update(tfds_name="coco/2017", tfds_split="validation")
    spec = model_garden_spec(exp)
    assert spec.inputs.paths == ("tfds:coco/2017:validation",) and spec.inputs.reader == "tfds"
    both = experiment("retinanet_resnetfpn_coco", "x*")
    both["task"]["train_data"]["tfds_name"] = "coco/2017"
    with pytest.raises(ConfigError, match="both input_path and tfds_name"):
        model_garden_spec(both)
    if importlib.util.find_spec("tensorflow_datasets") is not None:
        # installed: the set is not prepared here, and nothing is downloaded
        exp["task"]["train_data"]["tfds_data_dir"] = str(tmp_path)
    import yaml

    config = tmp_path / "r.yaml"
    config.write_text(yaml.safe_dump(exp))
    code = main(["check", str(config), "--no-advice"])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1
    assert ("tfod-anchors[tfds]" in err if importlib.util.find_spec("tensorflow_datasets")
            is None else "prepare it first" in err)
    assert not any(tmp_path.glob("coco*"))
