"""Builds ``small_objects.csv``: COCO val2017 images whose boxes are mostly smaller than
a 16 px stride once resized to 300x300 (the shipped SSD MobileNet v2 demo's input).

Run from the repository root with ``../shared`` present:
``python tests/data/build_small_objects.py``. COCO annotations: CC BY 4.0 (cocodataset.org).
Images (at most 30 boxes) are ranked by their share of small boxes (ties by id) and taken
from the small end, with one from the other end whenever the share is above 80 %, until
300 boxes.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SOURCE = SHARED / "datasets/coco_val2017/coco_val2017.csv"
TARGET = Path(__file__).with_name("small_objects.csv")
SIDE, STRIDE, BOXES, SMALL_SHARE = 300, 16, 300, 0.8


def main() -> None:
    images: dict[str, list[list[str]]] = defaultdict(list)
    with SOURCE.open() as f:
        reader = csv.reader(f)
        header = next(reader)
        for row in reader:
            images[row[0]].append(row[:8])

    def small(row: list[str]) -> bool:
        w, h = int(row[1]), int(row[2])
        bw = (float(row[5]) - float(row[3])) * SIDE / w
        bh = (float(row[6]) - float(row[4])) * SIDE / h
        return max(bw, bh) < STRIDE and min(bw, bh) > 1

    ranked = [k for k in sorted(images, key=lambda k: (
        -sum(map(small, images[k])) / len(images[k]), k)) if len(images[k]) <= 30]
    rich, poor = iter(ranked), iter(reversed(ranked))
    chosen, n_small, n_all = [], 0, 0
    while n_all < BOXES:  # the small-box-rich end, then a mostly-large image when above 80 %
        key = next(poor) if n_all and n_small / n_all > SMALL_SHARE else next(rich)
        chosen.append(key)
        n_small += sum(map(small, images[key]))
        n_all += len(images[key])
    with TARGET.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header[:8])
        for key in sorted(chosen):
            writer.writerows(images[key])
    print(f"{len(chosen)} images, {n_all} boxes, {n_small / n_all:.1%} below {STRIDE} px")


if __name__ == "__main__":
    main()
