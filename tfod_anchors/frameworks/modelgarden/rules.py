"""``check`` rules for a resolved Model Garden experiment (the nested dict of
``params.as_dict()``), reported as :class:`~tfod_anchors.rules.findings.Finding`.

The Model Garden checks none of these itself: it lays anchors on whatever grid the
input size gives, builds heads for whatever levels are asked and restores whatever
checkpoint is named. Each rule cites the wheel's behaviour it rests on (paths under
``official/``, tf-models-official 2.20). Codes and severities are in :data:`SEVERITY`.

Families: ``retinanet`` and ``rcnn`` (``task.model.anchor``; R-CNN when the model has
an ``rpn_head``), ``yolo`` (v4 / scaled: levels from the backbone config) and
``yolov7`` (levels from ``task.model``, matching in the loss).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from tfod_anchors.errors import ConfigError
from tfod_anchors.rules.findings import ERROR, INFO, WARNING, Finding

SEVERITY = {
    "mg_invalid_anchor": ERROR,
    "mg_fractional_strides": ERROR,
    "mg_input_padded": INFO,
    "mg_yolo_partial_cells": WARNING,
    "mg_level_not_produced": ERROR,
    "mg_levels_disagree": ERROR,
    "mg_yolo_box_count": ERROR,
    "mg_anchor_never_matched": WARNING,
    "mg_duplicate_aspect_ratios": WARNING,
    "mg_duplicate_yolo_boxes": WARNING,
    "mg_yolo_boxes_not_increasing": WARNING,
    "mg_boxes_without_target": WARNING,
    "mg_checkpoint_head_shape": ERROR,
}

#: Feature levels each backbone type outputs whatever its config (built in the wheel at
#: 256x256: ``output_specs`` keys). Types whose levels come from their own config
#: (``min_level``/``max_level`` under ``backbone.<type>``) are in :data:`CONFIGURED_LEVELS`.
BACKBONE_LEVELS = {
    "resnet": (2, 5), "efficientnet": (2, 5), "revnet": (2, 5), "mobilenet": (2, 5),
    "mobiledet": (1, 5),
}
CONFIGURED_LEVELS = ("spinenet", "spinenet_mobile", "darknet", "yolov7")
#: Decoders that output every level from min_level to max_level (adding the levels above
#: the backbone's with strided convolutions), given a backbone level at or below min_level.
PYRAMID_DECODERS = ("fpn", "nasfpn")
#: Decoders that output one level only: ASPP reads backbone level ``decoder.aspp.level``
#: (default 4) and returns ``{level: features}`` (``vision/modeling/decoders/aspp.py``).
SINGLE_LEVEL_DECODERS = {"aspp": 4}


def _finding(code: str, message: str) -> Finding:
    return Finding(code, SEVERITY[code], message)


# ----------------------------------------------------------------------------- reading


def family(params: Mapping) -> str | None:
    """``retinanet``, ``rcnn``, ``yolo``, ``yolov7``, or None (no anchors in the model)."""
    model = params["task"]["model"]
    if "anchor_boxes" in model:
        return "yolov7" if "min_level" in model else "yolo"
    if "anchor" in model:
        return "rcnn" if "rpn_head" in model else "retinanet"
    return None


def levels(params: Mapping) -> tuple[int, int]:
    """The (min_level, max_level) the anchors are laid out on."""
    model = params["task"]["model"]
    if family(params) == "yolo":
        backbone = model["backbone"][model["backbone"]["type"]]
        return int(backbone["min_level"]), int(backbone["max_level"])
    return int(model["min_level"]), int(model["max_level"])


def input_hw(params: Mapping) -> tuple[int, int] | None:
    """``task.model.input_size`` as (H, W), or None when the experiment leaves it empty."""
    size = params["task"]["model"].get("input_size") or []
    return (int(size[0]), int(size[1])) if len(size) >= 2 else None


def padded_hw(params: Mapping) -> tuple[int, int] | None:
    """The size anchors are laid out on: the input padded up to a multiple of
    ``2**max_level`` (RetinaNet with ``parser.pad``, R-CNN always:
    ``vision/ops/preprocess_ops.py`` ``compute_padded_size``), else the input itself."""
    hw = input_hw(params)
    if hw is None:
        return None
    parser = params["task"]["train_data"].get("parser") or {}
    if family(params) == "rcnn" or (family(params) == "retinanet" and parser.get("pad", True)):
        step = 2 ** levels(params)[1]
        return (math.ceil(hw[0] / step) * step, math.ceil(hw[1] / step) * step)
    return hw


def anchor_shapes(params: Mapping) -> list[tuple[int, float, float]]:
    """Every anchor shape as (level, width, height) in pixels, in the wheel's order
    (levels min->max; RetinaNet/R-CNN scale-major then ratio, ``r`` = width / height:
    ``vision/ops/anchor.py``; YOLO the boxes handed out ``anchors_per_scale`` a level)."""
    model = params["task"]["model"]
    lo, hi = levels(params)
    if family(params) in ("yolo", "yolov7"):
        boxes = [b["box"] for b in model["anchor_boxes"].get("boxes") or []]
        per = int(model["anchor_boxes"]["anchors_per_scale"])
        return [(lo + i // per, float(w), float(h)) for i, (w, h) in enumerate(boxes)
                if lo + i // per <= hi]
    anchor = model["anchor"]
    n = int(anchor["num_scales"])
    out = []
    for level in range(lo, hi + 1):
        for s in range(n):
            side = float(anchor["anchor_size"]) * 2.0 ** level * 2.0 ** (s / n)
            out += [(level, side * math.sqrt(r), side / math.sqrt(r))
                    for r in anchor["aspect_ratios"]]
    return out


def anchors_per_location(params: Mapping) -> int:
    """What the box head's channel count is a multiple of."""
    model = params["task"]["model"]
    if family(params) in ("yolo", "yolov7"):
        return int(model["anchor_boxes"]["anchors_per_scale"])
    return int(model["anchor"]["num_scales"]) * len(model["anchor"]["aspect_ratios"])


def match_rule(params: Mapping) -> tuple[str, float, bool]:
    """The anchor-to-box rule as (kind, threshold, forced best match): kind ``iou``
    (plain IoU, RetinaNet / RPN), ``wh_iou`` (YOLO: IoU of widths and heights) or
    ``ratio`` (YOLO: ``max(w/a_w, a_w/w, h/a_h, a_h/h) < threshold``)."""
    task = params["task"]
    parser = task["train_data"].get("parser") or {}
    fam = family(params)
    if fam == "retinanet":
        return "iou", float(parser.get("match_threshold", 0.5)), True
    if fam == "rcnn":
        return "iou", float(parser.get("rpn_match_threshold", 0.7)), True
    if fam == "yolov7":  # projects/yolo/losses/yolov7_loss.py: no forced match
        return "ratio", float(task["model"]["loss"]["anchor_threshold"]), False
    thresh = float(parser.get("anchor_thresh", -0.01))  # projects/yolo/ops/anchor.py
    return ("ratio" if thresh >= 1.0 else "wh_iou"), thresh, not parser.get("best_match_only")


# ----------------------------------------------------------------------------- the rules


def value_findings(params: Mapping) -> list[Finding]:
    """``mg_invalid_anchor``, ``mg_duplicate_aspect_ratios``, ``mg_duplicate_yolo_boxes``."""
    model = params["task"]["model"]
    out = []
    if family(params) in ("retinanet", "rcnn"):
        anchor = model["anchor"]
        bad = [f"{k}: {anchor[k]!r}" for k in ("anchor_size", "num_scales")
               if not _positive(anchor[k])]
        bad += [f"aspect ratio {r!r}" for r in anchor["aspect_ratios"] if not _positive(r)]
        if not anchor["aspect_ratios"]:
            bad.append("no aspect ratios")
        if bad:
            out.append(_finding("mg_invalid_anchor", "task.model.anchor: " + ", ".join(bad)
                                + " (anchor sizes would be 0, negative or NaN)"))
        dupes = _duplicates(anchor["aspect_ratios"])
        if dupes:
            out.append(_finding("mg_duplicate_aspect_ratios", "task.model.anchor.aspect_ratios "
                                f"repeats {dupes}: identical anchors, wasted head channels"))
    else:
        boxes = [tuple(b["box"]) for b in model["anchor_boxes"].get("boxes") or []]
        wrong = [b for b in boxes if len(b) != 2 or not all(_positive(v) for v in b)]
        if wrong:
            out.append(_finding("mg_invalid_anchor", f"task.model.anchor_boxes.boxes: {wrong} "
                                "(each box is [width, height] > 0 in pixels)"))
        dupes = _duplicates(boxes)
        if dupes:
            out.append(_finding("mg_duplicate_yolo_boxes", "task.model.anchor_boxes.boxes "
                                f"repeats {dupes}: identical anchors"))
    return out


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def _duplicates(values: list) -> list:
    seen, dupes = set(), []
    for value in values:
        key = tuple(round(float(v), 9) for v in value) if isinstance(value, tuple) \
            else round(float(value), 9)
        if key in seen and value not in dupes:
            dupes.append(value)
        seen.add(key)
    return dupes


def size_findings(params: Mapping) -> list[Finding]:
    """``mg_fractional_strides``, ``mg_input_padded``, ``mg_yolo_partial_cells``: an
    input size that is not a multiple of ``2**max_level``."""
    hw = input_hw(params)
    if hw is None:
        return []
    lo, hi = levels(params)
    step = 2 ** hi
    if hw[0] % step == 0 and hw[1] % step == 0:
        return []
    fam = family(params)
    size = f"input_size {hw[0]}x{hw[1]} is not a multiple of 2**max_level = {step}"
    if fam in ("yolo", "yolov7"):
        cells = ", ".join(f"P{lv}: {hw[0] // 2 ** lv}x{hw[1] // 2 ** lv} cells for "
                          f"{hw[0] / 2 ** lv:g}x{hw[1] / 2 ** lv:g}" for lv in range(lo, hi + 1))
        return [_finding("mg_yolo_partial_cells", f"{size}: the YOLO label grid is "
                         f"input // stride ({cells}), so the last partial row and column of "
                         "cells get no targets; use a multiple of " f"{step}")]
    padded = padded_hw(params)
    if padded is not None and padded != hw:
        return [_finding("mg_input_padded", f"{size}: the parser pads every image to "
                         f"{padded[0]}x{padded[1]} and the anchors are laid out there")]
    strides = ", ".join(f"P{lv}: {hw[0] / math.ceil(hw[0] / 2 ** lv):.4g}x"
                        f"{hw[1] / math.ceil(hw[1] / 2 ** lv):.4g} px"
                        for lv in range(lo, hi + 1))
    return [_finding("mg_fractional_strides", f"{size} and parser.pad is false: anchors "
                     f"are spaced input / ceil(input / 2**level) apart ({strides}) while the "
                     "feature maps step 2**level px, so anchors drift off their cells; set "
                     f"parser.pad: true or a multiple of {step}")]


def level_findings(params: Mapping) -> list[Finding]:
    """``mg_level_not_produced``: anchor levels the backbone and decoder do not output
    (the head reads every level from min to max: ``vision/modeling/decoders/fpn.py``
    needs a backbone level at or below min_level; ASPP outputs its one level, no decoder
    or ``identity`` the backbone's); ``mg_levels_disagree``: YOLOv7's
    ``task.model`` levels (the loss) and its backbone's (the parser) differ."""
    model = params["task"]["model"]
    lo, hi = levels(params)
    backbone_type = model["backbone"]["type"]
    own = model["backbone"].get(backbone_type) or {}
    if backbone_type in CONFIGURED_LEVELS:
        produced = (int(own["min_level"]), int(own["max_level"]))
    elif backbone_type in BACKBONE_LEVELS:
        produced = BACKBONE_LEVELS[backbone_type]
    else:
        return []
    out = []
    if family(params) == "yolov7" and produced != (lo, hi):
        out.append(_finding("mg_levels_disagree", f"task.model levels {lo}-{hi} (the loss) "
                            f"differ from backbone.{backbone_type} levels {produced[0]}-"
                            f"{produced[1]} (the parser's anchors): set both alike"))
        return out
    decoder = (model.get("decoder") or {}).get("type")
    if decoder in PYRAMID_DECODERS and produced[0] <= lo:
        return out
    via = f"the {decoder} decoder" if decoder else "no decoder"
    if decoder in SINGLE_LEVEL_DECODERS:
        return out + _single_level_findings(model, decoder, produced, (lo, hi))
    if decoder in PYRAMID_DECODERS:
        missing = [lv for lv in range(lo, produced[0])]
    else:
        missing = [lv for lv in range(lo, hi + 1) if not produced[0] <= lv <= produced[1]]
    if missing:
        out.append(_finding("mg_level_not_produced", f"anchor levels {lo}-{hi} need P"
                            f"{', P'.join(map(str, missing))}, which backbone {backbone_type} "
                            f"(levels {produced[0]}-{produced[1]}) with {via} does not output"))
    return out


def _single_level_findings(model: Mapping, decoder: str, produced: tuple[int, int],
                           wanted: tuple[int, int]) -> list[Finding]:
    """``mg_level_not_produced`` for a one-level decoder (ASPP): the head reads every level
    from min to max, and the decoder outputs only its own ``level``, which it reads from
    the backbone (a level the backbone lacks fails the build)."""
    own = model["decoder"].get(decoder) or {}
    at = int(own.get("level", SINGLE_LEVEL_DECODERS[decoder]))
    backbone = f"backbone {model['backbone']['type']} (levels {produced[0]}-{produced[1]})"
    if not produced[0] <= at <= produced[1]:
        return [_finding("mg_level_not_produced", f"the {decoder} decoder reads level P{at}, "
                         f"which {backbone} does not output, so no level reaches the head")]
    missing = [lv for lv in range(wanted[0], wanted[1] + 1) if lv != at]
    if not missing:
        return []
    return [_finding("mg_level_not_produced", f"anchor levels {wanted[0]}-{wanted[1]} need P"
                     f"{', P'.join(map(str, missing))}, but the {decoder} decoder outputs one "
                     f"level, P{at} (decoder.{decoder}.level), from {backbone}: set min_level "
                     f"and max_level to {at}, or use a pyramid decoder (fpn)")]


def yolo_box_findings(params: Mapping) -> list[Finding]:
    """``mg_yolo_box_count`` (``AnchorBoxes.get`` hands boxes out ``anchors_per_scale``
    a level) and ``mg_yolo_boxes_not_increasing`` (a coarser level with a box no larger
    than a finer level's)."""
    if family(params) not in ("yolo", "yolov7"):
        return []
    spec = params["task"]["model"]["anchor_boxes"]
    if spec.get("level_limits") is not None:
        return []  # anchor-free: one [1, 1] anchor per level
    lo, hi = levels(params)
    per = int(spec["anchors_per_scale"])
    boxes = [b["box"] for b in spec.get("boxes") or []]
    if len(boxes) != (hi - lo + 1) * per:
        return [_finding("mg_yolo_box_count", f"{len(boxes)} anchor boxes for levels "
                         f"{lo}-{hi} x anchors_per_scale {per} = {(hi - lo + 1) * per}")]
    areas = [[float(w) * float(h) for w, h in boxes[i * per:(i + 1) * per]]
             for i in range(hi - lo + 1)]
    out = []
    for i in range(hi - lo):
        if max(areas[i]) >= min(areas[i + 1]):
            out.append(_finding("mg_yolo_boxes_not_increasing", f"level {lo + i + 1} has a box "
                                f"of area {min(areas[i + 1]):g} px², no larger than level "
                                f"{lo + i}'s {max(areas[i]):g} px²: list the boxes by area, "
                                "smallest level first"))
    return out


def _best_score(kind: str, wh: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """Per box [N] the best score over anchor shapes [A, 2]: IoU of widths and heights
    (higher is better) or the ratio ``max(w/a, a/w, h/b, b/h)`` (lower is better)."""
    w, h = wh[:, 0:1], wh[:, 1:2]
    aw, ah = shapes[None, :, 0], shapes[None, :, 1]
    if kind == "ratio":
        return np.maximum(np.maximum(w / aw, aw / w), np.maximum(h / ah, ah / h)).min(axis=1)
    inter = np.minimum(w, aw) * np.minimum(h, ah)
    return (inter / (w * h + aw * ah - inter)).max(axis=1)


def match_findings(params: Mapping, box_wh: np.ndarray | None = None) -> list[Finding]:
    """``mg_anchor_never_matched``: anchor shapes no box inside the image can match
    (every box fits in the padded input); ``mg_boxes_without_target``: under a rule with
    no forced match, the boxes of ``box_wh`` ([N, 2] width, height in pixels at the model
    input, as training sees them) that no anchor takes at all."""
    hw = padded_hw(params)
    shapes = anchor_shapes(params)
    kind, thresh, forced = match_rule(params)
    out = []
    if hw is not None and shapes:
        never = []
        for level, w, h in shapes:
            if kind == "ratio":
                hopeless = w / hw[1] >= thresh or h / hw[0] >= thresh
            else:  # the best box is the anchor clipped to the image
                hopeless = min(w, hw[1]) * min(h, hw[0]) / (w * h) < thresh
            if hopeless:
                never.append(f"P{level} {w:.0f}x{h:.0f}")
        if never:
            how = " except as a forced best match" if forced else ""
            out.append(_finding("mg_anchor_never_matched", f"{len(never)} anchor shape(s) can "
                                f"never match a box inside the {hw[0]}x{hw[1]} input{how} "
                                f"({_rule_text(kind, thresh)}): {', '.join(never[:6])}"
                                + (" ..." if len(never) > 6 else "")))
    if box_wh is None or forced or not shapes:
        return out
    wh = np.asarray(box_wh, dtype=np.float64).reshape(-1, 2)
    wh = wh[(wh > 0).all(axis=1)]
    if not len(wh):
        return out
    best = _best_score(kind, wh, np.array([(w, h) for _, w, h in shapes]))
    lost = int((best >= thresh).sum() if kind == "ratio" else (best < thresh).sum())
    if lost:
        out.append(_finding("mg_boxes_without_target", f"{lost} of {len(wh)} boxes "
                            f"({lost / len(wh):.1%}) get no target at all under "
                            f"{_rule_text(kind, thresh)} with no forced match: they are "
                            "never learned"))
    return out


def _rule_text(kind: str, thresh: float) -> str:
    if kind == "ratio":
        return f"the ratio rule max(w/a_w, a_w/w, h/a_h, a_h/h) < {thresh:g}"
    return f"{'width-height ' if kind == 'wh_iou' else ''}IoU >= {thresh:g}"


def checkpoint_findings(before: Mapping, after: Mapping) -> list[Finding]:
    """``mg_checkpoint_head_shape``: anchors per location changed while
    ``init_checkpoint_modules: all`` restores the whole model from ``init_checkpoint``
    (``vision/tasks/retinanet.py`` ``initialize``: ``assert_existing_objects_matched``),
    so the head's kernels no longer fit the checkpoint."""
    task = after["task"]
    was, now = anchors_per_location(before), anchors_per_location(after)
    if was == now or not task.get("init_checkpoint") or \
            task.get("init_checkpoint_modules") != "all":
        return []
    return [_finding("mg_checkpoint_head_shape", f"anchors per location {was} -> {now} with "
                     "init_checkpoint_modules: all: the box and class heads change shape and "
                     f"{task['init_checkpoint']} no longer restores; keep {was} anchors per "
                     "location or set init_checkpoint_modules: backbone")]


def experiment_findings(params: Mapping, *, box_wh: np.ndarray | None = None,
                        before: Mapping | None = None) -> list[Finding]:
    """Every rule above for one resolved experiment (``before``: the experiment as it
    was, when ``params`` holds candidate anchors).

    Raises:
        ConfigError: a key the rules read is missing (not a resolved experiment).
    """
    try:
        return _all_findings(params, box_wh, before)
    except (KeyError, TypeError) as err:
        raise ConfigError(f"not a resolved Model Garden experiment: {type(err).__name__} "
                          f"{err} (resolve it with --experiment, or give train.py's "
                          "params.yaml)") from None


def _all_findings(params: Mapping, box_wh: np.ndarray | None,
                  before: Mapping | None) -> list[Finding]:
    if family(params) is None:
        return []
    found = value_findings(params)
    if any(f.code == "mg_invalid_anchor" for f in found):
        return found
    found += size_findings(params) + level_findings(params) + yolo_box_findings(params)
    if not any(f.code == "mg_yolo_box_count" for f in found):
        found += match_findings(params, box_wh)
    if before is not None and family(before) == family(params):
        found += checkpoint_findings(before, params)
    return found
