"""The fit's search steps (see :mod:`.fit`): the coarse search, then the refinement.

:func:`coarse_search` runs every parameterisation on the coarse sample (for the grid
generator, a pool ascent per split first; only the splits close to the best go on);
:func:`choose_for_refinement` keeps the best candidates within the sample's noise;
:func:`refine` refines them on the search sample beside the unguarded search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tfod_anchors.anchors.multiscale import MultiscaleAnchorGenerator
from tfod_anchors.anchors.ssd import SsdAnchorGenerator
from tfod_anchors.fitting.background import Background
from tfod_anchors.fitting.dominance import alternative_points
from tfod_anchors.fitting.evaluator import Evaluator
from tfod_anchors.fitting.objective import WEIGHT_KEYS, Objective, guard_floors
from tfod_anchors.fitting.plan import FitPlan, Samples
from tfod_anchors.fitting.sample import Sample, half_width
from tfod_anchors.fitting.scoring import SampleScoring
from tfod_anchors.fitting.search import Candidate
from tfod_anchors.fitting.strategy import (
    GridPool,
    Scorer,
    grid_ascent,
    grid_pool,
    polish_search,
    rounded_score,
)
from tfod_anchors.fitting.strategy import coarse_search as coarse_candidates
from tfod_anchors.fitting.unguarded import unguarded_best

#: At most this many splits are refined in the coarse search (after their pool ascent) ...
MAX_SPLITS = 2
#: ... and this many coarse candidates go on to the refinement (when the search boxes
#: are a sample, its noise makes a third not worth it).
MAX_POLISHED = 3
MAX_POLISHED_SAMPLED = 2
#: Ramp width (IoU) of the recalls the coarse search of :data:`SMOOTHED` generators
#: maximises (:func:`.objective.smooth_recall`; the refinement is exact). On a sample
#: of a quarter of the boxes, the exact recall of these generators has many shallow
#: local maxima a few boxes apart along the ridge between the size field and the
#: ratios; which one a coarse search climbed depended on the seed's sample and moved
#: the fitted recall by up to 0.01 between seeds. The ramp counts a box near the
#: threshold by how near it is, which leaves the broad basins and removes the ripples.
COARSE_SMOOTH = 0.1
SMOOTHED = (SsdAnchorGenerator.kind, MultiscaleAnchorGenerator.kind)
# --- step 4: the coarse search ---------------------------------------------------------------


def _contribution(obj: Objective, ev: Evaluator, x: np.ndarray) -> np.ndarray:
    """float64 ``[B]`` each box's share of the primary of candidate ``x`` (its weighted
    mean is the primary)."""
    best = ev.best(x)
    parts = {"recall_matched": ev.hit(x),
             "mean_iou": best.astype(np.float64), "recall_0.5": best >= np.float32(0.5),
             "recall_0.7": best >= np.float32(0.7)}
    out = np.zeros(best.shape, dtype=np.float64)
    for key, w in zip(WEIGHT_KEYS, obj.weights):
        if w:
            out += float(w) * np.asarray(parts[key], dtype=np.float64)
    return out


def _close_to_best(found: dict[str, list[Candidate]], scorers: dict[str, Scorer],
                   coarse: Sample, needed: float, most: int, sure: int = 1
                   ) -> list[tuple[str, Candidate]]:
    """The best candidate, plus every other (of any split) whose score is within the
    coarse sample's noise (paired 95 % bound of the primary difference) or the
    minimum gain of it; the first ``sure`` distinct ones whatever their score; at most
    ``most``, best first."""
    ranked = sorted(((label, c) for label, cs in found.items() for c in cs),
                    key=lambda lc: lc[1].score, reverse=True)
    lead_label, lead = ranked[0]
    lead_contrib = _contribution(scorers[lead_label].objective, scorers[lead_label].evaluator,
                                 lead.x)
    keep = [ranked[0]]
    seen = {(lead_label, tuple(np.round(lead.x, 6)))}
    for label, c in ranked[1:]:
        key = (label, tuple(np.round(c.x, 6)))
        if c.score[0] < lead.score[0] or len(keep) >= most or key in seen:
            continue
        seen.add(key)
        if len(keep) < sure:
            keep.append((label, c))
            continue
        other = _contribution(scorers[label].objective, scorers[label].evaluator, c.x)
        noise = half_width(coarse, lead_contrib - other)
        if lead.score[1] - c.score[1] <= max(noise, needed):
            keep.append((label, c))
    return keep


@dataclass
class CoarseResult:
    """Step 4's outcome.

    Attributes:
        scoring: the coarse sample's scoring; ``scorers``: one per option.
        pool: the grid generator's shared pool of shapes, or None.
        pooled: per option, the pool ascent's candidates (grid generator only).
        searched: the options whose coarse search ran (the splits close to the best).
        found: per searched option, its candidates, best first.
        trace: per option, JSON-ready scores of every search.
    """

    scoring: SampleScoring
    scorers: dict[str, Scorer]
    pool: GridPool | None
    pooled: dict[str, list[Candidate]]
    searched: list[str]
    found: dict[str, list[Candidate]]
    trace: dict[str, Any]


def _static_side(p: FitPlan, part: Sample | None) -> tuple | None:
    """What a scoring needs to guard the static boxes, on their sample ``part``."""
    return None if p.static is None or part is None else \
        (p.static, part, p.static_guard, p.static_bands)


def coarse_smooth(p: FitPlan) -> float:
    """The coarse search's ramp width: :data:`COARSE_SMOOTH` for the :data:`SMOOTHED`
    generators, 0 (exact) for the others."""
    return COARSE_SMOOTH if p.own.space.kind in SMOOTHED else 0.0


def coarse_search(p: FitPlan, samples: Samples, extra: list[tuple[str, np.ndarray]],
                  rng: np.random.Generator) -> CoarseResult:
    """Step 4: every option on the coarse sample (for the grid generator, a pool ascent
    per split first; only the splits close to the best search on)."""
    coarse = samples.coarse
    scoring = SampleScoring(p.own, coarse, p.settings.objective, p.guard, p.bands,
                            _static_side(p, samples.static_coarse), coarse_smooth(p))
    scorers = {label: scoring.scorer(problem) for label, problem in p.options.items()}
    pool = None
    searched = list(p.options)
    pooled: dict[str, list[Candidate]] = {}
    trace: dict[str, Any] = {}
    if p.own.space.split_counts is not None:
        pool = GridPool(*grid_pool(p.own, scoring.config_evaluator, coarse.weight))
        for label, problem in p.options.items():
            pooled[label], trace[label] = grid_ascent(
                scorers[label].evaluator, problem, scorers[label].objective, coarse, rng, pool,
                p.budget)
        searched = list(dict.fromkeys(label for label, _ in _close_to_best(
            {k: v[:1] for k, v in pooled.items()}, scorers, coarse, p.needed, MAX_SPLITS)))
    found: dict[str, list[Candidate]] = {}
    for label in searched:
        found[label], more = coarse_candidates(p.options[label], scorers[label], coarse, rng,
                                               pooled.get(label), pool, extra, p.budget)
        trace.setdefault(label, {}).update(more)
    return CoarseResult(scoring, scorers, pool, pooled, searched, found, trace)


# --- step 5: the refinement ------------------------------------------------------------------


def choose_for_refinement(p: FitPlan, samples: Samples, coarse: CoarseResult
                          ) -> list[tuple[str, Candidate]]:
    """The coarse candidates worth refining: the best, and those within the coarse
    sample's noise of it (at most 3, or 2 when the search boxes are a sample); the
    effort's :meth:`~.effort.Budget.sure_polished` best whatever the noise."""
    return _close_to_best(coarse.found, coarse.scorers, samples.coarse, p.needed,
                          p.budget.polished if p.budget.polish_all or samples.search.exact
                          else MAX_POLISHED_SAMPLED,
                          p.budget.sure_polished(p.own.space.split_counts is None))


@dataclass
class Refined:
    """Step 5's outcome: the coarse candidates refined (``to_polish``, from the options
    ``chosen``), the search sample's ``scoring``, the refined candidates best first
    (``[(label, candidate)]``), the unguarded search's best (None when not run) and the
    other objectives' unguarded points (:func:`.dominance.alternative_points`)."""

    to_polish: list[tuple[str, Candidate]]
    chosen: list[str]
    scoring: SampleScoring
    polished: list[tuple[str, Candidate]]
    free: Candidate | None
    alternatives: list[tuple[str, Candidate]]


def refine(p: FitPlan, samples: Samples, coarse: CoarseResult,
           to_polish: list[tuple[str, Candidate]], rng: np.random.Generator) -> Refined:
    """Step 5: the candidates ``to_polish`` (:func:`choose_for_refinement`) refined on the
    search sample, the lead here and the rest, then the unguarded search, on the other
    core."""
    sample = samples.search
    chosen = list(dict.fromkeys(label for label, _ in to_polish))
    scoring = coarse.scoring if coarse.scoring.same_samples(sample, samples.static_search, 0.0) \
        else SampleScoring(p.own, sample, p.settings.objective, p.guard, p.bands,
                           _static_side(p, samples.static_search))
    fine = {label: scoring.scorer(p.options[label]) for label in chosen}
    seeds = [int(rng.integers(0, 2**31)) for _ in to_polish]
    lead = to_polish[0][0]

    def free_search() -> Candidate | None:
        if not (p.settings.unguarded_report
                and guard_floors(p.settings.objective, p.own.matched, p.guard, p.bands)):
            return None
        return unguarded_best(p.options[lead], coarse.scorers[lead], coarse.found[lead],
                              coarse.pool)

    def polish_one(i: int) -> list[Candidate]:
        label, cand = to_polish[i]
        return polish_search(p.options[label], fine[label], [cand], sample, seeds[i],
                             p.budget)

    with Background(lambda: ([polish_one(i) for i in range(1, len(to_polish))],
                             free_search(), alternative_points(
        p.options[lead], coarse.scorers[lead], coarse.found[lead], coarse.pool,
        p.settings.objective, p.settings.unguarded_report))) as other:
        lead_polished = polish_one(0)
        rest, free, alternatives = other.result()
    polished: list[tuple[str, Candidate]] = []
    for (label, _), cands in zip(to_polish, [lead_polished, *rest]):
        for c in cands:
            polished.append((label, c))
            coarse.trace[label].setdefault("refined", {})[c.origin] = rounded_score(c.score)
    polished.sort(key=lambda lc: lc[1].score, reverse=True)
    return Refined(to_polish, chosen, scoring, polished, free, alternatives)
