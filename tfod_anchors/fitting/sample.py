"""Which boxes the search looks at: all of them, or a stratified weighted sample.

The search only needs the objective to rank candidates, so above
``max_boxes`` it works on a seeded stratified sample whose cost does not grow
with the dataset. Strata are what decides a box's best IoU: its image's padded
shape, its size (quarter octaves of ``sqrt(h * w)``), its aspect ratio (half
octaves), its position relative to the stride-16 grid (quarter cells) and how
close it is to the window edges (where pruning and clipping act). Each stratum
gets a share of the sample proportional to its size (at least one box), and
each sampled box carries the weight ``N_h / n_h``, so weighted metrics are
unbiased; :func:`half_width` gives their 95 % error bound.

Nothing here depends on the order in which the boxes arrived: strata are defined by
box content, the seeded draw is keyed on a hash of each box's content
(:func:`content_hash`), and a sample lists its boxes in content order
(:func:`content_order`). The same boxes read from a TFRecord,
a CSV or a shuffled CSV give the same sample, hence the same fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sample:
    """Boxes chosen for the search.

    Attributes:
        index: int64 ``[B]`` indices into the full box arrays.
        weight: float64 ``[B]`` boxes represented by each chosen box (sum = N).
        stratum: int64 ``[B]`` stratum of each chosen box.
        stratum_size: int64 ``[S]`` boxes per stratum in the full set (``N_h``).
        stratum_taken: int64 ``[S]`` chosen per stratum (``n_h``).
        exact: True when every box is used (weights all 1).
    """

    index: np.ndarray
    weight: np.ndarray
    stratum: np.ndarray
    stratum_size: np.ndarray
    stratum_taken: np.ndarray
    exact: bool

    @property
    def size(self) -> int:
        return int(self.index.shape[0])


def strata_parts(boxes: np.ndarray, window: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """Per-box stratum features with their ranges: size, aspect, edge distance, phase."""
    h = np.maximum(boxes[:, 2] - boxes[:, 0], 1e-6)
    w = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)
    side = np.sqrt(h * w)
    size = np.clip(np.floor(2.0 * np.log2(side)) + 4, 0, 63).astype(np.int64)
    aspect = np.clip(np.floor(2.0 * np.log2(w / h)) + 16, 0, 31).astype(np.int64)
    cy, cx = (boxes[:, 0] + boxes[:, 2]) / 2.0, (boxes[:, 1] + boxes[:, 3]) / 2.0
    phase = (np.floor(np.mod(cy, 16.0) / 4.0) * 4 + np.floor(np.mod(cx, 16.0) / 4.0))
    gap = np.minimum(np.minimum(boxes[:, 0], boxes[:, 1]),
                     np.minimum(window[:, 0] - boxes[:, 2], window[:, 1] - boxes[:, 3])) / side
    edge = np.digitize(gap, [0.01, 0.25, 1.0]).astype(np.int64)
    return [(size, 64), (aspect, 32), (edge, 4), (phase.astype(np.int64), 16)]


def strata_keys(boxes: np.ndarray, window: np.ndarray, shape_id: np.ndarray,
                detail: int = 3, parts: list | None = None) -> np.ndarray:
    """int64 ``[N]`` stratum key per box.

    Args:
        boxes: float ``[N, 4]`` pixels ``[ymin, xmin, ymax, xmax]``.
        window: float ``[N, 2]`` padded ``(H, W)`` of each box's image.
        shape_id: int ``[N]`` index of the box's padded shape among the distinct ones.
        detail: 3 uses every feature; 2 drops the grid phase, 1 also the edge
            distance, 0 also the aspect ratio (fewer, larger strata).
    """
    parts = parts if parts is not None else strata_parts(boxes, window)
    key = shape_id.astype(np.int64)
    for part, span in parts[:detail + 1]:
        key = key * span + part
    return key


def choose_keys(boxes: np.ndarray, window: np.ndarray, shape_id: np.ndarray,
                max_boxes: int, parts: list | None = None) -> np.ndarray:
    """The most detailed :func:`strata_keys` with at most ``max_boxes / 4`` strata
    (so that one box per stratum leaves room for proportional allocation);
    ``parts``: :func:`strata_parts` when already computed."""
    parts = parts if parts is not None else strata_parts(boxes, window)
    for detail in (3, 2, 1, 0):
        keys = strata_keys(boxes, window, shape_id, detail, parts)
        if boxes.shape[0] <= max_boxes or _distinct(keys) <= max(1, max_boxes // 4):
            return keys
    return keys


def _mix(h: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on uint64 arrays (wrapping arithmetic); a new array."""
    h = np.array(h, dtype=np.uint64)
    t = np.right_shift(h, np.uint64(30))
    h ^= t
    h *= np.uint64(0xBF58476D1CE4E5B9)
    np.right_shift(h, np.uint64(27), out=t)
    h ^= t
    h *= np.uint64(0x94D049BB133111EB)
    np.right_shift(h, np.uint64(31), out=t)
    h ^= t
    return h


def content_hash(boxes: np.ndarray, shape_id: np.ndarray) -> np.ndarray:
    """uint64 ``[N]`` hash of each box's padded-shape index and coordinates (their
    float64 bits) and of its copy number among equal boxes: the ``k``-th copy of a box
    hashes the same wherever the copies sit in the input (equal boxes are
    interchangeable), and copies hash differently, so a draw keyed on the hash spreads
    over distinct boxes as a uniform draw would."""
    b = np.ascontiguousarray(np.asarray(boxes, dtype=np.float64) + 0.0)  # -0.0 -> 0.0
    bits = b.view(np.uint64).reshape(-1, 4)
    h = _mix(np.asarray(shape_id, dtype=np.int64).astype(np.uint64)
             + np.uint64(0x9E3779B97F4A7C15))
    for j in range(4):
        h = _mix(h ^ bits[:, j])
    copy = np.zeros(h.size, dtype=np.uint64)
    if _repeats_often(h):
        members = np.arange(h.size)
    else:  # rank only the boxes whose hash repeats (none, in most datasets)
        sorted_all = np.sort(h)
        repeated = np.unique(sorted_all[1:][sorted_all[1:] == sorted_all[:-1]])
        at = np.minimum(np.searchsorted(repeated, h), max(repeated.size - 1, 0))
        members = np.flatnonzero(repeated[at] == h) if repeated.size else repeated
    if members.size:  # number the copies of each repeated hash in input order
        order = members[np.argsort(h[members], kind="stable")]
        sorted_h = h[order]
        first = np.concatenate([[True], sorted_h[1:] != sorted_h[:-1]])
        run_start = np.maximum.accumulate(np.where(first, np.arange(order.size), 0))
        copy[order] = (np.arange(order.size) - run_start).astype(np.uint64)
    return _mix(h ^ _mix(copy + np.uint64(0xD1B54A32D192ED03)))


def _repeats_often(h: np.ndarray, probe: int = 1 << 16) -> bool:
    """Whether many of the hashes ``h`` repeat, judged on an evenly strided subset (a
    dataset of copied boxes); then ranking all of them beats finding the repeats."""
    sub = np.sort(h[:: max(1, h.size // probe)])
    return int(np.count_nonzero(sub[1:] == sub[:-1])) > sub.size // 16


def content_order(boxes: np.ndarray, shape_id: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``index`` (int64 ``[B]``) sorted by box content: padded shape, then ``ymin, xmin,
    ymax, xmax`` (equal boxes are interchangeable, so their order does not matter)."""
    b = np.asarray(boxes, dtype=np.float64)[index]
    order = np.lexsort((b[:, 3], b[:, 2], b[:, 1], b[:, 0], np.asarray(shape_id)[index]))
    return np.asarray(index, dtype=np.int64)[order]


def draw(keys: np.ndarray, max_boxes: int, seed: int, boxes: np.ndarray | None = None,
         shape_id: np.ndarray | None = None, hashes: np.ndarray | None = None) -> Sample:
    """Seeded stratified sample of at most ~``max_boxes`` boxes (all when N fits).

    Proportional allocation, largest remainders, at least one box per stratum
    (so the result may exceed ``max_boxes`` by up to the number of strata).

    Args:
        boxes, shape_id: the boxes' content; with them the draw is keyed on
            :func:`content_hash` (``hashes``, computed when None) and the sample lists
            its boxes in :func:`content_order`, so the input order does not matter.
            Without them: keyed on positions, in input order.
    """
    n = int(keys.shape[0])
    stratum, size = _strata_of(keys)
    if n <= max_boxes:
        index = content_order(boxes, shape_id, np.arange(n)) \
            if boxes is not None and shape_id is not None else np.arange(n)
        return Sample(index, np.ones(n), stratum[index], size, size.copy(), True)
    share = size * (max_boxes / n)
    taken = np.floor(share).astype(np.int64)
    spare = max_boxes - int(taken.sum())
    if spare > 0:
        order = np.lexsort((np.arange(size.size), -(share - taken)))
        taken[order[:spare]] += 1
    taken = np.clip(taken, 1, size)
    if boxes is not None and shape_id is not None:
        if hashes is None:
            hashes = content_hash(boxes, shape_id)
        salt = _mix(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
        chosen = content_order(boxes, shape_id,
                               _lowest_per_stratum(stratum, _mix(hashes ^ salt), size, taken))
    else:
        lottery = np.random.default_rng(seed).integers(0, 1 << 62, n, dtype=np.int64)
        order = _stratum_lottery_order(stratum, lottery)
        starts = np.concatenate([[0], np.cumsum(size)[:-1]])
        place = np.empty(n, dtype=np.int64)
        place[order] = np.arange(n) - np.repeat(starts, size)
        chosen = np.flatnonzero(place < taken[stratum])
    weight = (size / taken)[stratum[chosen]]
    return Sample(chosen, weight, stratum[chosen], size, taken, False)


def _dense_range(keys: np.ndarray) -> bool:
    """True when the int64 ``keys`` are non-negative and span few enough values to be
    counted with one ``bincount`` (a pass over the data instead of a sort)."""
    return bool(keys.size) and int(keys.min()) >= 0 and \
        int(keys.max()) < max(1 << 20, 2 * keys.size)


def _distinct(keys: np.ndarray) -> int:
    """How many distinct values ``keys`` (int64 ``[N]``) holds."""
    if _dense_range(keys):
        return int(np.count_nonzero(np.bincount(keys)))
    return int(np.unique(keys).size)


def _strata_of(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stratum index per box (int64 ``[N]``, strata numbered in key order) and boxes per
    stratum (int64 ``[S]``): ``np.unique``'s inverse and counts."""
    if _dense_range(keys):
        counts = np.bincount(keys)
        present = counts > 0
        rank = np.cumsum(present) - 1
        return rank[keys].astype(np.int64), counts[present].astype(np.int64)
    _, stratum, size = np.unique(keys, return_inverse=True, return_counts=True)
    return stratum.reshape(-1).astype(np.int64), size.astype(np.int64)


def _lowest_per_stratum(stratum: np.ndarray, lottery: np.ndarray, size: np.ndarray,
                        taken: np.ndarray) -> np.ndarray:
    """Sorted indices of the ``taken[h]`` boxes first in ``(lottery, index)`` order in
    each stratum ``h`` (``lottery``: uniform uint64 ``[N]``).

    Only boxes whose lottery falls below a per-stratum quantile a little above
    ``taken / size`` are sorted; the cut is monotone in the lottery, so the boxes kept
    in a stratum are the first of its full order. A stratum left short widens the cut
    (with the last cut at 1 every box is kept), so the result is always the exact one.
    """
    u = (lottery >> np.uint64(11)).astype(np.float64) * 2.0 ** -53  # [0, 1)
    share = taken / size
    for widen in (1.25, 2.0, 4.0, np.inf):
        cut = np.minimum(share * widen + 8.0 / size, 1.0) if np.isfinite(widen) \
            else np.ones_like(share)
        cand = np.flatnonzero(u < cut[stratum])
        have = np.bincount(stratum[cand], minlength=size.size)
        if np.all(have >= taken):
            break
    cs = stratum[cand]
    order = np.lexsort((lottery[cand], cs))  # stable: equal lotteries keep index order
    start = np.concatenate([[0], np.cumsum(have)[:-1]])
    rank = np.arange(order.size) - start[cs[order]]
    return np.sort(cand[order[rank < taken[cs[order]]]])


def _stratum_lottery_order(stratum: np.ndarray, lottery: np.ndarray) -> np.ndarray:
    """Indices sorted by ``(stratum, lottery)``: one sort of a packed 64-bit key (the
    stratum in the high bits, the lottery's top bits below), with an exact two-key
    sort only if two packed keys collide."""
    bits = max(1, int(stratum.max()).bit_length()) if stratum.size else 1
    if bits > 40:
        return np.lexsort((lottery, stratum))
    packed = (stratum.astype(np.uint64) << np.uint64(64 - bits)) | (
        lottery.astype(np.uint64) >> np.uint64(bits))
    order = np.argsort(packed, kind="stable")
    ranked = packed[order]
    if np.any(ranked[1:] == ranked[:-1]):  # equal boxes' copies never collide; others rarely
        return np.lexsort((lottery, stratum))
    return order


@dataclass(frozen=True)
class Drawn:
    """A box set's search samples and what drew them (reused by later draws).

    Attributes:
        hashes: :func:`content_hash` of the boxes (None when every box is taken).
        parts: :func:`strata_parts` of the boxes.
        coarse: the small sample (split choice, the coarse search).
        search: the search sample (all boxes up to its size).
    """

    hashes: np.ndarray | None
    parts: list
    coarse: Sample
    search: Sample


def coarse_and_search(boxes: np.ndarray, window: np.ndarray, shape_id: np.ndarray, seed: int,
                      max_boxes: int, n_coarse: int) -> Drawn:
    """The coarse (``n_coarse``, at most ``max_boxes``) and search (``max_boxes``)
    samples of ``boxes`` (float ``[N, 4]``; ``window``, ``shape_id`` as for
    :func:`strata_keys`), both content-keyed with ``seed``."""
    hashes = content_hash(boxes, shape_id) if boxes.shape[0] > n_coarse else None
    parts = strata_parts(boxes, window)
    coarse, search = (draw(choose_keys(boxes, window, shape_id, n, parts), n, seed, boxes,
                           shape_id, hashes) for n in (n_coarse, max_boxes))
    return Drawn(hashes, parts, coarse, search)


def half_width(sample: Sample, values: np.ndarray, z: float = 1.96) -> float:
    """95 % half-width of the weighted mean of ``values [B]`` (0 when exact).

    Stratified estimator variance ``sum_h (N_h/N)^2 (1 - n_h/N_h) s_h^2 / n_h``.
    """
    if sample.exact:
        return 0.0
    v = np.asarray(values, dtype=np.float64)
    s = sample.stratum_size.size
    cnt = np.bincount(sample.stratum, minlength=s).astype(np.float64)
    tot = np.bincount(sample.stratum, v, minlength=s)
    sq = np.bincount(sample.stratum, v * v, minlength=s)
    mean = np.where(cnt > 0, tot / np.maximum(cnt, 1), 0.0)
    var = np.where(cnt > 1, (sq - cnt * mean * mean) / np.maximum(cnt - 1, 1), 0.0)
    big_n = sample.stratum_size.astype(np.float64)
    frac = big_n / big_n.sum()
    fpc = 1.0 - cnt / np.maximum(big_n, 1)
    total = np.sum(frac * frac * fpc * np.maximum(var, 0.0) / np.maximum(cnt, 1))
    return float(z * np.sqrt(total))
