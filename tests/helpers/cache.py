"""A small damaged TFRecord dataset whose skip counts ``test_cache`` works out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers.tfexample import example, write

B1 = [0.1, 0.2, 0.5, 0.6]
B2 = [0.0, 0.0, 1.0, 1.0]
INVERTED = [0.5, 0.5, 0.2, 0.9]
LABEL_MAP = 'item { id: 1 name: "cat" }\nitem { id: 2 name: "dog" }\n'


def damaged_dataset(root: Path) -> dict[str, str]:
    """Two good files and three kinds of damage (``test_cache`` works out the counts)."""
    root.mkdir(parents=True, exist_ok=True)
    good = write(root / "a-0.record", [
        example([B1, B2], 100, 200, labels=[3, 7], texts=["cat", "dog"], difficult=[0, 1],
                source_id="img0"),
        example([], 50, 60, filename="empty.jpg"),                          # no boxes
        example([B1, INVERTED], 10, 10, labels=[1, 2]),                     # 1 inverted box
        example([B1, B2, B1], 30, 30, labels=[1, 2, 2], texts=["dog", "zzz", "cat"]),
        example([B1, [np.nan, 0, 1, 1]], 20, 20, labels=[1, 1]),            # 1 NaN box
        example([B1, B2], 20, 20, labels=[1]),                              # malformed
    ])
    records = [example([B2], 30, 40, labels=[2]), example([B1], 40, 40, labels=[1])]
    data = bytearray(Path(write(root / "a-1.record", records)).read_bytes())
    data[16 + len(records[0]) + 20] ^= 0xFF                                 # record 1 CRC
    Path(root / "a-1.record").write_bytes(bytes(data))
    (root / "a-2.record").write_bytes(b"not a tfrecord at all, just text")
    label_map = root / "label_map.pbtxt"
    label_map.write_text(LABEL_MAP)
    return {"glob": str(root / "a-*.record"), "label_map": str(label_map), "good": good}
