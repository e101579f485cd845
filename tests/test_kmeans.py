"""Shape clustering: IoU of centred boxes, IoU / Euclidean / ratio-scale k-means."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import SHARED_DATASETS
from hypothesis import given, settings
from hypothesis import strategies as st

from tfod_anchors.boxes import BoxSet, ResizedBoxes
from tfod_anchors.cluster import baselines as kms
from tfod_anchors.cluster import kmeans as km
from tfod_anchors.errors import InputError, UsageError

VOC = SHARED_DATASETS / "voc2007" / "voc2007_trainval.csv"


def two_blobs() -> np.ndarray:
    """Three boxes around 10×10 and three around 100×50 (far apart in IoU)."""
    return np.array([[9, 10], [10, 10], [11, 10], [100, 50], [100, 45], [100, 55]], float)


def random_shapes(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.exp(rng.normal([3.5, 3.5], [0.8, 0.6], size=(n, 2)))


# ---------------------------------------------------------------------------- IoU


def test_iou_wh_hand_values():
    iou = km.iou_wh([[2, 1], [2, 2], [3, 4]], [[1, 2], [1, 1], [3, 4]])
    assert iou.shape == (3, 3)
    assert iou[0, 0] == pytest.approx(1 / 3)  # inter 1, union 2 + 2 - 1
    assert iou[1, 1] == pytest.approx(1 / 4)  # 1×1 inside 2×2
    assert iou[2, 2] == 1.0
    assert iou[0, 1] == pytest.approx(1 / 2)  # 1×1 inside 2×1


positive = st.floats(min_value=1e-3, max_value=1e4, allow_nan=False, allow_infinity=False)
shape_lists = st.lists(st.tuples(positive, positive), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(shape_lists, shape_lists)
def test_iou_wh_properties(a, b):
    ab, ba = km.iou_wh(a, b), km.iou_wh(b, a)
    np.testing.assert_allclose(ab, ba.T, rtol=1e-12)
    assert ((ab > 0) & (ab <= 1 + 1e-12)).all()
    np.testing.assert_allclose(np.diag(km.iou_wh(a, a)), 1.0, rtol=1e-12)


def test_best_iou_blocks_match_full_matrix(monkeypatch):
    wh, c = random_shapes(50), random_shapes(4, seed=1)
    monkeypatch.setattr(km, "CHUNK_ROWS", 7)
    labels, best = km.best_iou(wh, c)
    full = km.iou_wh(wh, c)
    np.testing.assert_array_equal(labels, full.argmax(axis=1))
    np.testing.assert_array_equal(best, full.max(axis=1))


def test_invalid_inputs_raise_project_errors():
    with pytest.raises(InputError, match="box 1"):
        km.iou_kmeans([[1, 1], [0, 2], [3, 3]], 2)
    with pytest.raises(InputError):
        km.iou_kmeans(np.zeros((0, 2)), 1)
    with pytest.raises(UsageError):
        km.iou_kmeans([[1, 2, 3]], 1)
    with pytest.raises(UsageError, match="update"):
        km.iou_kmeans(two_blobs(), 2, update="mode")
    with pytest.raises(UsageError, match="distinct"):
        km.iou_kmeans([[1, 1], [1, 1], [2, 2]], 3)
    with pytest.raises(UsageError, match="weights"):
        km.iou_kmeans(two_blobs(), 2, weights=[1, 1])
    with pytest.raises(UsageError, match="k must"):
        km.iou_kmeans(two_blobs(), 0)


# ---------------------------------------------------------------------------- IoU k-means


@pytest.mark.parametrize("init", ["k-means++", "forgy"])
def test_two_separated_clusters_recovered_exactly(init):
    res = km.iou_kmeans(two_blobs(), 2, init=init, refine=False, n_init=3)
    np.testing.assert_allclose(res.centroids, [[10, 10], [100, 50]])
    np.testing.assert_array_equal(res.labels, [0, 0, 0, 1, 1, 1])
    iou_small = np.array([0.9, 1.0, 10 / 11])
    iou_big = np.array([1.0, 0.9, 50 / 55])
    assert res.mean_iou == pytest.approx((iou_small.sum() + iou_big.sum()) / 6)


def test_median_update_uses_medians():
    wh = np.array([[10, 10], [11, 10], [30, 10], [100, 100], [110, 100], [200, 100]], float)
    med = km.iou_kmeans(wh, 2, update="median", refine=False, n_init=2)
    np.testing.assert_allclose(med.centroids, [[11, 10], [110, 100]])


def test_mean_update_uses_means():
    # Symmetric clusters: the mean (never one of the boxes) beats every box as a centroid.
    wh = np.array(
        [[9, 10], [11, 10], [10, 9], [10, 11], [95, 50], [105, 50], [100, 45], [100, 55]], float
    )
    res = km.iou_kmeans(wh, 2, update="mean", refine=False, n_init=2)
    np.testing.assert_allclose(res.centroids, [[10, 10], [100, 50]])
    assert res.n_iter >= 1


def test_weighted_median_matches_numpy_on_repeats():
    vals = np.array([5.0, 1.0, 3.0, 2.0])
    counts = np.array([1, 2, 1, 2])
    labels = np.zeros(4, dtype=np.int64)
    got = km._cluster_medians(
        vals, np.argsort(vals, kind="stable"), counts.astype(float), labels, 1, np.array([6.0])
    )
    assert got[0] == np.median(np.repeat(vals, counts)) == 2.0
    counts = np.array([1, 2, 1, 1])  # odd total: the middle element
    got = km._cluster_medians(
        vals, np.argsort(vals, kind="stable"), counts.astype(float), labels, 1, np.array([5.0])
    )
    assert got[0] == np.median(np.repeat(vals, counts)) == 2.0


@pytest.mark.parametrize("update", ["mean", "median"])
def test_weights_equal_repeated_rows(update):
    wh = random_shapes(40)
    counts = np.random.default_rng(3).integers(1, 4, size=40)
    kw = dict(update=update, n_init=3, seed=5)
    a = km.iou_kmeans(np.repeat(wh, counts, axis=0), 4, **kw)
    b = km.iou_kmeans(wh, 4, weights=counts, **kw)
    np.testing.assert_allclose(a.centroids, b.centroids, rtol=1e-9)
    assert a.mean_iou == pytest.approx(b.mean_iou, rel=1e-12)
    np.testing.assert_array_equal(a.labels, np.repeat(b.labels, counts))


def test_zero_weight_boxes_are_ignored():
    wh = np.vstack([two_blobs(), [[1000, 1]]])
    res = km.iou_kmeans(wh, 2, weights=[1, 1, 1, 1, 1, 1, 0], refine=False)
    np.testing.assert_allclose(res.centroids, [[10, 10], [100, 50]])


def test_empty_cluster_reseeded_to_worst_served_box():
    data = km._Shapes(np.array([[1, 1], [2, 2], [100, 100]], float), np.ones(3))
    init = np.array([[1, 1], [2, 2], [1e6, 1e-6]])  # the third centroid wins no box
    centroids, mean_iou, _ = km._lloyd(data, init, "mean", 10, 0.0)
    np.testing.assert_allclose(np.sort(centroids, axis=0), [[1, 1], [2, 2], [100, 100]])
    assert mean_iou == 1.0


def test_no_dead_clusters():
    wh = random_shapes(300, seed=2)
    for seed in range(4):
        for update in ("mean", "median"):
            res = km.iou_kmeans(wh, 9, update=update, seed=seed, n_init=2)
            assert (np.bincount(res.labels, minlength=9) > 0).all()
    exact = km.iou_kmeans(two_blobs(), 6, refine=False, n_init=1)
    assert exact.mean_iou == 1.0


def test_deterministic_bytes():
    wh = random_shapes(500, seed=4)
    a = km.iou_kmeans(wh, 5, seed=11, n_init=3)
    b = km.iou_kmeans(wh, 5, seed=11, n_init=3)
    assert a.centroids.tobytes() == b.centroids.tobytes()
    assert a.labels.tobytes() == b.labels.tobytes()
    assert a.mean_iou == b.mean_iou


def test_result_sorted_by_area_and_consistent():
    wh = random_shapes(400, seed=6)
    res = km.iou_kmeans(wh, 6, n_init=2)
    area = res.centroids.prod(axis=1)
    assert (np.diff(area) >= 0).all()
    labels, best = km.best_iou(wh, res.centroids)
    np.testing.assert_array_equal(res.labels, labels)
    assert res.mean_iou == pytest.approx(best.mean(), rel=1e-12)
    assert res.mean_iou == pytest.approx(km.mean_best_iou(wh, res.centroids), rel=1e-12)


def test_refine_never_lowers_and_improves_a_poor_start():
    wh = random_shapes(400, seed=7)
    start = np.array([[20.0, 20.0], [60.0, 40.0], [40.0, 90.0]])
    polished = km.refine_centroids(wh, start)
    assert km.mean_best_iou(wh, polished) > km.mean_best_iou(wh, start) + 0.01
    plain = km.iou_kmeans(wh, 3, refine=False, n_init=2)
    refined = km.iou_kmeans(wh, 3, refine=True, n_init=2)
    assert refined.mean_iou >= plain.mean_iou


def test_subsample_path_is_seeded_and_scored_on_all_boxes():
    wh = random_shapes(3000, seed=8)
    a = km.iou_kmeans(wh, 4, sample_size=400, n_init=2, seed=1)
    b = km.iou_kmeans(wh, 4, sample_size=400, n_init=2, seed=1)
    assert a.centroids.tobytes() == b.centroids.tobytes()
    assert a.labels.shape == (3000,)
    assert a.mean_iou == pytest.approx(km.mean_best_iou(wh, a.centroids), rel=1e-12)
    full = km.iou_kmeans(wh, 4, sample_size=None, n_init=2, seed=1)
    assert a.mean_iou == pytest.approx(full.mean_iou, abs=0.01)


def test_elbow_reaches_one_at_distinct_count():
    curve = km.elbow(two_blobs(), [1, 2, 6], n_init=1)
    assert [k for k, _ in curve] == [1, 2, 6]
    assert curve[0][1] < curve[1][1] < curve[2][1] == 1.0


# ---------------------------------------------------------------------------- other methods


def test_euclidean_kmeans_two_blobs():
    res = kms.euclidean_kmeans(two_blobs(), 2, seed=0)
    np.testing.assert_allclose(res.centroids, [[10, 10], [100, 50]])
    np.testing.assert_array_equal(res.labels, [0, 0, 0, 1, 1, 1])


def test_ratio_scale_recovers_a_product():
    ratios, scales = np.array([0.5, 2.0]), np.array([10.0, 80.0])
    r, s = np.meshgrid(ratios, scales, indexing="ij")
    shapes = np.stack([(s * np.sqrt(r)).ravel(), (s / np.sqrt(r)).ravel()], axis=1)
    wh = np.repeat(shapes, 3, axis=0) * np.exp([[0.01, 0.01], [0, 0], [-0.01, -0.01]] * 4)
    res = kms.ratio_scale_kmeans(wh, 2, 2, seed=0)
    np.testing.assert_allclose(res.ratios, ratios, rtol=1e-9)
    np.testing.assert_allclose(res.scales, scales, rtol=1e-9)
    assert res.centroids.shape == (4, 2)
    assert res.mean_iou == pytest.approx(km.mean_best_iou(wh, res.centroids))


def test_notebook_ratios_area_normalised():
    wh = np.array([[20, 10], [40, 20], [10, 20], [30, 60], [10, 10]], float)
    np.testing.assert_allclose(kms.notebook_ratios(wh, 3), [0.5, 1.0, 2.0])


# ---------------------------------------------------------------------------- working spaces


def test_working_spaces():
    boxset = BoxSet(
        image_height=np.array([100], np.int32),
        image_width=np.array([200], np.int32),
        image_key=np.array(["a"], object),
        box_image=np.array([0, 0], np.int32),
        boxes=np.array([[0.1, 0.2, 0.5, 0.3], [0.0, 0.0, 1.0, 1.0]], np.float32),
        label=np.array([1, 1], np.int32),
        difficult=np.zeros(2, bool),
        group_of=np.zeros(2, bool),
        is_crowd=np.zeros(2, bool),
    )
    np.testing.assert_allclose(km.normalized_wh(boxset), [[0.1, 0.4], [1.0, 1.0]], rtol=1e-6)
    resized = ResizedBoxes(
        true_shape=np.array([[300, 600]], np.int32),
        padded_shape=np.array([[600, 600]], np.int32),
        box_image=np.array([0], np.int32),
        boxes=np.array([[30.0, 120.0, 150.0, 180.0]]),
        label=np.array([1], np.int32),
    )
    np.testing.assert_allclose(km.resized_wh(resized), [[60.0, 120.0]])


@pytest.mark.skipif(not VOC.exists(), reason="needs ../shared/datasets/voc2007")
def test_yolo9000_voc2007_k5():
    with VOC.open(newline="") as f:
        rows = list(csv.DictReader(f))
    cols = {
        k: np.array([float(r[k]) for r in rows])
        for k in ("image_width", "image_height", "xmin", "ymin", "xmax", "ymax")
    }
    wh = np.stack(
        [
            (cols["xmax"] - cols["xmin"]) / cols["image_width"],
            (cols["ymax"] - cols["ymin"]) / cols["image_height"],
        ],
        axis=1,
    )
    assert len(wh) == 15662
    res = km.iou_kmeans(wh, 5, update="median", n_init=3)
    assert res.mean_iou >= 0.602  # YOLO9000 Table 1 protocol; plain k-means reaches 0.6015
