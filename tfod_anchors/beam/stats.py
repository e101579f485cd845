"""``BoxStatsFn``: a mergeable ``CombineFn`` of box statistics over ``ReadBoxes``' images.

Counts per class, per COCO size band and width/height histograms, all in pixels
of the original image (as ``tfod-anchors stats`` without a config: coordinates
scaled by the image size, then subtracted). Histograms have fixed bins so partial
results from any number of workers merge exactly: ``HIST_EDGES`` (pixels, 1/4
octave apart from 1 to 8192), plus one bin below and one above.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
import numpy as np

from ..coverage import SIZE_BANDS

#: Histogram bin edges in pixels: 2 ** (k / 4) for k = 0..52 (1 px to 8192 px).
HIST_EDGES = 2.0 ** (np.arange(53) / 4.0)


def _histogram(values: np.ndarray) -> np.ndarray:
    """int64 ``[len(HIST_EDGES) + 1]``: bin 0 is below 1 px, the last at or above 8192."""
    return np.bincount(np.searchsorted(HIST_EDGES, values, side="right"),
                       minlength=len(HIST_EDGES) + 1).astype(np.int64)


def image_stats(image: dict[str, Any]) -> dict[str, Any]:
    """The accumulator of one image record (see :class:`~.read.ReadBoxes`)."""
    boxes = np.asarray(image["boxes"], dtype=np.float32).reshape(-1, 4).astype(np.float64)
    h, w = float(image["image_height"]), float(image["image_width"])
    pixels = boxes * np.array([h, w, h, w])
    width = pixels[:, 3] - pixels[:, 1]
    height = pixels[:, 2] - pixels[:, 0]
    area = width * height
    labels, counts = np.unique(np.asarray(image["label"], dtype=np.int64), return_counts=True)
    return {
        "num_images": 1,
        "num_boxes": int(boxes.shape[0]),
        "classes": {int(k): int(v) for k, v in zip(labels, counts)},
        "size_bands": {name: int(((area >= lo) & (area < hi)).sum())
                       for name, lo, hi in SIZE_BANDS},
        "width_hist": _histogram(width),
        "height_hist": _histogram(height),
    }


class BoxStatsFn(beam.CombineFn):
    """Images -> ``{"num_images", "num_boxes", "classes": {id: count}, "size_bands":
    {"small", "medium", "large"}, "hist_edges_px": [...], "width_hist": [...],
    "height_hist": [...]}`` (histograms have ``len(hist_edges_px) + 1`` bins)."""

    def create_accumulator(self) -> dict[str, Any]:
        return {"num_images": 0, "num_boxes": 0, "classes": {},
                "size_bands": {name: 0 for name, _, _ in SIZE_BANDS},
                "width_hist": np.zeros(len(HIST_EDGES) + 1, np.int64),
                "height_hist": np.zeros(len(HIST_EDGES) + 1, np.int64)}

    def add_input(self, accumulator: dict[str, Any], image: dict[str, Any]) -> dict[str, Any]:
        return _merge_into(accumulator, image_stats(image))

    def merge_accumulators(self, accumulators: Any) -> dict[str, Any]:
        out = self.create_accumulator()
        for acc in accumulators:
            _merge_into(out, acc)
        return out

    def extract_output(self, accumulator: dict[str, Any]) -> dict[str, Any]:
        return {"num_images": accumulator["num_images"], "num_boxes": accumulator["num_boxes"],
                "classes": dict(sorted(accumulator["classes"].items())),
                "size_bands": dict(accumulator["size_bands"]),
                "hist_edges_px": HIST_EDGES.tolist(),
                "width_hist": accumulator["width_hist"].tolist(),
                "height_hist": accumulator["height_hist"].tolist()}


def _merge_into(out: dict[str, Any], acc: dict[str, Any]) -> dict[str, Any]:
    out["num_images"] += acc["num_images"]
    out["num_boxes"] += acc["num_boxes"]
    for key, value in acc["classes"].items():
        out["classes"][key] = out["classes"].get(key, 0) + value
    for key, value in acc["size_bands"].items():
        out["size_bands"][key] += value
    out["width_hist"] = out["width_hist"] + acc["width_hist"]
    out["height_hist"] = out["height_hist"] + acc["height_hist"]
    return out
