"""``FitOptions``: how a fit searches, validated once at the edge (the API)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tfod_anchors.errors import UsageError
from tfod_anchors.fitting.guard import Guard, as_guard


@dataclass(frozen=True)
class FitOptions:
    """Everything a fit is asked, besides the boxes and the model.

    Attributes:
        objective: what is maximised (:mod:`tfod_anchors.fitting.objective`).
        guard: what may not be given away (:class:`~tfod_anchors.fitting.guard.Guard`).
        seed: seeds the samples and the random starts (same seed, same result).
        num_scales, num_aspect_ratios: change the counts (and anchors per location);
            without them the grid generator tries every split of its count.
        max_boxes_exact: above this many boxes the search uses a stratified sample;
            None: 20 000 where anchors are clipped or pruned (Faster R-CNN), 40 000
            otherwise (the kernel is several times cheaper there).
        unguarded_report: also search without the guard to say what it gave up.
        effort: how hard to search (:mod:`tfod_anchors.fitting.effort`): 1.0 is the
            default budget, 3.0 ``high``, 0.5 ``low``.
    """

    objective: str = "recall"
    guard: Guard = field(default_factory=Guard)
    seed: int = 0
    num_scales: int | None = None
    num_aspect_ratios: int | None = None
    max_boxes_exact: int | None = None
    unguarded_report: bool = True
    effort: float = 1.0

    @classmethod
    def build(cls, *, objective: str = "recall", guard: Guard | str | float | None = None,
              seed: int = 0, num_scales: int | None = None,
              num_aspect_ratios: int | None = None, max_boxes_exact: int | None = None,
              unguarded_report: bool = True, effort: str | float | None = None) -> FitOptions:
        """Validated options from the API's keywords (``guard`` in any form
        :func:`~tfod_anchors.fitting.guard.as_guard` takes).

        Raises:
            UsageError: an unknown objective, a bad guard, ``max_boxes_exact`` below 100,
                an effort that is not low, normal, high or a number in (0, 20].
        """
        from tfod_anchors.fitting.objective import make_objective

        if max_boxes_exact is not None and max_boxes_exact < 100:
            raise UsageError(f"max_boxes_exact must be at least 100, got {max_boxes_exact}")
        guard = as_guard(guard)
        from tfod_anchors.fitting.effort import parse_effort

        make_objective(objective, 0.5, {}, None)  # validates the name before any work
        return cls(objective, guard, seed, num_scales, num_aspect_ratios, max_boxes_exact,
                   unguarded_report, parse_effort(effort))
