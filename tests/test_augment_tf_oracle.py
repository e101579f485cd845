"""The crop-window sampler against TensorFlow's own kernel, in distribution.

TensorFlow's ``stateless_sample_distorted_bounding_box`` (fixed seeds, so the test is
deterministic) and our sampler (fixed keys) each draw 20000 windows for the same
image, boxes and parameters; the distributions of the window's offsets and sizes
and the fallback rate must agree within sampling noise (KS critical value at
n = m = 20000 and alpha = 0.001 is 0.0195).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tfod_anchors.augment.crop_window import CropParams, sample_crop_windows
from tfod_anchors.augment.streams import Streams, mix

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")

N = 20000
CASES = [
    # (H, W, boxes, min_object_covered, aspect range, area range)
    (375, 500, [[0.1, 0.2, 0.6, 0.7]], 1.0, (0.75, 1.33), (0.1, 1.0)),
    (100, 300, [[0.0, 0.0, 0.9, 0.95], [0.2, 0.5, 0.3, 0.6]], 0.9, (0.5, 3.0), (0.75, 1.0)),
    (17, 23, [], 0.3, (0.5, 2.0), (0.1, 1.0)),
]


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    grid = np.union1d(a, b)
    fa = np.searchsorted(np.sort(a), grid, side="right") / a.size
    fb = np.searchsorted(np.sort(b), grid, side="right") / b.size
    return float(np.abs(fa - fb).max())


@pytest.mark.parametrize("h,w,boxes,covered,aspect,area", CASES)
def test_sampler_matches_tensorflow_kernel(h, w, boxes, covered, aspect, area):
    bounding = np.array(boxes, np.float32).reshape(1, -1, 4)

    @tf.function
    def tf_windows(seeds):
        def one(seed):
            begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
                [h, w, 3], bounding, seed=seed, min_object_covered=covered,
                aspect_ratio_range=aspect, area_range=area, max_attempts=100,
                use_image_if_no_bounding_boxes=True)
            return tf.concat([begin[:2], size[:2]], 0)
        return tf.map_fn(one, seeds, fn_output_signature=tf.int32)

    ref = tf_windows(tf.stack([tf.range(N), tf.fill([N], 3)], axis=1)).numpy()
    ones = np.ones(N, np.float32)
    params = CropParams(ones * np.float32(covered), ones * np.float32(aspect[0]),
                        ones * np.float32(aspect[1]), ones * np.float32(area[0]),
                        ones * np.float32(area[1]))
    n_boxes = len(boxes)
    ours = sample_crop_windows(
        Streams(mix(np.arange(N, dtype=np.uint64) + np.uint64(17))), np.arange(N),
        np.full(N, h), np.full(N, w), params, np.repeat(np.arange(N), n_boxes),
        np.tile(np.array(boxes, np.float32).reshape(-1, 4), (N, 1)), "oracle")
    for column, name in enumerate(("y0", "x0", "height", "width")):
        assert _ks(ref[:, column], np.asarray(ours[column])) < 0.0195, name
    whole_ref = np.mean((ref[:, 2] == h) & (ref[:, 3] == w))
    whole_ours = np.mean((ours[2] == h) & (ours[3] == w))
    assert abs(whole_ref - whole_ours) < 4 * np.sqrt(max(whole_ref, 1e-3) / N) + 1e-3
