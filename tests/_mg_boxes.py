"""Boxes with hand-known Model Garden anchor shapes, shared by the Model Garden test files:
shapes on the ``Anchor`` ladder (side ``anchor_size * 2**l * 2**(s / num_scales)``, width
``side * sqrt(r)``, height ``side / sqrt(r)``) and a CSV of them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def ladder_shape(size: float, level: int, step: int, num_scales: int, ratio: float):
    """``(w, h)`` of the ``Anchor`` shape at ``level``, octave step ``step``, ratio ``ratio``."""
    side = size * 2 ** level * 2 ** (step / num_scales)
    return side * math.sqrt(ratio), side / math.sqrt(ratio)


#: Three shapes on the ladder of anchor_size 2.5, num_scales 3 (levels 3-7): P3 step 0 ratio
#: 0.5 (20 px side), P5 step 1 ratio 2 (100.8 px), P7 step 2 ratio 1 (508.0 px). The bottom
#: and top rungs pin the scale: any other anchor_size leaves one of them off the ladder.
ON_LADDER = np.array([ladder_shape(2.5, 3, 0, 3, 0.5), ladder_shape(2.5, 5, 1, 3, 2.0),
                      ladder_shape(2.5, 7, 2, 3, 1.0)])


def write_csv(path: Path, wh: np.ndarray, copies: int = 2) -> Path:
    """One 640x640 image per box (the RetinaNet parser's scale is then 1), each box
    centred, ``copies`` times."""
    lines = ["image_id,image_width,image_height,xmin,ymin,xmax,ymax,label"]
    for i, (w, h) in enumerate(np.tile(wh, (copies, 1))):
        x0, y0 = 320 - w / 2, 320 - h / 2
        lines.append(f"img{i},640,640,{float(x0)!r},{float(y0)!r},{float(x0 + w)!r},"
                     f"{float(y0 + h)!r},a")
    path.write_text("\n".join(lines) + "\n")
    return path
