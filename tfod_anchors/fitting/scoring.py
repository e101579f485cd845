"""How a fit scores candidates on one of its samples: the boxes' columns, the config's
start metrics on them and, per parameterisation, a scorer (evaluator and guarded objective).

An augmented fit also guards its static boxes: :class:`SampleScoring` then scores every
candidate on a static sample too (the evaluator's ``second``, metrics prefixed
``"static:"``) and adds the static guard's floors to the search objective.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.coverage.metrics import METRIC_KEYS
from tfod_anchors.fitting.evaluator import ColumnStore, Counting, Evaluator
from tfod_anchors.fitting.objective import BAND_PREFIX, STATIC_PREFIX, Guard, make_objective
from tfod_anchors.fitting.problem import Problem, other_geometry
from tfod_anchors.fitting.sample import Sample, coarse_and_search, half_width
from tfod_anchors.fitting.strategy import Scorer

#: What a sampled search keeps in reserve of the whole-set metrics' tolerances.
SAMPLED_MARGIN = 0.002


def margins(sample: Sample, ev: Evaluator, x: np.ndarray, bands: tuple[str, ...],
            tol: float | None) -> dict[str, float]:
    """How much of each tolerance a sampled search keeps in reserve: 0.002 for the
    whole-set metrics, the 95 % bound of each band's recall at ``x`` (at most half the
    band tolerance)."""
    if sample.exact:
        return {}
    out = {k: SAMPLED_MARGIN for k in METRIC_KEYS}
    if ev.bands is None or tol is None:
        return out
    hit = ev.hit(x).astype(np.float64)
    for name, row in zip(ev.bands.names, ev.bands.matrix):
        inband = row > 0
        share = float(sample.weight[inband].sum() / sample.weight.sum())
        if share > 0:
            out[BAND_PREFIX + name] = min(0.5 * tol,
                                          half_width(sample, hit * inband) / share)
    return out


@dataclass(frozen=True)
class StaticSide:
    """The static boxes of an augmented fit, as the search guards them: their sample
    (same size as the augmented one), its column store, its guarded size bands and
    the floors on them (keys prefixed ``"static:"``)."""

    sample: Sample
    store: ColumnStore
    bands: tuple[str, ...]
    floors: dict[str, float]


class SampleScoring:
    """The scoring of one sample: a shared column store, the config's start metrics
    on it and one :class:`Scorer` per option (:meth:`scorer`). With ``static`` (an
    augmented fit: the static boxes, their sample, guard and bands), every candidate is
    also scored on
    the static sample and the objective guards it there too (``"static:"`` floors),
    so that the search looks where the exact static guard of :mod:`.verify` holds.
    With ``smooth`` every recall but the bands' is smoothed (:func:`.objective.metrics_of`),
    the start and the floors too, so they stay comparable."""

    def __init__(self, own: Problem, sample: Sample, objective: str, guard: Guard | None,
                 bands: tuple[str, ...],
                 static: tuple[ResizedBoxes, Sample, Guard, tuple[str, ...]] | None = None,
                 smooth: float = 0.0):
        self.sample = sample
        self.smooth = smooth
        self.store = ColumnStore(own.geometry(sample.index))
        start_ev = Evaluator(self.store, sample.weight, own.space, own.matched, bands,
                             counting=Counting(own.rule, smooth))
        self.start_best = start_ev.best(own.space.x0)
        self.start = start_ev.metrics_at(own.space.x0)
        self.config_evaluator = start_ev
        tol = guard.bands if guard is not None else None
        self.margins = margins(sample, start_ev, own.space.x0, bands, tol)
        self.objective, self.guard, self.bands = objective, guard, bands
        self.static: StaticSide | None = None
        if static is not None and guard is not None:
            boxes, s_sample, s_guard, s_bands = static
            store = ColumnStore(other_geometry(own, boxes, s_sample.index))
            s_ev = Evaluator(store, s_sample.weight, own.space, own.matched, s_bands,
                             counting=Counting(own.rule, smooth))
            start = s_ev.metrics_at(own.space.x0)
            floors = make_objective(
                objective, own.matched, start, s_guard, bands=s_bands,
                margins=margins(s_sample, s_ev, own.space.x0, s_bands, s_guard.bands)).floors
            if floors:  # with no floor there (--guard off) it would only cost time
                self.static = StaticSide(s_sample, store, s_bands,
                                         {STATIC_PREFIX + k: v for k, v in floors.items()})

    def scorer(self, problem: Problem) -> Scorer:
        side = self.static
        second = None if side is None else Evaluator(
            side.store, side.sample.weight, problem.space, problem.matched, side.bands,
            counting=Counting(problem.rule, self.smooth))
        ev = Evaluator(self.store, self.sample.weight, problem.space, problem.matched,
                       self.bands, problem.constraint, second,
                       Counting(problem.rule, self.smooth))
        obj = make_objective(self.objective, problem.matched, self.start, self.guard,
                             bands=self.bands, margins=self.margins)
        if side is not None:
            obj = replace(obj, floors={**obj.floors, **side.floors})
        return Scorer(ev, obj, self.start)

    def release(self) -> None:
        """Forget the cached columns of this scoring's stores (:meth:`ColumnStore.release`)."""
        self.store.release()
        if self.static is not None:
            self.static.store.release()

    def same_samples(self, other_sample: Sample, other_static: Sample | None,
                     smooth: float = 0.0) -> bool:
        """Whether scoring on ``other_sample`` (and static ``other_static``) with
        ``smooth`` would be these: every sample exact and of the same size, the same
        smoothing."""
        same = self.sample.exact and other_sample.exact and smooth == self.smooth and \
            self.sample.index.size == other_sample.index.size
        if self.static is not None and other_static is not None:
            same = same and self.static.sample.exact and other_static.exact and \
                self.static.sample.index.size == other_static.index.size
        return same


def static_samples(static: ResizedBoxes, seed: int, max_boxes: int, n_coarse: int
                   ) -> tuple[Sample, Sample]:
    """``(coarse sample, search sample)`` of the static boxes of an augmented fit, drawn
    as the augmented boxes' (content-keyed, the same sizes)."""
    shapes, group = static.padded_groups()
    drawn = coarse_and_search(static.boxes, shapes.astype(np.float64)[group], group, seed,
                              max_boxes, n_coarse)
    return drawn.coarse, drawn.search
