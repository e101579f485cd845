"""How much search a fit does (``fit --effort low|normal|high`` or a number).

The effort is one positive number; ``normal`` (1) is the search's default budget,
``low`` (0.5) about half of it, ``high`` (3) about three times. It scales the parts of
the search that restarts and longer polishing pay for:

* random starts (the grid generator's pool ascent, the other generators' scans);
* stage A candidates refined on the coarse sample;
* stage A candidates polished on the search sample (the best of them, up to this
  many, whatever the coarse sample's noise says about the others; at ``normal`` the
  best two for the SSD, multiscale and flexible generators, see
  :meth:`Budget.sure_polished`);
* the (1+1) random moves at the end of the finest polish;
* above ``normal``, every polished candidate is measured exactly on all boxes (at
  ``normal`` only the best of a sampled search is), and the polish of a multiscale
  space also tries a soft stage at penalty 1 (:data:`.strategy.EDGE_PENALTIES`; a
  sampled search starts its soft stage at penalty 1 at every effort).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfod_anchors.errors import UsageError

LEVELS = {"low": 0.5, "normal": 1.0, "high": 3.0}
#: The largest effort accepted (the search's time grows about linearly with it).
MAX_EFFORT = 20.0


def parse_effort(value: str | float | int | None) -> float:
    """``"low"``, ``"normal"``, ``"high"`` or a number in (0, 20] -> the effort number.

    Raises:
        UsageError: anything else.
    """
    if value is None:
        return 1.0
    if isinstance(value, str):
        name = value.strip().lower()
        if name in LEVELS:
            return LEVELS[name]
        try:
            number = float(name)
        except ValueError:
            raise UsageError(f"--effort must be low, normal, high or a number in "
                             f"(0, {MAX_EFFORT:g}], got {value!r}") from None
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"effort must be low, normal, high or a number, got {value!r}")
    else:
        number = float(value)
    if not (math.isfinite(number) and 0.0 < number <= MAX_EFFORT):
        raise UsageError(f"--effort must be low, normal, high or a number in "
                         f"(0, {MAX_EFFORT:g}], got {value!r}")
    return number


def effort_name(effort: float) -> str:
    """The level's name when ``effort`` is one, else the number as text."""
    for name, number in LEVELS.items():
        if effort == number:
            return name
    return f"{effort:g}"


@dataclass(frozen=True)
class Budget:
    """The search's counts for one effort (see the module docstring).

    Attributes:
        effort: the number it was made from.
        pool_random_starts: random starts of the grid generator's pool ascent.
        random_starts: random starts of the other generators' coordinate scans.
        coarse_refine: stage A candidates refined on the coarse sample.
        polished: at most this many stage A candidates polished on the search sample.
        polish_all: polish the best ``polished`` whatever the coarse sample's noise
            (False: only those within its noise of the best, as at ``normal``).
        mutations: (1+1) random moves at the end of the finest polish.
        verify_polished: measure every polished candidate exactly (False: on a sampled
            search, only the best by the search sample).
        edge_ladder: the polish of a multiscale space also runs its soft stage at
            penalty 1 before 2, beside the penalty-2 one (about +30 % of an exact fit's
            CPU, twice a sampled one's; see :func:`.strategy.polish`). A sampled
            search runs the penalty-1-then-2 stage alone at every effort
            (:func:`.strategy.soft_ladders`).
    """

    effort: float
    pool_random_starts: int
    random_starts: int
    coarse_refine: int
    polished: int
    polish_all: bool
    mutations: int
    verify_polished: bool
    edge_ladder: bool = False

    def sure_polished(self, coupled: bool) -> int:
        """How many of the best distinct stage A candidates are polished whatever the
        coarse sample's noise says: all of :attr:`polished` above ``normal``; else 2 for
        generators whose fields move several levels at once (SSD, multiscale, flexible:
        two basins of about equal depth are common there, and the coarse sample often
        ranks the shallower first), 1 for the grid."""
        if self.polish_all:
            return self.polished
        return 2 if coupled and self.effort >= 1.0 else 1

    def to_dict(self) -> dict:
        return {"effort": effort_name(self.effort), "pool_random_starts":
                self.pool_random_starts, "random_starts": self.random_starts,
                "coarse_refined": self.coarse_refine, "polished_at_most": self.polished,
                "polish_mutations": self.mutations}


#: The counts at ``normal``: pool random starts, scan random starts, stage A refined,
#: stage A polished at most, (1+1) moves of the finest polish.
POOL_RANDOM_STARTS, RANDOM_STARTS, COARSE_REFINE, POLISHED, MUTATIONS = 12, 2, 3, 3, 100


def budget(effort: float = 1.0) -> Budget:
    """The :class:`Budget` of ``effort`` (1.0: the search's default counts)."""
    more = effort > 1.0
    return Budget(
        effort=effort,
        pool_random_starts=max(2, round(POOL_RANDOM_STARTS * effort)),
        random_starts=max(1, round(RANDOM_STARTS * effort)),
        coarse_refine=max(2, round(COARSE_REFINE * effort)),
        polished=max(2, round(POLISHED * effort)) if more else POLISHED,
        polish_all=more,
        mutations=max(30, round(MUTATIONS * effort)),
        verify_polished=more, edge_ladder=more)


NORMAL = budget(1.0)


def _best(scores: dict[str, list[float]]) -> tuple[str, list[float]] | None:
    return max(scores.items(), key=lambda kv: tuple(kv[1])) if scores else None


def search_effort(plan: Budget, trace: dict[str, Any], found: dict[str, list[Any]],
                  polished: list[tuple[str, Any]], checked: Any) -> dict[str, Any]:
    """What the JSON says about the search done: the budget, how many starts, refined and
    polished candidates and exact measurements there were, the best start (its score on
    the coarse sample: ``[guard, primary, tie-break]``), the best polished candidate
    (on the search sample) and which candidate was written, if any."""
    starts: dict[str, list[float]] = {}
    for label, entry in trace.items():
        scores = {**entry.get("pool", {}).get("starts", {}), **entry.get("scan", {})}
        starts.update({f"{label}/{origin}": score for origin, score in scores.items()})
    out: dict[str, Any] = {
        **plan.to_dict(), "starts": len(starts),
        "refined_on_coarse": sum(len(v) for v in found.values()),
        "polished": len(polished),
        "measured_exactly": sum(1 for t in checked.tried if "exact" in t)}
    best = _best(starts)
    if best is not None:
        out["best_start"] = {"origin": best[0], "coarse_score": best[1]}
    if polished:
        label, cand = polished[0]
        out["best_polished"] = {"origin": f"{label}/{cand.origin}",
                                "search_score": [round(float(v), 6) for v in cand.score]}
    written = None
    if checked.improved and checked.x is not None:
        written = next((f"{label}/{c.origin}" for label, c in polished
                        if np.array_equal(c.x, checked.x)), "fallback")
    out["written"] = written
    return out
