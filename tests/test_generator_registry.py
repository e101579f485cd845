"""Conformance of every generator kind in the registry (``frameworks/tfod_generators``).

In the spirit of scikit-learn's ``parametrize_with_checks``: each record of the
registry must bring everything a stage asks of a generator, so that adding a kind
cannot leave one of them out. Each kind has a small fixture message whose anchors are
counted by hand here (and compared with TFOD's numbers by its ``oracle`` test).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from tfod_anchors.cluster.centroids import CentroidCounts
from tfod_anchors.config.schema import parse_text, pipeline_pb2
from tfod_anchors.frameworks.tfod_generators import GENERATORS, GeneratorKind, generator_kind
from tfod_anchors.rules import anchor_value_findings

#: One valid message per kind, and the anchors per location its builder must give
#: (worked out from TFOD's formulas: grid 2 x 2; SSD 3 on the lowest layer, then
#: 2 ratios + the interpolated one; multiscale 2 scales x 2 ratios; flexible its pairs).
FIXTURES = {
    "grid_anchor_generator": (
        "grid_anchor_generator { scales: [0.5, 1.0] aspect_ratios: [0.5, 2.0] "
        "height_stride: 16 width_stride: 16 }", [4]),
    "ssd_anchor_generator": (
        "ssd_anchor_generator { num_layers: 2 min_scale: 0.2 max_scale: 0.9 "
        "aspect_ratios: [1.0, 2.0] }", [3, 3]),
    "multiscale_anchor_generator": (
        "multiscale_anchor_generator { min_level: 3 max_level: 4 anchor_scale: 4.0 "
        "aspect_ratios: [1.0, 2.0] scales_per_octave: 2 }", [4, 4]),
    "flexible_grid_anchor_generator": (
        "flexible_grid_anchor_generator { anchor_grid { base_sizes: [20.0, 40.0] "
        "aspect_ratios: [1.0, 2.0] height_stride: 8 width_stride: 8 } }", [2]),
}
KINDS = sorted(GENERATORS)
ORACLES = Path(__file__).with_name("test_anchor_generators.py")


def message(kind: str):
    return parse_text(FIXTURES[kind][0], pipeline_pb2().AnchorGenerator())


def test_registry_covers_every_generator_of_the_schema():
    oneof = pipeline_pb2().AnchorGenerator.DESCRIPTOR.oneofs_by_name["anchor_generator_oneof"]
    assert sorted(f.name for f in oneof.fields) == KINDS == sorted(FIXTURES)
    assert generator_kind(None) is None and generator_kind("no_such_generator") is None


@pytest.mark.parametrize("kind", KINDS)
def test_record_is_complete(kind):
    record = GENERATORS[kind]
    assert isinstance(record, GeneratorKind) and record.name == kind
    for part in ("build", "space", "shape_unit", "structure_rules", "value_fields"):
        assert callable(getattr(record, part)), part
    # a centroid mapping, or an explicit none that says why
    assert callable(record.centroid_fields) or (
        record.centroid_fields is None and record.no_centroids)


@pytest.mark.parametrize("kind", KINDS)
def test_build_gives_the_fixture_anchor_counts(kind):
    msg = message(kind)
    generator = GENERATORS[kind].build(getattr(msg, kind), "ssd")
    assert generator.kind == kind
    assert list(generator.num_anchors_per_location()) == FIXTURES[kind][1]


@pytest.mark.parametrize("kind", KINDS)
def test_parameter_space_round_trips_the_config(kind):
    msg = message(kind)
    space = GENERATORS[kind].space(msg, None, None, (4.0, 2048.0))
    assert space.kind == kind and space.dim == len(space.names) > 0
    assert np.all(space.lower <= space.x0) and np.all(space.x0 <= space.upper)
    # the config's own values, written back, are the config
    written = space.write(msg, np.exp(space.x0))
    again = GENERATORS[kind].space(written, None, None, (4.0, 2048.0))
    np.testing.assert_allclose(again.x0, space.x0, rtol=0, atol=1e-6)
    assert [len(s) for s in space.shapes_of(space.x0)] == FIXTURES[kind][1]
    unit = GENERATORS[kind].shape_unit(msg, (300, 400))
    assert len(unit) == 2 and all(u > 0 for u in unit)
    if GENERATORS[kind].image_relative:  # SSD: fractions of min(H, W) = 300
        assert unit == (300.0, 300.0)
    else:
        assert unit == (1.0, 1.0)


@pytest.mark.parametrize("kind", KINDS)
def test_centroid_mapping_or_explicit_none(kind):
    record = GENERATORS[kind]
    if record.centroid_fields is None:
        assert "fit" in record.no_centroids
        return
    centroids = np.array([[20.0, 40.0], [40.0, 20.0], [60.0, 60.0], [90.0, 45.0]])
    fields = record.centroid_fields(getattr(message(kind), kind), centroids, (300, 300),
                                    CentroidCounts(), None)
    assert isinstance(fields, dict) and fields
    assert all(math.isfinite(v) and v > 0 for v in np.ravel(fields.get("aspect_ratios", [1.0])))


@pytest.mark.parametrize("kind", KINDS)
def test_value_rules_accept_the_fixture_and_flag_nan(kind):
    record = GENERATORS[kind]
    msg = message(kind)
    assert record.structure_rules(kind, getattr(msg, kind)) == ([], [])
    ratios, scales = record.value_fields(getattr(msg, kind))
    assert ratios and scales and all(not bad for _, bad in ratios + scales)
    assert anchor_value_findings(kind, getattr(msg, kind)) == []
    text = FIXTURES[kind][0].replace("aspect_ratios: [", "aspect_ratios: [nan, ", 1)
    bad = parse_text(text, pipeline_pb2().AnchorGenerator())
    assert [f.code for f in anchor_value_findings(kind, getattr(bad, kind))] == [
        "invalid_aspect_ratio"]


@pytest.mark.parametrize("kind", KINDS)
def test_oracle_fixture_exists(kind):
    """Every kind names the test that compares its anchors with TFOD's own numbers."""
    oracle = GENERATORS[kind].oracle
    assert re.search(rf"^def {re.escape(oracle)}\(", ORACLES.read_text(), re.M), oracle
