"""The numpy scale jitter against the real Model Garden parser (``maskrcnn_input.Parser``,
whose output carries the boxes and ``image_info``): equal boxes without jitter, equal
boxes for the parser's own scale and offset with it, flips, and the distribution of
the draws (a small version of benchmarks/bench_mg_augment.py). Needs tf-models-official
(extra 'models'); skipped without it."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("ruamel.yaml", reason="YAML experiment files need ruamel.yaml (extra 'yaml')")
pytest.importorskip("official.vision.dataloaders.maskrcnn_input",
                    reason="needs tf-models-official (extra 'models')")
tf = pytest.importorskip("tensorflow")

from conftest import ROOT  # noqa: E402

from tfod_anchors.boxes import BoxSet  # noqa: E402
from tfod_anchors.frameworks.modelgarden import augment as mga  # noqa: E402

OUTPUT = (256, 192)  # a multiple of 2**6 only in height: padded to 256x256


def random_images(n: int, seed: int):
    """``n`` images of random sizes with 1-6 random boxes each (normalized yxyx)."""
    rng = np.random.default_rng(seed)
    hw = rng.integers(60, 900, (n, 2))
    counts = rng.integers(1, 7, n)
    image = np.repeat(np.arange(n), counts)
    ys = np.sort(rng.random((len(image), 2), np.float32), axis=1)
    xs = np.sort(rng.random((len(image), 2), np.float32), axis=1)
    boxes = np.stack([ys[:, 0], xs[:, 0], ys[:, 1], xs[:, 1]], axis=1)
    return hw, image, boxes


def parse(hw, image, boxes, **parser_args):
    """The real parser's (gt_boxes, image_info) per image, mapped over a tf.data dataset
    as training maps it (in a graph: this matters, see test_flips_share_the_scale_draw)."""
    from official.vision.dataloaders import maskrcnn_input

    parser = maskrcnn_input.Parser(output_size=list(OUTPUT), min_level=2, max_level=6,
                                   num_scales=1, aspect_ratios=[0.5, 1.0, 2.0], anchor_size=8,
                                   max_num_instances=10, **parser_args)

    def examples():
        for i, (h, w) in enumerate(hw):
            rows = boxes[image == i]
            yield {"image": np.zeros((int(h), int(w), 3), np.uint8), "groundtruth_boxes": rows,
                   "groundtruth_classes": np.ones(len(rows), np.int64),
                   "groundtruth_is_crowd": np.zeros(len(rows), bool)}

    spec = {"image": tf.TensorSpec([None, None, 3], tf.uint8),
            "groundtruth_boxes": tf.TensorSpec([None, 4], tf.float32),
            "groundtruth_classes": tf.TensorSpec([None], tf.int64),
            "groundtruth_is_crowd": tf.TensorSpec([None], tf.bool)}
    dataset = tf.data.Dataset.from_generator(examples, output_signature=spec)
    out = []
    for _, labels in dataset.map(parser._parse_train_data):
        gt = labels["gt_boxes"].numpy()
        out.append((gt[(gt != -1).any(axis=1)], labels["image_info"].numpy()))
    return out


def test_static_boxes_equal_the_parser():
    hw, image, boxes = random_images(25, 0)
    spec = mga.ScaleJitter(OUTPUT, (256, 256))
    d = mga.draw(spec, len(hw), np.random.default_rng(0))
    ours, kept = mga.apply(boxes, image, hw, spec, d)
    for i, (gt, info) in enumerate(parse(hw, image, boxes)):
        assert info[3].tolist() == [0, 0]
        np.testing.assert_allclose(gt, ours[(image == i) & kept], atol=1e-4)


def test_jittered_boxes_equal_the_parser_for_its_scale_and_offset():
    hw, image, boxes = random_images(25, 1)
    tf.random.set_seed(3)
    infos = parse(hw, image, boxes, aug_scale_min=0.3, aug_scale_max=2.5)
    no_flip = np.zeros(len(hw), bool)
    scale = np.stack([info[2] for _, info in infos])
    offset = np.stack([info[3] for _, info in infos])
    assert (offset > 0).any()  # some crops moved
    ours, kept = mga.place(boxes, image, hw, OUTPUT, (no_flip, no_flip, scale, offset))
    for i, (gt, _) in enumerate(infos):
        np.testing.assert_allclose(gt, ours[(image == i) & kept], atol=1e-3)
    # and the scale the parser drew is one our formula gives for some u in the range
    spec = mga.ScaleJitter(OUTPUT, (256, 256), 0.3, 2.5)
    grid = np.linspace(0.3, 2.5, 4001, dtype=np.float32)
    for i, (_, info) in enumerate(infos):
        d = mga.Draws(np.zeros(len(grid), bool), np.zeros(len(grid), bool), grid,
                      np.zeros((len(grid), 2), np.float32))
        ours_scale = mga.image_transform(np.tile(hw[i], (len(grid), 1)), spec, d)[0]
        assert np.isclose(ours_scale, info[2], rtol=0, atol=1e-6).all(axis=1).any()


def test_flipped_boxes_equal_the_parser():
    hw, image, boxes = random_images(20, 2)
    tf.random.set_seed(4)
    spec = mga.ScaleJitter(OUTPUT, (256, 256), hflip=True, vflip=True)
    seen = set()
    for i, (gt, _) in enumerate(parse(hw, image, boxes, aug_rand_hflip=True,
                                      aug_rand_vflip=True)):
        matches = []
        for fx in (False, True):
            for fy in (False, True):
                d = mga.Draws(np.array([fx]), np.array([fy]), np.ones(1, np.float32),
                              np.zeros((1, 2), np.float32))
                ours, kept = mga.apply(boxes[image == i], np.zeros((image == i).sum(), int),
                                       hw[i:i + 1], spec, d)
                if ours[kept].shape == gt.shape and np.allclose(ours[kept], gt, atol=1e-3):
                    matches.append((fx, fy))
        assert matches, i
        seen.update(matches)
    # both flips draw the same number (ops seeded alike in one graph): both or neither
    assert seen == {(False, False), (True, True)}


def test_flips_share_the_scale_draw():
    """An image is flipped exactly when its drawn scale is in the lower half of the range
    (one uniform for both, as :func:`augment.draw` models it)."""
    hw = np.tile([[480, 640]], (40, 1))
    image = np.arange(40)
    boxes = np.tile(np.array([[0.1, 0.05, 0.3, 0.25]], np.float32), (40, 1))
    tf.random.set_seed(6)
    flipped, scales = [], []
    for gt, info in parse(hw, image, boxes, aug_rand_hflip=True, aug_scale_min=0.5,
                          aug_scale_max=1.5):
        states = []
        for flip in (False, True):
            f = np.array([flip])
            ours, kept = mga.place(boxes[:1], np.zeros(1, int), hw[:1], OUTPUT,
                                   (f, np.zeros(1, bool), info[2:3], info[3:4]))
            if ours[kept].shape == gt.shape and np.allclose(ours[kept], gt, atol=1e-3):
                states.append(flip)
        if len(states) == 1:  # cropped away or ambiguous otherwise
            flipped.append(states[0])
            scales.append(info[2, 0])
    flipped, scales = np.array(flipped), np.array(scales)
    assert len(flipped) > 20 and 0 < flipped.sum() < len(flipped)
    # u = 0.5 asks for 256x192 itself: 480x640 scales by min(256/480, 192/640) = 0.3
    assert scales[flipped].max() <= 0.3 <= scales[~flipped].min()


def test_distribution_of_widths_and_heights_matches_the_wheel():
    sys.path.insert(0, str(ROOT))
    from benchmarks.bench_mg_augment import critical, ks, real_boxes

    hw, image, boxes = random_images(400, 5)
    n = len(image)
    data = BoxSet(hw[:, 0].astype(np.int32), hw[:, 1].astype(np.int32),
                  np.array([str(i) for i in range(len(hw))], object), image.astype(np.int32),
                  boxes, np.ones(n, np.int32), np.zeros(n, bool), np.zeros(n, bool),
                  np.zeros(n, bool))
    spec = mga.ScaleJitter((384, 384), (384, 384), 0.1, 2.0, hflip=True)
    theirs = real_boxes(data, spec, 2, seed=0)
    ours = mga.augment(data, spec, draws_per_image=2, seed=0).boxes
    # the boxes of one image share its draw: the bar is the critical distance for
    # the 800 independent image draws, not for the ~2,700 clustered boxes
    bar = critical(800, 800)
    for a, b in ((3, 1), (2, 0)):
        assert ks(theirs[:, a] - theirs[:, b], ours[:, a] - ours[:, b]) < bar
    assert abs(len(theirs) - len(ours)) < 0.05 * len(ours)
