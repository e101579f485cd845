"""Size bands a fit gives away, said out loud.

The guard keeps every COCO size band holding at least ``band_share`` (5 %) of the
boxes; a smaller band may lose any recall. That stays (a band of 1 % of the boxes
should not veto the fit), but a loss above :data:`BAND_LOSS` of a band's recall at the
matched threshold is reported, with its box count and the ``--guard`` that would keep
it, on the fitted boxes and (augmented fits) on the static boxes.

Likewise an aspect-ratio slot that is the best anchor of fewer than 1 % of the boxes
(:func:`thin_ratio_slots`) is named: a slot the search spent on a few outliers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tfod_anchors.boxes import ResizedBoxes
from tfod_anchors.coverage.best_iou import layout_shapes
from tfod_anchors.fitting.objective import describe_metric

#: A band losing more than this much recall at the matched threshold is reported.
BAND_LOSS = 0.10


def _keep_flag(share: float, guard_spec: dict[str, Any]) -> str:
    """The ``--guard`` that puts a band of ``share`` of the boxes under the guard (its
    share rounded down to 0.1 %, at least 0.001; the bands back on when they were off)."""
    floor = max(0.001, math.floor(share * 1000.0) / 1000.0)
    parts = [] if guard_spec.get("bands") is not None else ["bands=0.05"]
    if share < float(guard_spec.get("band_share", 0.05)):
        parts.append(f"band_share={floor:g}")
    return f"--guard {','.join(parts) or 'bands=0.05'}"


def band_giveaways(before: dict[str, Any], after: dict[str, Any], matched: float,
                   guard_spec: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """Bands of ``before``/``after`` (``coverage`` metrics with ``by_size``) whose recall at
    ``matched`` drops by more than :data:`BAND_LOSS`: ``[{band, boxes, share, before,
    after, keep, message}]`` (``where``: which boxes, for the message)."""
    sizes_b, sizes_a = before.get("by_size") or {}, after.get("by_size") or {}
    rule = before.get("matched_rule")
    total = sum(int(v.get("count") or 0) for v in sizes_b.values())
    out = []
    for band, b in sizes_b.items():
        count = int(b.get("count") or 0)
        a = sizes_a.get(band) or {}
        if not count or b.get("recall_matched") is None or a.get("recall_matched") is None:
            continue
        r0, r1 = float(b["recall_matched"]), float(a["recall_matched"])
        if r0 - r1 <= BAND_LOSS:
            continue
        share = count / total
        keep = _keep_flag(share, guard_spec)
        out.append({
            "band": band, "boxes": count, "share": round(share, 6), "before": round(r0, 6),
            "after": round(r1, 6), "keep": keep,
            "message": (f"{band} boxes ({count} of the {where}, {100 * share:.1f}%) lose "
                        f"{describe_metric('recall_matched', matched, rule)} {r0:.3f} -> "
                        f"{r1:.3f} "
                        f"(more than {BAND_LOSS:g}); {keep} keeps that band")})
    return out


#: An aspect-ratio slot whose anchors are the best anchor of fewer than this share of
#: the boxes is named in the output (a whole slot spent on crop slivers, say).
THIN_SLOT = 0.01


def ratio_slot_shares(best_shape: np.ndarray, resized: ResizedBoxes,
                      layout_for: Callable[[tuple[int, int]], Any],
                      ratios: list[float]) -> np.ndarray:
    """float64 ``[R]``: the share of boxes whose best anchor (``best_shape``, int ``[N]``,
    as :class:`~tfod_anchors.coverage.metrics.CoverageReport` gives it) has each of the
    generator's ``ratios`` (width / height; a shape counts for the ratio nearest its own
    in log, so SSD's interpolated square anchor counts for ratio 1)."""
    logs = np.log(np.asarray(ratios, dtype=np.float64))
    counts = np.zeros(len(ratios), dtype=np.float64)
    n = 0
    for shape, members in resized.group_indices():
        sizes = layout_shapes(layout_for(shape))
        if not sizes.shape[0]:
            continue
        slot = np.abs(np.log(sizes[:, 1] / sizes[:, 0])[:, None] - logs[None, :]).argmin(1)
        best = best_shape[members]
        hit = best >= 0
        counts += np.bincount(slot[best[hit]], minlength=len(ratios))
        n += int(members.size)
    return counts / max(n, 1)


def thin_ratio_slots(best_shape: np.ndarray, resized: ResizedBoxes,
                     layout_for: Callable[[tuple[int, int]], Any], ratios: list[float]
                     ) -> list[dict[str, Any]]:
    """The aspect-ratio slots whose anchors are the best of fewer than :data:`THIN_SLOT`
    of the boxes: ``[{"aspect_ratio", "boxes", "share"}]``."""
    shares = ratio_slot_shares(best_shape, resized, layout_for, ratios)
    n = resized.num_boxes
    return [{"aspect_ratio": float(r), "boxes": int(round(s * n)), "share": round(float(s), 6)}
            for r, s in zip(ratios, shares) if s < THIN_SLOT]
