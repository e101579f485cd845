"""The sampler's linear-time paths give exactly what the plain sorts give.

``fitting.sample`` counts strata with ``bincount``, sorts only the boxes whose
lottery can win, and ranks only repeated hashes. Each is checked here against the
straightforward version (a full sort), on random data, many repeats included.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tfod_anchors.fitting import sample as S


def _copies_by_full_sort(h: np.ndarray) -> np.ndarray:
    """Copy number of each hash among equal ones, in input order (uint64 ``[N]``)."""
    order = np.argsort(h, kind="stable")
    ranked = h[order]
    first = np.concatenate([[True], ranked[1:] != ranked[:-1]])
    run_start = np.maximum.accumulate(np.where(first, np.arange(h.size), 0))
    copy = np.empty(h.size, dtype=np.uint64)
    copy[order] = (np.arange(h.size) - run_start).astype(np.uint64)
    return copy


def _hash_by_full_sort(boxes: np.ndarray, shape_id: np.ndarray) -> np.ndarray:
    bits = np.ascontiguousarray(boxes.astype(np.float64) + 0.0).view(np.uint64).reshape(-1, 4)
    h = S._mix(shape_id.astype(np.int64).astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
    for j in range(4):
        h = S._mix(h ^ bits[:, j])
    copy = _copies_by_full_sort(h)
    return S._mix(h ^ S._mix(copy + np.uint64(0xD1B54A32D192ED03)))


def _lowest_by_full_sort(stratum, lottery, taken):
    order = np.lexsort((lottery, stratum))
    size = np.bincount(stratum, minlength=taken.size)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    place = np.empty(stratum.size, dtype=np.int64)
    place[order] = np.arange(stratum.size) - np.repeat(start, size)
    return np.flatnonzero(place < taken[stratum])


def _boxes(rng, n: int, distinct: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` boxes drawn from ``distinct`` different ones (repeats when n > distinct)."""
    pool = rng.uniform(0.0, 600.0, (max(distinct, 1), 4))
    pool[:, 2:] += pool[:, :2]
    pick = rng.integers(0, pool.shape[0], n)
    return pool[pick], rng.integers(0, 3, n)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3000), distinct=st.integers(1, 4000), seed=st.integers(0, 2**32 - 1))
def test_content_hash_equals_full_sort(n, distinct, seed):
    boxes, shape_id = _boxes(np.random.default_rng(seed), n, distinct)
    assert np.array_equal(S.content_hash(boxes, shape_id), _hash_by_full_sort(boxes, shape_id))


def test_content_hash_many_repeats_and_a_few():
    rng = np.random.default_rng(7)
    for n, distinct in ((200_000, 1500), (200_000, 190_000), (5, 1)):
        boxes, shape_id = _boxes(rng, n, distinct)
        assert np.array_equal(S.content_hash(boxes, shape_id),
                              _hash_by_full_sort(boxes, shape_id))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 5000), span=st.sampled_from([1, 7, 300, 1 << 21, 1 << 40]),
       seed=st.integers(0, 2**32 - 1))
def test_strata_equal_numpy_unique(n, span, seed):
    keys = np.random.default_rng(seed).integers(0, span, n).astype(np.int64)
    stratum, size = S._strata_of(keys)
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    assert stratum.dtype == np.int64 and size.dtype == np.int64
    assert np.array_equal(stratum, inverse.reshape(-1)) and np.array_equal(size, counts)
    assert S._distinct(keys) == counts.size


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 4000), strata=st.integers(1, 60), seed=st.integers(0, 2**32 - 1),
       ties=st.booleans())
def test_lowest_per_stratum_equals_full_sort(n, strata, seed, ties):
    rng = np.random.default_rng(seed)
    stratum = rng.integers(0, strata, n)
    _, stratum = np.unique(stratum, return_inverse=True)  # strata 0..S-1, none empty
    stratum = stratum.reshape(-1).astype(np.int64)
    size = np.bincount(stratum)
    lottery = rng.integers(0, 1 << 63, n, dtype=np.int64).astype(np.uint64) << np.uint64(1)
    if ties:  # equal lotteries: the input order decides
        lottery = lottery[rng.integers(0, max(1, n // 3), n)]
    taken = np.minimum(size, rng.integers(1, 40, size.size))
    got = S._lowest_per_stratum(stratum, lottery, size, taken)
    assert np.array_equal(got, _lowest_by_full_sort(stratum, lottery, taken))


def test_draw_takes_the_allocated_count_of_every_stratum():
    rng = np.random.default_rng(3)
    boxes, shape_id = _boxes(rng, 50_000, 30_000)
    window = np.full((boxes.shape[0], 2), 640.0)
    keys = S.choose_keys(boxes, window, shape_id, 2_000)
    a = S.draw(keys, 2_000, 5, boxes, shape_id)
    # proportional allocation with at least one box per stratum
    assert np.array_equal(np.bincount(a.stratum, minlength=a.stratum_size.size),
                          a.stratum_taken)
    assert abs(a.weight.sum() - boxes.shape[0]) < 1e-6 * boxes.shape[0]
    # the same boxes in another order: the same sample, in content order
    perm = rng.permutation(boxes.shape[0])
    b = S.draw(keys[perm], 2_000, 5, boxes[perm], shape_id[perm])
    assert np.array_equal(boxes[a.index], boxes[perm][b.index])


def test_padded_groups_by_hand():
    from tfod_anchors.boxes import ResizedBoxes

    # images: 0 (640, 480), 1 (320, 320), 2 (640, 480), 3 (100, 900) without boxes
    shapes = np.array([[640, 480], [320, 320], [640, 480], [100, 900]], np.int32)
    box_image = np.array([2, 0, 1, 2, 1], np.int32)
    r = ResizedBoxes(shapes, shapes, box_image, np.zeros((5, 4)), np.zeros(5, np.int32))
    groups, of_box = r.padded_groups()
    assert groups.tolist() == [[320, 320], [640, 480]]  # (100, 900) holds no box
    assert of_box.tolist() == [1, 1, 0, 1, 0] and of_box.dtype == np.int64
    assert [(s, idx.tolist()) for s, idx in r.group_indices()] == [
        ((320, 320), [2, 4]), ((640, 480), [0, 1, 3])]
