"""Write resolved Model Garden experiments as YAML fixtures for the tests.

Run with a Python that has ``tf-models-official`` (the tests read the fixtures without it):

    python tools/resolve_mg_experiments.py tests/mg_experiments

Each fixture is ``params.as_dict()`` of the registered experiment (what ``train.py``
saves as ``params.yaml``), cut to the parts the anchor code reads: ``task.model``,
``task.train_data``, ``task.init_checkpoint`` and ``task.init_checkpoint_modules``.
"""

from __future__ import annotations

import sys
from pathlib import Path

EXPERIMENTS = (
    "retinanet_resnetfpn_coco", "retinanet_spinenet_coco", "retinanet_mobile_coco",
    "maskrcnn_resnetfpn_coco", "maskrcnn_mobilenet_coco", "cascadercnn_spinenet_coco",
    "yolo_darknet", "scaled_yolo", "coco_yolov7tiny", "coco_yolov7",
)
KEPT_TASK_KEYS = ("model", "train_data", "init_checkpoint", "init_checkpoint_modules")


def resolved(name: str) -> dict:
    """The registered experiment ``name`` as a plain nested dict (validated)."""
    from official.core import exp_factory

    params = exp_factory.get_exp_config(name)
    params.validate()
    full = params.as_dict()
    return {"task": {k: full["task"][k] for k in KEPT_TASK_KEYS}}


def main(out_dir: str) -> None:
    import official.projects.yolo.common.registry_imports  # noqa: F401
    import official.vision.registry_imports  # noqa: F401
    import yaml

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in EXPERIMENTS:
        text = yaml.safe_dump(resolved(name), sort_keys=True, default_flow_style=None)
        (out / f"{name}.yaml").write_text(f"# {name}, resolved by tf-models-official "
                                          f"(tools/resolve_mg_experiments.py)\n{text}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/mg_experiments")
