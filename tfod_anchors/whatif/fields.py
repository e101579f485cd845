"""``--what-if FIELD=VALUE``: set a field of a pipeline config by its path.

Paths are written as in the config, from the ``TrainEvalPipelineConfig`` root:
``model.faster_rcnn.image_resizer.keep_aspect_ratio_resizer.min_dimension=800``.
Values are text-format values (``800``, ``true``, ``'faster_rcnn_resnet50_fpn_keras'``,
``[1.0, 2.0]`` for a repeated field); setting a field inside a ``oneof`` selects that
branch, as it would in the config text.
"""

from __future__ import annotations

from typing import Any

from tfod_anchors.config.schema import is_repeated
from tfod_anchors.errors import UsageError


def parse_assignment(text: str) -> tuple[str, str]:
    """``"a.b.c=VALUE"`` -> ``("a.b.c", "VALUE")``.

    Raises:
        UsageError: no ``=``, or an empty path or value.
    """
    path, sep, value = text.partition("=")
    path, value = path.strip(), value.strip()
    if not sep or not path or not value:
        raise UsageError(f"--what-if needs FIELD=VALUE with a config field path, e.g. "
                         f"model.faster_rcnn.image_resizer.keep_aspect_ratio_resizer."
                         f"min_dimension=800; got {text!r}")
    return path, value


def _field_names(msg: Any) -> str:
    return ", ".join(f.name for f in msg.DESCRIPTOR.fields)


def set_field(cfg: Any, path: str, value: str) -> None:
    """Set ``path`` (dotted, from the config root) to the text-format ``value`` in place.

    Raises:
        UsageError: an unknown field (naming the fields that exist there), a path
            through a repeated or scalar field, or a value the field does not take.
    """
    from google.protobuf import text_format

    parts = path.split(".")
    msg = cfg
    for depth, name in enumerate(parts[:-1]):
        field = msg.DESCRIPTOR.fields_by_name.get(name)
        where = ".".join(parts[:depth]) or "the config root"
        if field is None:
            raise UsageError(f"--what-if {path}: {where} has no field {name!r} (fields: "
                             f"{_field_names(msg)})")
        if field.message_type is None or is_repeated(field):
            raise UsageError(f"--what-if {path}: {name} is not a single message field")
        msg = getattr(msg, name)
    last = parts[-1]
    field = msg.DESCRIPTOR.fields_by_name.get(last)
    if field is None:
        raise UsageError(f"--what-if {path}: {'.'.join(parts[:-1]) or 'the config root'} has "
                         f"no field {last!r} (fields: {_field_names(msg)})")
    msg.ClearField(last)
    try:
        text_format.Merge(f"{last}: {value}" if field.message_type is None
                          else f"{last} {value}", msg)
    except text_format.ParseError as err:
        raise UsageError(f"--what-if {path}={value}: {err}") from None


def apply_assignments(cfg: Any, assignments: list[str]) -> Any:
    """A copy of ``cfg`` with every ``FIELD=VALUE`` of ``assignments`` set, in order."""
    changed = type(cfg)()
    changed.CopyFrom(cfg)
    for text in assignments:
        set_field(changed, *parse_assignment(text))
    return changed
