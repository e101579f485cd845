"""The guard: what a fit may not give away, and ``--guard`` parsed into it.

A :class:`Guard` holds tolerances (how far each guarded metric may fall below the
config's own value), absolute floors and the two rules (stride, IoU k-means floors);
:func:`as_guard` turns every form the API and the CLI accept into one, once, at the
edge. What the tolerances mean for an objective (:meth:`Guard.tolerances`) is
objective maths and lives in :mod:`.objective`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from tfod_anchors.errors import UsageError

#: ``--guard`` spec keys -> :class:`Guard` attributes.
GUARD_KEYS = {"mean_iou": "mean_iou", "recall_0.5": "recall_0_5",
              "recall_matched": "recall_matched", "recall_0.7": "recall_0_7",
              "bands": "bands", "band_share": "band_share", "stride": "stride",
              "kmeans": "kmeans", "classes": "classes"}
#: ``--guard classes``: tolerance of each class's recall, for classes holding at least
#: ``CLASS_MIN_SHARE`` of the boxes.
DEFAULT_CLASS_TOLERANCE = 0.05
CLASS_MIN_SHARE = 0.01


@dataclass(frozen=True)
class Guard:
    """How far each guarded metric may fall below the config's value (None: not guarded).

    Attributes:
        mean_iou, recall_0_5, recall_matched: absolute tolerances (the primary itself
            is never guarded).
        recall_0_7: tolerance of recall@0.7 where the matched threshold is below 0.7.
        bands: tolerance of each size band's matcher recall; ``band_share``: the share
            of boxes a band needs to be guarded.
        stride: keep the smallest anchor at least its stride (unless the config is
            already below it).
        minimum: absolute floors ``((metric, value), ...)`` on top of the tolerances
            (``--guard mean_iou>=0.70``): with them an objective names any point of
            the trade-off front ("most recall with mean IoU at least 0.70").
        kmeans: for generators that hold free shapes (a one-layer flexible grid), the
            mean IoU and recall@0.5 of the IoU k-means set are floors too
            (:mod:`tfod_anchors.fitting.reference`).
        classes: tolerance of each class's matcher recall (``--guard classes``; off by
            default), for classes holding at least ``class_share`` of the boxes. The
            search does not steer by them: they are checked on each candidate's exact
            measurement, and a candidate breaking one is not taken.
        explicit: the attributes a ``--guard`` spec set (:meth:`parse`), which
            :meth:`for_shape_rule` keeps.
    """

    mean_iou: float | None = 0.01
    recall_0_5: float | None = 0.01
    recall_matched: float | None = 0.01
    recall_0_7: float | None = 0.01
    bands: float | None = 0.05
    band_share: float = 0.05
    stride: bool = True
    minimum: tuple[tuple[str, float], ...] = ()
    kmeans: bool = True
    classes: float | None = None
    class_share: float = CLASS_MIN_SHARE
    explicit: frozenset[str] = field(default=frozenset(), compare=False)

    @classmethod
    def off(cls) -> Guard:
        """No guard at all (the search may trade anything for the primary)."""
        return cls(None, None, None, None, None, 0.05, False, (), False)

    @classmethod
    def parse(cls, spec: str | None) -> Guard:
        """A guard from ``KEY=VALUE[,KEY=VALUE...]`` over the defaults; ``off`` or
        ``none`` switches everything off. Keys: ``mean_iou``, ``recall_0.5``,
        ``recall_matched``, ``recall_0.7``, ``bands``, ``classes`` (tolerances, or
        ``off``; ``classes`` alone is 0.05), ``band_share`` (share of boxes), ``stride``
        and ``kmeans`` (``on``/``off``); and
        ``METRIC>=VALUE`` for an absolute floor of ``mean_iou``, ``recall_0.5``,
        ``recall_matched`` or ``recall_0.7``.

        Raises:
            UsageError: unknown key or bad value.
        """
        if spec is None or not spec.strip():
            return cls()
        if spec.strip().lower() in ("off", "none"):
            return cls.off()
        guard = cls()
        for item in spec.split(","):
            if item.strip().lower() in ("classes", "classes=on"):
                guard = replace(guard, classes=DEFAULT_CLASS_TOLERANCE)
                continue
            if ">=" in item:
                key, _, value = item.partition(">=")
                key = key.strip()
                try:
                    number = float(value)
                except ValueError:
                    number = math.nan
                from tfod_anchors.fitting.objective import WEIGHT_KEYS

                if key not in WEIGHT_KEYS or not 0.0 <= number <= 1.0:
                    raise UsageError(f"--guard {item.strip()!r}: expected METRIC>=VALUE with "
                                     f"METRIC one of {', '.join(WEIGHT_KEYS)} and 0 <= VALUE "
                                     "<= 1")
                guard = replace(guard, minimum=(*guard.minimum, (key, number)))
                continue
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip().lower()
            if not sep or key not in GUARD_KEYS:
                raise UsageError(f"--guard {spec!r}: expected KEY=VALUE with KEY one of "
                                 f"{', '.join(GUARD_KEYS)}")
            attr = GUARD_KEYS[key]
            guard = replace(guard, explicit=guard.explicit | {attr})
            if attr in ("stride", "kmeans"):
                if value not in ("on", "off", "true", "false"):
                    raise UsageError(f"--guard {key}={value}: use on or off")
                changes: dict[str, Any] = {attr: value in ("on", "true")}
                guard = replace(guard, **changes)
                continue
            if value in ("off", "none") and attr != "band_share":
                changes = {attr: None}
                guard = replace(guard, **changes)
                continue
            try:
                number = float(value)
            except ValueError:
                number = -1.0
            if not math.isfinite(number) or number < 0 or (attr == "band_share"
                                                            and number > 1):
                raise UsageError(f"--guard {key}={value}: expected a number >= 0 or off")
            changes = {attr: number}
            guard = replace(guard, **changes)
        return guard

    def for_shape_rule(self) -> Guard:
        """This guard for a matcher whose positives follow a shape-only rule (YOLO's,
        ``MatcherSpec.shape_rule``): recall@0.5 and recall@0.7 are positioned IoU at zero
        logits there, which no YOLO labeler or loss uses, so their tolerances are dropped
        unless the ``--guard`` spec set them. The rule's own recall (whole set and per
        size band) and mean IoU stay guarded; absolute floors (``recall_0.5>=V``) stay."""
        keep = self.explicit
        return replace(self, recall_0_5=self.recall_0_5 if "recall_0_5" in keep else None,
                       recall_0_7=self.recall_0_7 if "recall_0_7" in keep else None)

    def tolerances(self, name: str, matched: float) -> dict[str, float]:
        """``{metric: tolerance}`` guarded for objective ``name`` at threshold ``matched``
        (bands excluded; see :meth:`band_floors`)."""
        from tfod_anchors.fitting.objective import WEIGHT_KEYS, objective_weights

        weights = dict(zip(WEIGHT_KEYS, objective_weights(name)))
        thresholds = {"recall_matched": matched, "recall_0.5": 0.5, "recall_0.7": 0.7}
        sole = [k for k, w in weights.items() if w > 0]
        primary = sole[0] if len(sole) == 1 else None
        wanted = {"mean_iou": self.mean_iou, "recall_0.5": self.recall_0_5,
                  "recall_matched": self.recall_matched}
        if matched < 0.7 - 1e-6:
            wanted["recall_0.7"] = self.recall_0_7
        out: dict[str, float] = {}
        for key, tol in wanted.items():
            if tol is None or key == primary:
                continue
            thr = thresholds.get(key)
            if thr is not None and primary in thresholds and abs(thr - thresholds[primary]) < 1e-6:
                continue  # the primary is the recall at this very threshold
            if thr is not None and any(abs(thr - thresholds[k]) < 1e-6
                                       for k in out if k in thresholds):
                continue  # the same recall under another name
            out[key] = float(tol)
        return out

    def to_dict(self) -> dict:
        return {"mean_iou": self.mean_iou, "recall_0.5": self.recall_0_5,
                "recall_matched": self.recall_matched, "recall_0.7": self.recall_0_7,
                "bands": self.bands, "band_share": self.band_share, "stride": self.stride,
                "minimum": dict(self.minimum), "kmeans": self.kmeans,
                "classes": self.classes, "class_share": self.class_share}




def as_guard(value: Guard | str | float | None) -> Guard:
    """The guard of a fit from what the API accepts: a :class:`Guard`, a ``--guard``
    spec string (:meth:`Guard.parse`), a number (that tolerance for the whole-set
    metrics, the rest as the default guard) or None (the default guard).

    Raises:
        UsageError: a bad spec, or a negative tolerance.
    """
    if value is None:
        return Guard()
    if isinstance(value, Guard):
        return value
    if isinstance(value, str):
        return Guard.parse(value)
    if value < 0:
        raise UsageError(f"guard tolerance must be >= 0, got {value}")
    return Guard(value, value, value, value,
                 explicit=frozenset(("mean_iou", "recall_0_5", "recall_matched", "recall_0_7")))
