"""Centroid-derived anchors as a config: the patched anchors, their text block, what
``check`` says of them, and the patched file text (for ``cluster --output/--in-place``).

Nothing is written here; :func:`tfod_anchors.api.write_patched` writes the text the
way ``fit`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tfod_anchors.config import query as cq
from tfod_anchors.config.files import LoadedConfig
from tfod_anchors.config.schema import is_repeated
from tfod_anchors.frameworks import ModelSpec


@dataclass(frozen=True)
class Proposal:
    """The config's anchor generator with the centroids' fields.

    Attributes:
        generator: the ``AnchorGenerator`` message proposed.
        config: the ``TrainEvalPipelineConfig`` with it (everything else unchanged).
        block: the generator as config text, ready to paste (``NAME { kind { ... } }``).
        findings: every ``check`` model-rule finding of ``config`` (dicts).
        new_errors: the error findings among them that the original config lacks:
            such a config is not written.
        text: the patched file text (only the anchor block differs), or None when the
            config was not read from a file; ``diff``: unified diff to it ("" if none).
        override: the anchors as the trainer's command-line override (the Model
            Garden's ``--params_override``), or None where there is none.
    """

    generator: Any
    config: Any
    block: str
    findings: list[dict[str, str]]
    new_errors: list[dict[str, str]]
    text: str | None
    diff: str
    override: str | None = None


def _value(fd: Any, value: Any) -> str:
    """One scalar in textproto syntax (floats with 6 significant digits)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if fd.enum_type is not None:
        return fd.enum_type.values_by_number[value].name
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def _lines(msg: Any, pad: str) -> list[str]:
    """The set fields of ``msg`` as textproto lines (repeated scalars as ``[a, b]``)."""
    out = []
    for fd, value in msg.ListFields():
        if fd.message_type is not None:
            for item in (value if is_repeated(fd) else [value]):
                out += [f"{pad}{fd.name} {{", *_lines(item, pad + "  "), f"{pad}}}"]
        elif is_repeated(fd):
            out.append(f"{pad}{fd.name}: [{', '.join(_value(fd, v) for v in value)}]")
        else:
            out.append(f"{pad}{fd.name}: {_value(fd, value)}")
    return out


def config_block(cfg: Any, generator: Any) -> str:
    """``generator`` as the block the config holds it in, e.g.
    ``first_stage_anchor_generator { grid_anchor_generator { scales: [...] ... } }``."""
    path = cq.anchor_generator_path(cfg)
    name = path[-1] if path else "anchor_generator"
    return "\n".join([f"{name} {{", *_lines(generator, "  "), "}"])


def propose(model: ModelSpec, loaded: LoadedConfig | None, generator: Any) -> Proposal:
    """The model with ``generator`` (its anchors value: a TFOD ``AnchorGenerator``, a Model
    Garden change), checked by ``check``'s model rules, as text ready to paste
    (:meth:`~tfod_anchors.frameworks.ModelSpec.anchors_block`), and its patched text when
    the config came from a file."""
    from tfod_anchors.config.patch import unified_diff

    patched = model.with_anchors(generator)
    findings = patched.check_rules()
    own = {f.code for f in model.check_rules()}
    new_errors = [f.to_dict() for f in findings if f.severity == "error" and f.code not in own]
    text, diff = None, ""
    if loaded is not None:
        text = model.text_patch(loaded.text, generator, loaded.path).text
        diff = unified_diff(loaded.text, text, loaded.path)
    return Proposal(generator=generator, config=patched.config,
                    block=model.anchors_block(generator),
                    findings=[f.to_dict() for f in findings], new_errors=new_errors,
                    text=text, diff=diff, override=model.anchors_override(generator))
