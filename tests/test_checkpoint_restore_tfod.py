"""The checkpoint notes against TFOD's own model builder and restore (#20).

Builds TFOD's Faster R-CNN ResNet-50 640 twice, with 12 and with 15 anchors per location,
saves a real TF2 checkpoint of the first and restores it into the second as TFOD's TF2
trainer does (``restore_from_objects``, then ``expect_partial().assert_existing_objects_
matched()``): ``detection`` restores (the box predictor is not part of it), ``full`` fails on
the predictor's shapes. :func:`tfod_anchors.rules.checkpoint.anchor_count_note` must say the
same. Runs only where TFOD's ``object_detection`` (TF2, built from source) is installed: PyPI
has no usable build of it (only an unofficial 2019 TF1-era ``object-detection`` 0.0.3).
"""

from __future__ import annotations

import pytest
from conftest import SHARED

model_builder = pytest.importorskip(
    "object_detection.builders.model_builder",
    reason="needs TFOD's object_detection (TF2), which is installed from source, not PyPI")
config_util = pytest.importorskip("object_detection.utils.config_util")
tf = pytest.importorskip("tensorflow")

SAMPLE = SHARED / "tfod-configs/tf2/faster_rcnn_resnet50_v1_640x640_coco17_tpu-8.config"


def _built(model_config):
    model = model_builder.build(model_config, is_training=True)
    images, shapes = model.preprocess(tf.zeros([1, 640, 640, 3]))
    model.predict(images, shapes)  # creates every variable
    return model


def test_detection_restores_full_fails_as_the_notes_say(tmp_path):
    from tfod_anchors.config.files import load_config
    from tfod_anchors.rules.checkpoint import anchor_count_note

    if not SAMPLE.exists():
        pytest.skip("needs ../shared/tfod-configs")
    configs = config_util.get_configs_from_pipeline_file(str(SAMPLE))
    model_config = configs["model"]
    model_config.faster_rcnn.num_classes = 3
    grid = model_config.faster_rcnn.first_stage_anchor_generator.grid_anchor_generator
    assert len(grid.scales) * len(grid.aspect_ratios) == 12
    path = tf.train.Checkpoint(model=_built(model_config)).save(str(tmp_path / "ckpt"))
    grid.scales.append(4.0)  # 15 anchors per location
    wider = _built(model_config)

    ours = load_config(str(SAMPLE)).config
    ours.train_config.fine_tune_checkpoint = path
    for kind, level in (("detection", "info"), ("full", "warning")):
        ours.train_config.fine_tune_checkpoint_type = kind
        assert anchor_count_note(ours, [12], [15]).level == level
        restore = tf.train.Checkpoint(**wider.restore_from_objects(
            fine_tune_checkpoint_type=kind))
        if kind == "detection":
            restore.restore(path).expect_partial().assert_existing_objects_matched()
        else:
            with pytest.raises(ValueError):
                restore.restore(path).expect_partial().assert_existing_objects_matched()
