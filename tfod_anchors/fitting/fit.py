"""``fit_generator``: the model's own anchors, refitted to the boxes, in named steps.

:func:`fit` runs them in this order (steps 1-3 in :mod:`.plan`, 4-5 in
:mod:`.coarse_refine`, 6-7 in :mod:`.decide`):

1. :func:`plan` — group boxes by padded shape and take each shape's anchor layout
   (:mod:`.problem`); the parameterisations to try are the config's own counts or,
   for ``grid_anchor_generator`` without explicit counts, every scales x ratios
   split of the same anchors-per-location count (12 = 4 x 3, 6 x 2, 3 x 4, 2 x 6:
   the box predictor only sees the count, so checkpoints still restore);
2. :func:`score_config` — the config's exact coverage on all boxes, started in the
   background (the other core) while the next steps run;
3. :func:`draw_samples` — the search boxes (all of them up to ``max_boxes_exact``,
   else a seeded stratified sample), a smaller coarse sample and the screen's sample,
   all keyed on box content, so the input order never matters (:mod:`.sample`); for a
   free-shape generator, the IoU k-means floors (:func:`kmeans_floors`); for a free set
   across levels (YOLO's boxes), IoU k-means starts (:mod:`.shape_seeds`);
4. :func:`coarse_search` — on the coarse sample, for every split (they share the pool
   of shapes and its columns); the best split, and any other whose coarse score is
   within the sample's noise of it (a paired 95 % bound) or within the minimum gain,
   go on to
5. :func:`refine` — on the search sample (:mod:`.strategy`), beside the unguarded
   search that says what the guard gave up (:mod:`.unguarded`);
6. :func:`~.decide.verify_exactly` — the candidates measured exactly on all boxes,
   after the ``check`` rules (:mod:`.verify`) and, on large sampled fits, a screen that
   turns away those that miss a guard floor beyond doubt (:mod:`.screen`); a fit on
   augmented draws keeps the guard on the static boxes too, measured exactly;
7. :func:`~.decide.decide` — the best wins if it keeps the guard and gains at least
   ``max(0.002, 10 / N)`` (:mod:`.objective`): the :class:`FitResult`.

The search vocabulary: a *sample* is a set of boxes the search scores on; its
*scoring* (:class:`~.scoring.SampleScoring`) holds their columns and one *scorer*
(evaluator + guarded objective) per parameterisation. "Stage" is kept for the data
flow of ``docs/architecture.md``. Written values are rounded to 4 significant
decimals before any final scoring.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.errors import InputError
from tfod_anchors.fitting.background import Background, Clock
from tfod_anchors.fitting.coarse_refine import (
    CoarseResult,
    Refined,
    choose_for_refinement,
    coarse_search,
    refine,
)
from tfod_anchors.fitting.options import FitOptions
from tfod_anchors.fitting.plan import (  # noqa: F401  (COARSE_BOXES... re-exported)
    COARSE_BOXES,
    DEFAULT_MAX_BOXES_EXACT,
    KmeansFloors,
    Samples,
    draw_samples,
    kmeans_floors,
    plan,
    score_config,
    splits,
)
from tfod_anchors.fitting.result import FitResult
from tfod_anchors.fitting.rule_sample import rule_coarse
from tfod_anchors.fitting.shape_seeds import shape_seeds
from tfod_anchors.frameworks import ModelSpec, as_spec

# --- the fit ---------------------------------------------------------------------------------


@dataclass
class Searched:
    """What steps 3-5 found, for the exact verification and the decision."""

    samples: Samples
    floors: KmeansFloors
    coarse: CoarseResult
    refined: Refined


def fit(resized: ResizedBoxes, model: ModelSpec, settings: FitOptions, *,
        progress: Callable[[str], None] | None = None,
        static: ResizedBoxes | None = None) -> FitResult:
    """The seven steps of the module docstring, in order (see :func:`fit_generator`).

    Raises:
        InputError: no boxes; ConfigError: nothing fittable; UsageError: bad counts.
    """
    from tfod_anchors.fitting.decide import decide, verify_exactly

    t0 = time.perf_counter()
    clock = Clock()
    say = progress or (lambda _msg: None)
    if resized.num_boxes == 0:
        raise InputError("no boxes to fit anchors to")
    p = plan(resized, model, settings, static)
    with Background(lambda: score_config(p)) as before_job:
        samples = draw_samples(p)
        p, floors = kmeans_floors(p, samples.search)
        # k-means sets as points of the space searched: the config's, or a changed count's
        searched_problem = next(iter(p.options.values())) if len(p.options) == 1 else p.own
        starts = floors.extra + shape_seeds(searched_problem, samples.search, settings.seed)
        samples = replace(samples, coarse=rule_coarse(
            searched_problem, p.matcher.shape_rule, samples.coarse,
            [searched_problem.space.x0, *(x for _, x in starts)], settings.seed))
        say(f"searching on {samples.coarse.size} then {samples.search.size} of "
            f"{resized.num_boxes} boxes"
            + (f"; splits {', '.join(p.options)}" if len(p.options) > 1 else ""))
        rng = np.random.default_rng(settings.seed)
        clock.lap("setup")
        coarse = coarse_search(p, samples, starts, rng)
        to_polish = choose_for_refinement(p, samples, coarse)
        say(f"coarse search done in {time.perf_counter() - t0:.1f} s"
            + (f"; polishing {', '.join(dict.fromkeys(label for label, _ in to_polish))}"
               if len(p.options) > 1 else ""))
        clock.lap("coarse")
        searched = Searched(samples, floors, coarse, refine(p, samples, coarse, to_polish, rng))
        if searched.refined.scoring is not coarse.scoring:  # the coarse search is over:
            coarse.scoring.release()  # its columns' memory serves the exact verification
        say(f"search done in {time.perf_counter() - t0:.1f} s; checking on all boxes")
        clock.lap("polish")
        before = before_job.result()
    clock.lap("coverage_before")
    exact = verify_exactly(p, searched, before)
    clock.lap("verify")
    return decide(p, searched, exact, clock, t0, say)


def fit_generator(resized: ResizedBoxes, cfg: ModelSpec | Any, *,
                  progress: Callable[[str], None] | None = None,
                  static: ResizedBoxes | None = None, **options: Any) -> FitResult:
    """Fit the model's anchor parameters to ``resized`` boxes.

    Args:
        resized: boxes in pixels of the resized image (the model's resizer); their
            order does not matter.
        cfg: a model spec, a ``TrainEvalPipelineConfig`` (either schema) or TFOD's
            configs dict.
        progress: called with one-line status messages.
        static: when ``resized`` are augmented draws, the static boxes: the guard (its
            tolerances, not its absolute floors) must hold on them too, against the
            config's own coverage of them; the result reports ``static_before`` and
            ``static_after``.
        options: the keywords of :meth:`FitOptions.build` (``objective``, ``seed``,
            ``num_scales``, ``num_aspect_ratios``, ``max_boxes_exact``, ``guard``: a
            :class:`Guard`, a ``--guard`` spec, a number (that tolerance for the whole-set
            metrics) or None, ``unguarded_report``, ``effort``).
    Raises:
        UsageError: bad options; InputError: no boxes; ConfigError: no fittable generator.
    """
    if resized.num_boxes == 0:
        raise InputError("no boxes to fit anchors to")
    return fit(resized, as_spec(cfg), FitOptions.build(**options), progress=progress,
               static=static)
