"""The Model Garden parsers' augmentation drawn by ``check``/``fit`` (issue 18): the
augmenter's boxes against values worked out by hand from ``resize_and_crop_image`` for
given draws, keyed per image, through the command line on tiny records, ``--no-augment``
giving the static numbers exactly, and the parser's crowd drops counted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers.cli import run_cli as run
from helpers.cli import run_json as run_json3
from hypothesis import given, settings
from hypothesis import strategies as st

from tfod_anchors import api
from tfod_anchors.augment.engine import initial_state
from tfod_anchors.augment.streams import Streams, instance_keys
from tfod_anchors.boxes import BoxSet
from tfod_anchors.errors import UsageError
from tfod_anchors.frameworks.modelgarden import augment as mga
from tfod_anchors.frameworks.modelgarden import augmenter as mgaug
from tfod_anchors.frameworks.modelgarden import experiment as mgx
from tfod_anchors.frameworks.modelgarden.spec import model_garden_spec

FIXTURES = Path(__file__).parent / "mg_experiments"
# (height, width), boxes (normalized ymin, xmin, ymax, xmax), labels, is_crowd
IMAGES = [
    ((100, 200), [[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0], [0.6, 0.1, 0.9, 0.3]],
     [1, 2, 3], [0, 0, 0]),
    ((300, 150), [[0.2, 0.2, 0.4, 0.9], [0.5, 0.5, 0.7, 0.6]], [4, 1], [0, 1]),
    ((256, 256), [[0.25, 0.25, 0.75, 0.75]], [2], [0]),
]


def experiment(name: str = "retinanet_resnetfpn_coco", *, size: int = 256,
               scale: tuple[float, float] = (0.5, 1.5), hflip: bool = True) -> dict:
    exp = yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())
    exp["task"]["model"]["input_size"] = [size, size, 3]
    exp["task"]["train_data"]["parser"].update(aug_scale_min=scale[0], aug_scale_max=scale[1],
                                              aug_rand_hflip=hflip)
    return exp


def boxset(images=IMAGES) -> BoxSet:
    hw = np.array([size for size, *_ in images], np.int32)
    counts = [len(b) for _, b, _, _ in images]
    n = sum(counts)
    return BoxSet(hw[:, 0], hw[:, 1], np.array([f"img{i}" for i in range(len(images))], object),
                  np.repeat(np.arange(len(images), dtype=np.int32), counts),
                  np.concatenate([np.reshape(np.asarray(b, np.float32), (-1, 4))
                                  for _, b, _, _ in images]),
                  np.concatenate([np.asarray(lab, np.int32) for _, _, lab, _ in images]),
                  np.zeros(n, bool), np.zeros(n, bool),
                  np.concatenate([np.asarray(c, bool) for *_, c in images]))


def by_hand(box, hw, out, u, offset_u):
    """One (already flipped) box through ``resize_and_crop_image`` and the clip, from
    the parser's formulas in float32 as TensorFlow computes them (``u``: the drawn
    scale; ``offset_u``: the crop uniforms); also the content size."""
    f = np.float32
    y0, x0, y1, x1 = box
    h, w = f(hw[0]), f(hw[1])
    scaled = np.round(f(u) * f(out))
    k = min(scaled / h, scaled / w)
    scaled = np.round(np.array([h * k, w * k], f))
    scale = scaled / np.array([h, w], f)
    offset = np.trunc(np.maximum(scaled - f(out), f(0)) * np.asarray(offset_u, f))
    pixels = (np.array([y0, x0, y1, x1], f) * np.array([h, w, h, w], f)) * np.tile(scale, 2) \
        - np.tile(offset, 2)
    content = np.minimum(scaled - offset, f(out))
    return np.clip(pixels, 0, out), content


def test_augmenter_boxes_equal_the_parser_formulas_for_their_draws():
    exp = experiment()
    augmenter = model_garden_spec(exp).augmenter
    assert isinstance(augmenter, mgaug.ParserAugmenter) and augmenter.changes_boxes
    data = boxset()
    result = augmenter(data, draws=4, seed=7, max_boxes=None)
    # the draws of every drawn image, from its keyed stream (image-major)
    state, keys = initial_state(data, 4)
    spec = mga.from_params(exp)
    d = mga.keyed_draws(spec, Streams(instance_keys(keys, 4, 7)), np.arange(12))
    got = result.resized
    for inst in range(12):
        image = inst // 4
        (h, w), boxes, _, _ = IMAGES[image]
        u = float(d.scale_u[inst])
        assert 0.5 <= u < 1.5 and bool(d.flip_x[inst]) == (u < 1.0)  # flip: lower half
        want, content = [], None
        for box in boxes:
            y0, x0, y1, x1 = box
            if d.flip_x[inst]:
                x0, x1 = 1 - x1, 1 - x0
            pixels, content = by_hand((y0, x0, y1, x1), (h, w), 256, u, d.offset_u[inst])
            if pixels[2] > pixels[0] and pixels[3] > pixels[1]:
                want.append(pixels)
        assert got.true_shape[inst].tolist() == content.tolist()
        np.testing.assert_allclose(got.boxes[got.box_image == inst], np.reshape(want, (-1, 4)),
                                   atol=1e-3)
    assert (got.padded_shape == 256).all()
    assert result.dropped[mgaug.CROPPED] == 6 * 4 - got.num_boxes
    # the BoxSet view: the same boxes, normalized to the output size
    np.testing.assert_allclose(result.boxset.boxes * 256, got.boxes, atol=1e-4)
    assert result.source_image.tolist() == np.repeat(np.arange(3), 4).tolist()
    assert result.boxset.image_key.tolist() == [f"img{i}" for i in (0,) * 4 + (1,) * 4 + (2,) * 4]


def test_draws_are_keyed_by_image_not_by_order():
    exp = experiment()
    augmenter = model_garden_spec(exp).augmenter
    a = augmenter(boxset(), draws=3, seed=1, max_boxes=None)
    shuffled = [IMAGES[2], (IMAGES[0][0], IMAGES[0][1][::-1], IMAGES[0][2][::-1],
                            IMAGES[0][3][::-1]), IMAGES[1]]
    b = augmenter(boxset(shuffled), draws=3, seed=1, max_boxes=None)

    def per_image(result, names):
        out = {}
        for inst in range(result.resized.true_shape.shape[0]):
            rows = result.resized.boxes[result.resized.box_image == inst]
            key = (names[result.source_image[inst]], int(result.draw[inst]))
            out[key] = sorted(map(tuple, np.round(rows, 4)))
        return out

    assert per_image(a, ["A", "B", "C"]) == per_image(b, ["C", "A", "B"])
    c = augmenter(boxset(), draws=3, seed=2, max_boxes=None)
    assert not np.array_equal(a.resized.boxes, c.resized.boxes)


def test_max_boxes_keeps_the_first_boxes_of_each_drawn_image():
    augmenter = model_garden_spec(experiment(scale=(1.0, 1.0))).augmenter
    full = augmenter(boxset(), draws=2, seed=0, max_boxes=None)
    cut = augmenter(boxset(), draws=2, seed=0, max_boxes=1)
    assert np.bincount(cut.resized.box_image, minlength=6).tolist() == [1] * 6
    assert cut.dropped[mgaug.TRUNCATED] == full.resized.num_boxes - 6
    first = [np.flatnonzero(full.resized.box_image == i)[0] for i in range(6)]
    np.testing.assert_array_equal(cut.resized.boxes, full.resized.boxes[first])
    with pytest.raises(UsageError):
        augmenter(boxset(), draws=0, seed=0, max_boxes=None)


def test_no_jitter_and_no_flip_draw_nothing():
    spec = model_garden_spec(experiment(scale=(1.0, 1.0), hflip=False))
    assert not spec.augmenter.changes_boxes
    flips = model_garden_spec(experiment(scale=(1.0, 1.0), hflip=True)).augmenter
    assert flips.changes_boxes and [s["op"] for s in flips.entry.steps] == ["aug_rand_hflip"]


def test_every_family_has_an_entry():
    assert set(mgaug.ENTRIES) == set(mgx.FAMILIES)
    mask = model_garden_spec(yaml.safe_load((FIXTURES / "maskrcnn_resnetfpn_coco.yaml")
                                            .read_text()))
    assert [s["op"] for s in mask.augmenter.entry.steps] == ["aug_rand_hflip",
                                                             "aug_scale 0.8-1.25"]


def test_yolo_is_drawn_and_names_its_approximation():
    spec = model_garden_spec(yaml.safe_load((FIXTURES / "coco_yolov7tiny.yaml").read_text()))
    aug = spec.augmenter
    assert aug is not None and aug.changes_boxes
    assert [s["op"] for s in aug.entry.steps] == ["yolo_parser"]
    assert "approximated" in aug.entry.note and "0.0057" in aug.entry.note
    assert "mg_augmentation_static" not in [f.code for f in spec.config_findings()]
    drawn = aug(boxset(), draws=2, seed=0, max_boxes=None)
    resized = drawn.resized
    assert resized is not None and len(resized.padded_shape) == 2 * len(IMAGES)
    assert (resized.padded_shape == 416).all()  # the experiment's input size
    assert (resized.boxes >= 0).all() and (resized.boxes <= 416).all()
    again = aug(boxset(), draws=2, seed=0, max_boxes=None).resized
    assert again.boxes.tobytes() == resized.boxes.tobytes()


# --- through the command line, on records --------------------------------------------------

def run_json(capsys, *argv):
    """``(exit code, document)`` of one command with ``--json``."""
    return run_json3(capsys, *argv)[:2]



def write_records(path: Path, images=IMAGES) -> None:
    """Box-only TF Example records with the Model Garden's keys (``is_crowd`` included)."""
    from helpers import tfexample

    tfexample.write(path, [tfexample.example(
        boxes, h, w, labels=labels, source_id=f"img{i}",
        extra={"image/object/is_crowd": tfexample.int_feature(crowd)})
        for i, ((h, w), boxes, labels, crowd) in enumerate(images)])


@pytest.fixture
def config(tmp_path) -> Path:
    write_records(tmp_path / "train-0.tfrecord")
    exp = experiment(scale=(0.8, 1.2))
    exp["task"]["train_data"]["input_path"] = str(tmp_path / "train-*.tfrecord")
    path = tmp_path / "retinanet.yaml"
    path.write_text(yaml.safe_dump(exp))
    return path


def test_check_draws_the_parser_augmentation_and_names_it(capsys, config, tmp_path):
    code, doc = run_json(capsys, "check", config, "--augment", "2", "--augment-seed", "5",
                         "--no-advice")
    assert code == 0
    aug = doc["augmentation"]
    assert [s["op"] for s in aug["steps"]] == ["aug_rand_hflip", "aug_scale 0.8-1.2"]
    assert (aug["draws"], aug["seed"]) == (2, 5) and doc["coverage"]["distribution"] == \
        "augmented"
    # the crowd box is dropped as the parser drops it, and said so
    assert doc["coverage"]["skipped"]["crowd_dropped"] == 1
    assert doc["data_dropped"]["parser"] == {"crowd_dropped": 1}
    assert "parser_dropped" in [f["code"] for f in doc["findings"]]
    # the boxes measured are the augmenter's on the records' boxes (crowd dropped)
    spec = model_garden_spec(yaml.safe_load(config.read_text()))
    kept = [(size, [b for b, c in zip(boxes, crowd) if not c], [lab for lab, c in
             zip(labels, crowd) if not c], [0] * (len(crowd) - sum(crowd)))
            for size, boxes, labels, crowd in IMAGES]
    want = spec.augmenter(boxset(kept), draws=2, seed=5, max_boxes=None).resized
    assert doc["coverage"]["num_boxes"] == want.num_boxes
    target = tmp_path / "drawn.npy"
    code, _ = run_json(capsys, "stats", "--config", config, "--augment", "2", "--seed", "5",
                       "--export", target)
    np.testing.assert_allclose(np.load(target), want.boxes.astype(np.float32), atol=1e-4)
    code, out, _ = run(capsys, "check", config, "--augment", "2", "--augment-seed", "5",
                       "--no-advice")
    assert (f"coverage of {want.num_boxes} augmented boxes (2 draw(s) of 3 images through "
            "0:aug_rand_hflip, 1:aug_scale 0.8-1.2; seed 5)") in out
    assert "INFO    parser_dropped: not measured, as training never sees them: 1 box(es)" in out


def test_no_augment_gives_the_static_numbers_exactly(capsys, config, tmp_path):
    _, static = run_json(capsys, "check", config, "--no-augment", "--no-advice")
    assert static["coverage"]["distribution"] == "static" and static["augmentation"] is None
    assert static["coverage"]["num_boxes"] == 5
    # an experiment that draws nothing measures the same boxes
    exp = yaml.safe_load(config.read_text())
    exp["task"]["train_data"]["parser"].update(aug_scale_min=1.0, aug_scale_max=1.0,
                                              aug_rand_hflip=False)
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump(exp))
    _, none = run_json(capsys, "check", plain, "--no-advice")
    assert none["augmentation"] is None and none["coverage"] == static["coverage"]
    assert api.coverage(str(config), augment=False)["recall_matched"] == \
        static["coverage"]["recall_matched"]
    # fit measures both: its static view is --no-augment's
    _, fitted = run_json(capsys, "fit", config, "--augment", "2")
    _, fitted_static = run_json(capsys, "fit", config, "--no-augment")
    assert fitted["distribution"] == "augmented"
    assert fitted["static_before"] == fitted_static["before"]


@pytest.mark.parametrize("runner", [None, "DirectRunner"])
def test_extract_config_reads_input_path_and_the_cache_drops_crowds_too(capsys, config,
                                                                       tmp_path, runner):
    cache = tmp_path / "cache"
    beam = ()
    if runner:
        pytest.importorskip("apache_beam", reason="needs Apache Beam (extra 'beam')")
        beam = ("--runner", runner, "--", "--direct_num_workers=1")
    code, out, _ = run(capsys, "extract", "--config", config, "--output", cache, "--json", *beam)
    doc = json.loads(out)
    assert code == 0 and doc["counts"]["boxes"] == 6  # the cache keeps the crowd flag
    _, from_records = run_json(capsys, "check", config, "--no-advice", "--augment", "2")
    _, from_cache = run_json(capsys, "check", config, "--input", cache, "--no-advice",
                             "--augment", "2")
    assert from_cache["coverage"]["skipped"]["crowd_dropped"] == 1
    for key in ("num_boxes", "recall_matched", "mean_iou"):
        assert from_cache["coverage"][key] == from_records["coverage"][key]


def test_draw_major_draws_are_reordered_image_major():
    from tfod_anchors.boxes import ResizedBoxes

    # 2 images x 3 draws, draw-major: drawn image k = d * 2 + j holds one box of height k
    k = np.arange(6)
    drawn = ResizedBoxes(np.stack([k, k], 1).astype(np.int32), np.full((6, 2), 8, np.int32),
                         np.array([0, 1, 2, 3, 4, 5, 5], np.int32),
                         np.array([[0, 0, v, 1] for v in [0, 1, 2, 3, 4, 5, 50]], float),
                         np.arange(7, dtype=np.int32))
    got = mgaug.image_major(drawn, 2, 3)
    # image-major j * 3 + d <- draw-major d * 2 + j
    assert got.true_shape[:, 0].tolist() == [0, 2, 4, 1, 3, 5]
    assert got.box_image.tolist() == [0, 1, 2, 3, 4, 5, 5]
    assert got.boxes[:, 2].tolist() == [0, 2, 4, 1, 3, 5, 50]
    assert got.label.tolist() == [0, 2, 4, 1, 3, 5, 6]


def test_an_approximating_entry_is_named_in_text_and_json(capsys, tmp_path, monkeypatch):
    """A family entry with a note (as YOLO's): drawn by default, its note printed."""
    from tfod_anchors.frameworks.modelgarden.resize import YoloResize

    def entry(params):
        resize = YoloResize((416, 416))

        def run_(boxes, draws, seed):
            return mgaug.Drawn(resize.resize_boxes(boxes), np.arange(boxes.num_boxes))

        step = {"index": 0, "op": "letterbox", "status": "geometric", "modelled": True,
                "effect": "the static letterbox"}
        return mgaug.FamilyAugmentation((416, 416), (step,), True, run_, "approximated here")

    monkeypatch.setitem(mgaug.ENTRIES, mgx.YOLOV7, entry)
    config = tmp_path / "y.yaml"
    exp = yaml.safe_load((FIXTURES / "coco_yolov7tiny.yaml").read_text())
    exp["task"]["train_data"]["input_path"] = str(tmp_path / "*.tfrecord")
    config.write_text(yaml.safe_dump(exp))
    write_records(tmp_path / "a.tfrecord")
    code, doc = run_json(capsys, "check", config, "--augment", "1", "--no-advice")
    assert doc["augmentation"]["note"] == "approximated here"
    assert "mg_augmentation_static" not in [f["code"] for f in doc["findings"]]
    assert doc["coverage"]["distribution"] == "augmented" and doc["coverage"]["num_boxes"] == 6
    _, static = run_json(capsys, "check", config, "--no-augment", "--no-advice")
    assert static["coverage"]["recall_matched"] == doc["coverage"]["recall_matched"]
    code, out, _ = run(capsys, "check", config, "--augment", "1", "--no-advice")
    assert "through 0:letterbox; seed 0)" in out and "\nnote: approximated here\n" in out


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(20, 1500), st.integers(20, 1500), st.integers(0, 4)),
                min_size=1, max_size=6),
       st.integers(1, 4), st.integers(0, 2**31), st.sampled_from([(0.1, 2.0), (0.8, 1.25)]))
def test_drawn_boxes_stay_in_the_output_and_come_from_their_image(images, draws, seed, scale):
    rng = np.random.default_rng(seed)
    made = []
    for h, w, n in images:
        lo = rng.random((n, 2)) * 0.8
        boxes = np.concatenate([lo, lo + 0.01 + rng.random((n, 2)) * 0.19], axis=1)
        made.append(((h, w), boxes[:, [0, 1, 2, 3]].tolist(), [1] * n, [0] * n))
    augmenter = model_garden_spec(experiment(scale=scale)).augmenter
    result = augmenter(boxset(made), draws=draws, seed=seed, max_boxes=None)
    got = result.resized
    assert got.true_shape.shape == (len(images) * draws, 2)
    assert ((got.boxes >= 0) & (got.boxes <= 256)).all()
    assert ((got.boxes[:, 2] > got.boxes[:, 0]) & (got.boxes[:, 3] > got.boxes[:, 1])).all()
    counts = np.bincount(got.box_image, minlength=len(images) * draws)
    assert (counts <= np.repeat([n for *_, n in images], draws)).all()
    source = boxset(made).box_image[result.source_box]
    assert (source == result.source_image[got.box_image]).all()


def test_coco91_to_80_applies_only_to_dataset_class_ids():
    """YOLO's decoder remaps COCO's 91 ids; CSV/VOC ids (names numbered in sorted order)
    and TFDS's 0-based labels are not COCO ids, so only records and COCO json drop."""
    from dataclasses import replace

    spec = model_garden_spec(yaml.safe_load((FIXTURES / "coco_yolov7tiny.yaml").read_text()))
    data = boxset()  # labels 1, 2, 3, 4, 1, 2; 12 (not a COCO-80 id) added below
    data = replace(data, label=np.array([1, 2, 12, 4, 1, 2], np.int32))
    for sources, dropped in ((["train.tfrecord"], 1), (["instances.json"], 1),
                             (["boxes.csv"], 0), (["train.tfrecord", "boxes.csv"], 0),
                             (["tfds:coco/2017:train"], 0)):
        kept = spec.keep_trained_boxes(replace(data, sources=sources))
        assert kept.skipped.get("coco91_to_80_dropped", 0) == dropped, sources
        assert kept.num_boxes == 6 - dropped  # YOLO keeps the crowd box
