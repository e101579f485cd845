"""The ratio rule as coverage and the fit count it, against the real ``get_best_anchor`` of
tf-models-official (``best_match_only=True``: a box no anchor passes gets no target), for the
experiments' own anchors and for other anchor sets (a fit moves them).

Needs tf-models-official (extra 'models'); skipped without it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("official.projects.yolo.ops.anchor",
                    reason="needs tf-models-official (extra 'models')")
tf = pytest.importorskip("tensorflow")

from tfod_anchors.boxes import ResizedBoxes  # noqa: E402
from tfod_anchors.coverage.metrics import evaluate  # noqa: E402
from tfod_anchors.fitting.problem import build_problem  # noqa: E402
from tfod_anchors.fitting.rule_columns import RuleColumns  # noqa: E402
from tfod_anchors.frameworks.modelgarden import experiment as mgx  # noqa: E402
from tfod_anchors.frameworks.modelgarden import geometry  # noqa: E402
from tfod_anchors.frameworks.modelgarden.spec import model_garden_spec  # noqa: E402

FIXTURES = Path(__file__).parent / "mg_experiments"
#: an anchor set far from the defaults: narrow, wide and tiny shapes
OTHER = [[3.0, 9.0], [12.0, 4.0], [20.0, 20.0], [15.0, 70.0], [90.0, 30.0], [60.0, 60.0],
         [40.0, 200.0], [220.0, 80.0], [300.0, 300.0]]


def real_with_target(boxes_xywh: np.ndarray, anchors: geometry.YoloAnchors, hw: tuple,
                     thresh: float) -> np.ndarray:
    """bool ``[N]``: boxes (x, y, w, h normalized, float32) some level's real
    ``get_best_anchor`` gives an anchor (``best_match_only=True``)."""
    from official.projects.yolo.ops.anchor import get_best_anchor

    taken = np.zeros(boxes_xywh.shape[0], bool)
    for level, wh in anchors.per_level().items():
        stride = 2 ** level
        index, _ = get_best_anchor(tf.constant(boxes_xywh), [list(b) for b in wh], stride,
                                   width=hw[1] // stride, height=hw[0] // stride,
                                   iou_thresh=thresh, best_match_only=True)
        taken |= (index.numpy() >= 0).any(axis=1)
    return taken


@pytest.mark.parametrize("name", ["coco_yolov7tiny", "scaled_yolo"])
@pytest.mark.parametrize("boxes", [None, OTHER])
def test_boxes_with_a_target_equal_the_real_labeler(name, boxes):
    exp = mgx.read_params_yaml(str(FIXTURES / f"{name}.yaml"))
    if boxes is not None:
        exp = mgx.with_change(exp, {"task.model.anchor_boxes.boxes": boxes})
    spec = model_garden_spec(exp)
    hw = geometry.input_hw(exp)
    rng = np.random.default_rng(1)
    n = 3000
    wh = np.exp(rng.uniform(np.log(0.5), np.log(hw[1] - 1), (n, 2)))
    centre = rng.uniform(0.3, 0.7, (n, 2)) * np.array([hw[1], hw[0]])
    corners = np.stack([centre[:, 1] - wh[:, 1] / 2, centre[:, 0] - wh[:, 0] / 2,
                        centre[:, 1] + wh[:, 1] / 2, centre[:, 0] + wh[:, 0] / 2], axis=1)
    shape = np.tile(np.array(hw, np.int32), (n, 1))
    resized = ResizedBoxes(shape, shape.copy(), np.arange(n, dtype=np.int32), corners,
                           np.ones(n, np.int32))
    # the labeler's own input: normalized (x, y, w, h) from the normalized corners
    norm = (corners / np.array([hw[0], hw[1], hw[0], hw[1]])).astype(np.float32)
    xywh = np.stack([(norm[:, 1] + norm[:, 3]) / 2, (norm[:, 0] + norm[:, 2]) / 2,
                     norm[:, 3] - norm[:, 1], norm[:, 2] - norm[:, 0]], axis=1)
    real = real_with_target(xywh, geometry.yolo_anchors(exp), hw, spec.rule().threshold)
    assert 50 < int((~real).sum()) < n - 50  # both kinds of box are in the sample
    report = evaluate(resized, spec.layout_function(), spec.matcher())
    assert report.matched.tolist() == real.tolist()
    problem = build_problem(resized, spec)
    columns = RuleColumns(problem.geometry(np.arange(n)), problem.rule)
    keys = [(lv, float(h), float(w)) for lv, s in
            enumerate(problem.space.shapes_of(problem.space.x0)) for h, w in s]
    assert columns.passes(keys)[0].tolist() == real.tolist()
