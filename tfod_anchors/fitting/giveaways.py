"""Size bands a fit gives away, said out loud.

The guard keeps every COCO size band holding at least ``band_share`` (5 %) of the
boxes; a smaller band may lose any recall. That stays (a band of 1 % of the boxes
should not veto the fit), but a loss above :data:`BAND_LOSS` of a band's recall at the
matched threshold is reported, with its box count and the ``--guard`` that would keep
it, on the fitted boxes and (augmented fits) on the static boxes.
"""

from __future__ import annotations

import math
from typing import Any

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
                        f"{describe_metric('recall_matched', matched)} {r0:.3f} -> {r1:.3f} "
                        f"(more than {BAND_LOSS:g}); {keep} keeps that band")})
    return out
