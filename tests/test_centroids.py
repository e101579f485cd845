"""Centroid → TFOD generator field mappings (grid, ssd, multiscale, flexible grid)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tfod_anchors.cluster import centroids as C
from tfod_anchors.errors import UsageError


def test_grid_shapes_match_tfod_example():
    # tfod-facts §3.1: scales [0.5, 1], ratios [0.5, 2], base 256, aspect ratio outer.
    got = C.grid_shapes([0.5, 1.0], [0.5, 2.0])
    r2 = np.sqrt(2.0)
    expected_hw = [
        (128 * r2, 64 * r2),
        (256 * r2, 128 * r2),
        (64 * r2, 128 * r2),
        (128 * r2, 256 * r2),
    ]
    np.testing.assert_allclose(got[:, ::-1], expected_hw)
    np.testing.assert_allclose(got[0], [90.50966799, 181.01933598])


def test_scale_ratio_inverts_tfod_formula_on_non_square_base():
    s, a = C.scale_ratio(C.grid_shapes([0.5, 2.0], [1 / 3, 3.0], (128, 256)), (128, 256))
    np.testing.assert_allclose(s, [0.5, 2.0, 0.5, 2.0])
    np.testing.assert_allclose(a, [1 / 3, 1 / 3, 3.0, 3.0])


@pytest.mark.parametrize("base", [(256.0, 256.0), (128.0, 256.0)])
def test_grid_round_trip(base):
    scales, ratios = [0.25, 0.5, 1.0, 2.0], [0.5, 1.0, 2.0]
    shapes = C.grid_shapes(scales, ratios, base)
    assert C.grid_naive(shapes, base_size=base) == {"scales": scales, "aspect_ratios": ratios}
    assert C.grid_factorised(shapes, 4, 3, base_size=base) == {
        "scales": scales,
        "aspect_ratios": ratios,
    }


def test_grid_naive_gives_k_squared_anchors():
    # Three centroids on a diagonal: the notebook maps them to 3 scales × 3 ratios = 9 anchors.
    shapes = np.array([[16.0, 32.0], [64.0, 64.0], [256.0, 128.0]])
    out = C.grid_naive(shapes)
    assert out == {"scales": [0.0884, 0.25, 0.7071], "aspect_ratios": [0.5, 1.0, 2.0]}


def test_grid_factorised_fits_noisy_product_and_weights():
    shapes = C.grid_shapes([0.5, 1.0], [0.5, 2.0])
    noisy = shapes * np.exp([[0.02, 0.02], [0.02, 0.02], [-0.02, -0.02], [-0.02, -0.02]])
    # Each scale appears once at +0.02 and once at -0.02 in log: the geometric mean is exact.
    out = C.grid_factorised(noisy, 2, 2)
    assert out == {"scales": [0.5, 1.0], "aspect_ratios": [0.5, 2.0]}
    # Geometric mean of ratios 1 and 4 with weights 3:1 is 4^(1/4).
    pair = C.grid_shapes([1.0], [1.0, 4.0])
    out = C.grid_factorised(pair, 1, 1, weights=[3, 1])
    assert out["aspect_ratios"] == [round(4**0.25, 4)]


def test_optimal_1d_hand_and_brute_force():
    np.testing.assert_allclose(C.optimal_1d([1, 2, 10, 11], 2), [1.5, 10.5])
    np.testing.assert_allclose(C.optimal_1d([1, 2, 10, 11], 2, weights=[3, 1, 1, 1]), [1.25, 10.5])
    rng = np.random.default_rng(0)
    v = rng.normal(size=7)
    best = np.inf
    sv = np.sort(v)
    for cuts in itertools.combinations(range(1, 7), 2):
        groups = np.split(sv, cuts)
        best = min(best, sum(((g - g.mean()) ** 2).sum() for g in groups))
    centres = C.optimal_1d(v, 3)
    cost = (np.min((v[:, None] - centres[None, :]) ** 2, axis=1)).sum()
    assert cost == pytest.approx(best)
    with pytest.raises(UsageError):
        C.optimal_1d([1, 1, 2], 3)


def test_ssd_round_trip_on_non_square_input():
    scales, ratios = np.array([0.1, 0.3, 0.9]), np.array([0.5, 1.0, 3.0])
    m = 300.0  # min(300, 600)
    shapes = np.array([[s * np.sqrt(a) * m, s / np.sqrt(a) * m] for s in scales for a in ratios])
    out = C.ssd_from_centroids(shapes, (300, 600), n_ratios=3)
    assert out == {"aspect_ratios": [0.5, 1.0, 3.0], "min_scale": 0.1, "max_scale": 0.9}
    out = C.ssd_from_centroids(shapes, (600, 300), num_layers=3, scales="explicit")
    assert out == {"aspect_ratios": [0.5, 1.0, 3.0], "scales": [0.1, 0.3, 0.9]}
    with pytest.raises(UsageError):
        C.ssd_from_centroids(shapes, (300, 300), num_layers=6, scales="explicit")


def test_ssd_base_anchor_and_rounding():
    # base 1×2 (h×w): ratio = (w/h)·(b_h/b_w), scale = sqrt(w·h / (b_h·b_w)) / min(H, W).
    out = C.ssd_from_centroids([[60.0, 60.0], [90.0, 30.0]], (300, 300), base_anchor_size=(1, 2))
    assert out["aspect_ratios"] == [0.5, 1.5]
    assert out["min_scale"] == round(np.sqrt(2700 / 2) / 300, 4) == 0.1225
    assert out["max_scale"] == round(60 / (300 * np.sqrt(2)), 4) == 0.1414


def test_multiscale_round_trip():
    for anchor_scale, spo in ((4.0, 2), (3.0, 3)):
        sizes = anchor_scale * 2.0 ** (np.arange(3, 8)[:, None] + np.arange(spo) / spo).ravel()
        shapes = np.array([[s * np.sqrt(a), s / np.sqrt(a)] for s in sizes for a in (0.5, 1, 2)])
        out = C.multiscale_from_centroids(shapes, scales_per_octave=spo)
        assert out == {"anchor_scale": anchor_scale, "aspect_ratios": [0.5, 1.0, 2.0]}


def test_multiscale_anchor_scale_least_squares():
    # Sizes 2^5.1 and 2^5.3 with levels 3..7, spo 1: log2 A = 2.2 puts both 0.1 off a rung.
    assert C.multiscale_anchor_scale([2**5.1, 2**5.3], scales_per_octave=1) == pytest.approx(2**2.2)
    # A single size sits on a rung for many A; ties go to the A closest to 4.
    assert C.multiscale_anchor_scale([48.0], scales_per_octave=1) == pytest.approx(3.0)


def test_box_levels():
    wh = [[32, 32], [44, 46], [64, 64], [1000, 1000], [4, 4]]
    np.testing.assert_array_equal(C.box_levels(wh, 4.0), [3, 3, 4, 7, 3])
    np.testing.assert_array_equal(C.box_levels([[46, 46]], 4.0, scales_per_octave=1), [4])


def test_flexible_grid_round_trip_and_empty_layer():
    layer0 = [[16 * np.sqrt(2), 16 / np.sqrt(2)], [16.0, 16.0]]
    layer1 = [[64.0, 64.0], [32.0, 128.0]]
    out = C.flexible_grid_from_centroids(np.vstack([layer0, layer1]), [16, 64])
    assert out == {
        "anchor_grid": [
            {"base_sizes": [16.0, 16.0], "aspect_ratios": [1.0, 2.0]},
            {"base_sizes": [64.0, 64.0], "aspect_ratios": [0.25, 1.0]},
        ]
    }
    assert out == C.flexible_grid_from_layers([layer0, layer1])
    with pytest.raises(UsageError, match="layer"):
        C.flexible_grid_from_centroids(np.array(layer1), [16, 64])


def test_bad_arguments():
    with pytest.raises(UsageError):
        C.grid_naive([[10, 10]], base_size=(0, 256))
    with pytest.raises(UsageError):
        C.ssd_from_centroids([[10, 10]], (300, 300), scales="both")
    with pytest.raises(UsageError):
        C.multiscale_from_centroids([[10, 10]], min_level=5, max_level=3)
