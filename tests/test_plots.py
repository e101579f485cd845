"""Plots: each function writes a real PNG, byte-identical for the same input; clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

from tfod_anchors import plots  # noqa: E402
from tfod_anchors.errors import UsageError, WriteError  # noqa: E402
from tfod_anchors.plots import coverage as coverage_plots  # noqa: E402
from tfod_anchors.plots.shapes import plot_box_shapes  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPO = Path(__file__).resolve().parents[1]


def default_frcnn_anchors() -> np.ndarray:
    """The 12 Faster R-CNN defaults (base 256): h = 256 s / sqrt(a), w = 256 s sqrt(a)."""
    s, a = np.meshgrid([0.25, 0.5, 1.0, 2.0], [0.5, 1.0, 2.0], indexing="ij")
    s, a = s.ravel(), a.ravel()
    return np.stack([256 * s / np.sqrt(a), 256 * s * np.sqrt(a)], axis=1)


def boxes_wh(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    side = np.exp(rng.uniform(np.log(8), np.log(600), n))
    ratio = np.exp(rng.normal(0.0, 0.5, n))
    return np.stack([side * np.sqrt(ratio), side / np.sqrt(ratio)], axis=1)


def metrics(small, medium, large, t=0.7) -> dict:
    bands = {}
    for name, (count, recall) in zip(("small", "medium", "large"), (small, medium, large)):
        bands[name] = {"count": count, "mean_iou": None if recall is None else 0.6,
                       "recall_matched": recall}
    return {"matched_threshold": t, "by_size": bands}


def check_png(path: Path, size: tuple[int, int]) -> bytes:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size == size
        assert "Software" not in im.info
    return data


def draw_all(out: Path) -> dict[str, Path]:
    wh = boxes_wh(3000)
    anchors = default_frcnn_anchors()
    rng = np.random.default_rng(1)
    before, after = rng.beta(5, 3, 500), rng.beta(6, 2, 500)
    return {
        "shapes": plot_box_shapes(wh, anchors, out / "shapes.png", title="synthetic"),
        "shapes_two": plot_box_shapes(wh[:100], anchors * 0.8, out / "two.png", title="t",
                                      before=anchors),
        "cdf": plots.plot_iou_cdf(before, after, out / "cdf.png", matched_threshold=0.6),
        "bands": plots.plot_recall_by_size(metrics((10, 0.25), (20, 0.5), (30, 0.75)),
                                           metrics((10, 0.3), (20, 0.6), (30, 0.7)),
                                           out / "bands.png"),
        "elbow": plots.plot_elbow([2, 3, 4, 5], [0.5, 0.6, 0.65, 0.67], out / "elbow.png",
                                  chosen_k=4),
    }


SIZES = {"shapes": (836, 682), "shapes_two": (726, 682), "cdf": (825, 572),
         "bands": (770, 550), "elbow": (770, 528)}


def test_each_plot_is_a_png_of_the_intended_size_and_repeatable(tmp_path):
    runs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        paths = draw_all(tmp_path / name)
        assert all(path.parent == tmp_path / name for path in paths.values())
        runs.append({kind: check_png(path, SIZES[kind]) for kind, path in paths.items()})
    assert runs[0] == runs[1]


def test_user_rcparams_and_backend_are_left_alone(tmp_path):
    import matplotlib

    wh = boxes_wh(50)
    ref = plot_box_shapes(wh, default_frcnn_anchors(), tmp_path / "ref.png").read_bytes()
    backend = matplotlib.get_backend()
    with matplotlib.rc_context({"lines.linewidth": 7.0, "font.size": 20.0}):
        again = plot_box_shapes(wh, default_frcnn_anchors(), tmp_path / "again.png")
        assert matplotlib.rcParams["lines.linewidth"] == 7.0
    assert again.read_bytes() == ref
    assert matplotlib.get_backend() == backend


def test_different_input_different_picture(tmp_path):
    a = plots.plot_elbow([2, 3], [0.5, 0.6], tmp_path / "a.png").read_bytes()
    b = plots.plot_elbow([2, 3], [0.5, 0.61], tmp_path / "b.png").read_bytes()
    assert a != b


def test_subsample_is_seeded_sorted_and_bounded():
    np.testing.assert_array_equal(plots.subsample(5, 10), np.arange(5))
    a = plots.subsample(1000, 100, seed=3)
    assert a.shape == (100,) and np.all(np.diff(a) > 0) and a.min() >= 0 and a.max() < 1000
    np.testing.assert_array_equal(a, plots.subsample(1000, 100, seed=3))
    assert not np.array_equal(a, plots.subsample(1000, 100, seed=4))
    with pytest.raises(UsageError):
        plots.subsample(10, 0)


def test_large_input_is_subsampled_with_its_seed(tmp_path):
    wh = boxes_wh(3000)
    a = plot_box_shapes(wh, None, tmp_path / "a.png", seed=0, max_points=300)
    b = plot_box_shapes(wh, None, tmp_path / "b.png", seed=1, max_points=300)
    assert a.read_bytes() != b.read_bytes()


def test_degenerate_inputs_still_draw(tmp_path):
    # empty and zero-size boxes (left out of log axes), bands without boxes, one k
    wh = np.array([[0.0, 5.0], [10.0, 20.0], [np.nan, 3.0]])
    check_png(plot_box_shapes(wh, np.zeros((0, 2)), tmp_path / "s.png"), (726, 682))
    check_png(plot_box_shapes(np.zeros((0, 2)), None, tmp_path / "e.png"), (726, 682))
    check_png(plots.plot_iou_cdf(np.zeros(0), None, tmp_path / "c.png"), (825, 572))
    check_png(plots.plot_recall_by_size(metrics((0, None), (3, 1.0), (0, None)), None,
                                        tmp_path / "b.png"), (770, 550))
    check_png(plots.plot_elbow([5], [0.7], tmp_path / "k.png", chosen_k=6), (770, 528))


def test_recall_text_counts_boxes_at_the_threshold():
    iou = np.array([0.2, 0.5, 0.5, 0.69, 0.7])
    assert (coverage_plots._recall_text(iou, [0.5, 0.7])
            == "mean IoU 0.518, recall@0.5 80.0%, recall@0.7 20.0%")
    # the plotted curve is 1 - recall: share strictly below x
    np.testing.assert_allclose(coverage_plots._below(np.sort(iou), np.array([0.5, 0.7, 1.0])),
                               [0.2, 0.8, 1.0])


def test_write_report_takes_coverage_reports(tmp_path):
    from tfod_anchors.coverage.metrics import CoverageReport

    wh = boxes_wh(400)
    rng = np.random.default_rng(2)
    iou = rng.uniform(0.3, 0.9, 400)
    report = CoverageReport(best_iou=iou, best_shape=np.zeros(400, np.int64),
                            positives=np.zeros(400, np.int64), shape_iou=iou,
                            unreachable=np.zeros(400, bool),
                            metrics=metrics((100, 0.2), (200, 0.5), (100, 0.8)))
    out = tmp_path / "new" / "report"
    paths = plots.write_report(out, wh, plots.ReportSide(default_frcnn_anchors(), report),
                               title="report")
    assert [p.name for p in paths] == ["shapes.png", "iou_cdf.png", "recall_by_size.png"]
    assert sorted(out.iterdir()) == sorted(paths)
    for p in paths:
        assert p.read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.parametrize("call", [
    lambda p: plot_box_shapes(np.ones((3, 3)), None, p),
    lambda p: plot_box_shapes(np.ones((3, 2)), np.ones(4), p),
    lambda p: plots.plot_iou_cdf(np.array([0.5, 1.5]), None, p),
    lambda p: plots.plot_iou_cdf(np.array([[0.5]]), None, p),
    lambda p: plots.plot_iou_cdf(np.array([0.5]), None, p, matched_threshold=0.0),
    lambda p: plots.plot_recall_by_size({"mean_iou": 0.5}, None, p),
    lambda p: plots.plot_elbow([2, 2], [0.5, 0.6], p),
    lambda p: plots.plot_elbow([2, 3], [0.5], p),
    lambda p: plots.plot_elbow([0], [0.5], p),
])
def test_bad_arguments_are_usage_errors(tmp_path, call):
    with pytest.raises(UsageError):
        call(tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_unwritable_path_is_a_write_error(tmp_path):
    target = tmp_path / "missing-dir" / "x.png"
    with pytest.raises(WriteError, match="cannot write plot") as err:
        plots.plot_elbow([2, 3], [0.5, 0.6], target)
    assert str(target) in str(err.value)


def run_python(script: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_pyplot_is_never_imported(tmp_path):
    done = run_python("""
        import sys
        import numpy as np
        from tfod_anchors import plots
        plots.plot_elbow([2, 3], [0.5, 0.6], "e.png")
        print("matplotlib.pyplot" in sys.modules)
    """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_without_matplotlib_every_plot_is_a_usage_error(tmp_path):
    done = run_python("""
        import sys
        sys.modules["matplotlib"] = None  # the import fails as if it were not installed
        import numpy as np
        from tfod_anchors import plots
        from tfod_anchors.errors import UsageError
        from tfod_anchors.plots.shapes import plot_box_shapes
        calls = [
            lambda: plot_box_shapes(np.ones((2, 2)), None, "a.png"),
            lambda: plots.plot_iou_cdf(np.ones(2), None, "b.png"),
            lambda: plots.plot_recall_by_size({"by_size": {}}, None, "c.png"),
            lambda: plots.plot_elbow([2], [0.5], "d.png"),
        ]
        for call in calls:
            try:
                call()
            except UsageError as err:
                print(err)
            else:
                print("no error")
    """, tmp_path)
    assert done.returncode == 0, done.stderr
    expected = "--plot needs matplotlib: pip install 'tfod-anchors[plot]'"
    assert done.stdout.splitlines() == [expected] * 4
    assert list(tmp_path.iterdir()) == []


def test_shape_axes_span_robust_quantiles_not_degenerate_boxes():
    from tfod_anchors.plots.shapes import axis_span

    # 1000 boxes from 20 to 200 px, plus three degenerate augmented crops of 1e-5 px
    side = np.geomspace(20.0, 200.0, 1000)
    boxes = np.concatenate([np.stack([side, side], 1), np.full((3, 2), 1e-5)])
    lo, hi, outside = axis_span(boxes, [np.array([[32.0, 32.0]])], strides=(16.0,))
    # the 0.5 % and 99.5 % quantiles are real boxes (about 20.1 and 197.7 px), so the
    # span follows the stride and the boxes instead of running ten decades down
    assert outside == 3
    assert lo == pytest.approx(16.0 / 1.6)
    assert hi == pytest.approx(np.quantile(boxes[:, 0], 0.995) * 1.6)
    assert 197 * 1.6 < hi < 198 * 1.6
    lo_all, _, none_out = axis_span(np.stack([side, side], 1), [])
    assert lo_all == pytest.approx(np.quantile(side, 0.005) / 1.6) and none_out == 0


def test_shape_plot_draws_the_stride_and_counts_what_it_leaves_out(tmp_path):
    wh = np.concatenate([boxes_wh(500), np.full((2, 2), 1e-5), np.zeros((1, 2))])
    path = plot_box_shapes(wh, default_frcnn_anchors(), tmp_path / "s.png", strides=(16.0,))
    check_png(path, (726, 682))
    plain = plot_box_shapes(wh, default_frcnn_anchors(), tmp_path / "p.png")
    assert path.read_bytes() != plain.read_bytes()      # the stride lines are drawn


def test_front_right_panel_is_never_the_y_metric():
    from tfod_anchors.plots.front import panels

    assert panels(0.7) == (("mean_iou", "mean IoU"), ("recall_0.5", "recall@0.5"))
    # SSD: 0.5 is the matched threshold (the y axis), so the other recall is 0.7
    assert panels(0.5) == (("mean_iou", "mean IoU"), ("recall_0.7", "recall@0.7"))


def test_front_notes_say_why_a_better_point_was_not_taken():
    from types import SimpleNamespace

    from tfod_anchors.fitting.front import dominates, why_not_taken

    after = {"recall_matched": 0.30, "mean_iou": 0.50, "recall_0.5": 0.60, "recall_0.7": 0.30}
    fit = SimpleNamespace(objective="recall", matched_threshold=0.7, min_gain=0.002,
                          after=after, guard={"mean_iou": 0.49, "band:small": 0.10})
    stride = {"metrics": {**after, "recall_matched": 0.35, "recall_0.7": 0.35},
              "guardable": {"mean_iou": 0.52, "band:small": 0.05},
              "findings": ["anchor_below_stride"]}
    assert dominates(stride["metrics"], after) and not dominates(after, after)
    assert why_not_taken(stride, fit) == ("an anchor below its stride (stride guard); guard "
                                          "floor(s) broken: small-box recall@0.7")
    same_recall = {"metrics": {**after, "mean_iou": 0.6}, "guardable": {}, "findings": []}
    assert why_not_taken(same_recall, fit).startswith(
        "no gain on the objective 'recall' (recall@0.7 0.300 vs 0.300)")
