"""``tfod-anchors anchors``: the anchors TFOD would generate for an image size.

The listing is the result (stdout, so ``tfod-anchors anchors CFG > f`` keeps it);
``wrote FILE`` notes of ``--export`` go to stderr.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tfod_anchors.anchors.describe import export_anchors
from tfod_anchors.commands._common import (
    add_model_arguments,
    add_output_arguments,
    emit_json,
    load_model,
    out,
    say,
    table,
)
from tfod_anchors.errors import EXIT_OK
from tfod_anchors.pipeline import require_anchors

HELP = "explain/export the anchors TFOD would generate"


def image_sizes(text: str) -> list[tuple[int, int]]:
    """``HxW[,HxW...]`` as a list of ``(h, w)``."""
    sizes = []
    for part in text.split(","):
        try:
            h, w = part.lower().split("x")
            sizes.append((int(h), int(w)))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected HxW[,HxW...], got {text!r}") from None
        if sizes[-1][0] <= 0 or sizes[-1][1] <= 0:
            raise argparse.ArgumentTypeError(f"image sizes must be positive, got {part!r}")
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--image-size", type=image_sizes, metavar="HxW[,HxW...]",
                        help="original image size(s) (default: the resizer's output size, or "
                             "1024x1024 for resizers that keep the input size)")
    parser.add_argument("--export", metavar="FILE",
                        help="write the anchors as .npy (float32 [N,4]) or .csv")
    add_output_arguments(parser)


def export_path(path: str, size: tuple[int, int], several: bool) -> str:
    """``FILE`` for one size, ``FILE_HxW.ext`` for each of several sizes."""
    if not several:
        return path
    p = Path(path)
    return str(p.with_name(f"{p.stem}_{size[0]}x{size[1]}{p.suffix}"))


def human(entry: dict[str, Any]) -> str:
    """The text view of one :func:`~tfod_anchors.anchors.describe.describe_anchors` entry."""
    lines = [
        f"image {entry['image_size'][0]}x{entry['image_size'][1]} -> resized "
        f"{entry['resized_shape'][0]}x{entry['resized_shape'][1]}, padded "
        f"{entry['padded_shape'][0]}x{entry['padded_shape'][1]}; {entry['meta_architecture']} / "
        f"{entry['feature_extractor']} / {entry['anchor_generator']}",
    ]
    rows = [["level", "feature map", "stride", "offset", "per cell", "anchors"]]
    for lv in entry["levels"]:
        rows.append([str(lv["level"]), "x".join(map(str, lv["feature_map_shape"])),
                     "x".join(f"{v:g}" for v in lv["stride"]),
                     "x".join(f"{v:g}" for v in lv["offset"]),
                     str(lv["anchors_per_location"]), str(lv["num_anchors"])])
    rows.append(["total", "", "", "", "", str(entry["num_anchors"])])
    lines.append(table(rows))
    rows = [["level", "height px", "width px", "scale", "aspect (w/h)"]]
    for a in entry["per_location"]:
        rows.append([str(a["level"]), f"{a['height']:.2f}", f"{a['width']:.2f}",
                     f"{a['scale']:g}", f"{a['pixel_aspect_ratio']:.4g}"
                     if a["pixel_aspect_ratio"] is not None else "-"])
    lines.append(table(rows))
    lines.append(f"{entry['num_anchors_outside_image']} anchors leave the padded image "
                 f"(window policy: {entry['window_policy']}); units of the export: "
                 f"{entry['units']}")
    lines.extend(f"note: {n}" for n in entry["notes"])
    return "\n".join(lines)


def run(args: Any) -> int:
    model, _ = load_model(args)
    require_anchors(model, model.path, "anchors")  # anchor-free models, unusable values
    sizes = args.image_size or [model.default_image_size()]
    entries = []
    for size in sizes:
        entry = model.describe(size)
        if args.export:
            anchors = model.anchor_boxes(tuple(entry["padded_shape"]))
            target = export_path(args.export, size, len(sizes) > 1)
            export_anchors(anchors, target)
            entry["export"] = target
        entries.append(entry)
    if args.json:
        emit_json(entries)
    else:
        for index, entry in enumerate(entries):
            if index:
                out(args)
            out(args, human(entry))
            if "export" in entry:
                say(args, f"wrote {entry['num_anchors']} anchors to {entry['export']}")
    return EXIT_OK
