"""The TFOD ``object_detection.protos`` schema: bundled, or the user's installed one.

Two sources can provide ``TrainEvalPipelineConfig`` and friends:

* ``"installed"`` - an importable ``object_detection.protos.pipeline_pb2`` (the
  user's exact TFOD version, living in protobuf's default descriptor pool);
* ``"bundled"`` - ``_schema/object_detection.desc`` compiled from this project's
  ``protos/`` and loaded into a *private* :class:`DescriptorPool`, so it never
  clashes with the installed one even when both are used in one process.

The choice is ``prefer`` (argument) or the ``TFOD_ANCHORS_SCHEMA`` environment
variable: ``auto`` (installed when importable, else bundled; the default),
``bundled`` or ``installed``. Code elsewhere reads fields by name only, so it works
with messages of either origin.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from google.protobuf.message import Message

from tfod_anchors.errors import ConfigError, UsageError


def is_repeated(fd: Any) -> bool:
    """Whether a field descriptor is repeated, on every protobuf this supports (3.20 to 7:
    ``label`` before 5.29, an ``is_repeated`` property after, a method in between)."""
    flag = getattr(fd, "is_repeated", None)
    if flag is not None:
        return bool(flag() if callable(flag) else flag)
    return bool(fd.label == fd.LABEL_REPEATED)

PACKAGE = "object_detection.protos"
PIPELINE = f"{PACKAGE}.TrainEvalPipelineConfig"
LABEL_MAP = f"{PACKAGE}.StringIntLabelMap"
ENV_VAR = "TFOD_ANCHORS_SCHEMA"
CHOICES = ("auto", "bundled", "installed")
DESCRIPTOR_SET = Path(__file__).resolve().parents[1] / "_schema" / "object_detection.desc"


def _class_for(descriptor: Any) -> type:
    """Message class for a descriptor, on new and old protobuf releases."""
    get_class = getattr(message_factory, "GetMessageClass", None)
    if get_class is not None:
        return get_class(descriptor)
    return message_factory.MessageFactory(descriptor.file.pool).GetPrototype(descriptor)


class Schema:
    """Message classes of one schema origin.

    Attributes:
        origin: ``"bundled"`` or ``"installed"``.
        pool: the descriptor pool holding ``object_detection.protos``.
    Message classes are also attributes by short name, like a ``*_pb2`` module:
    ``schema.AnchorGenerator``, ``schema.TrainEvalPipelineConfig``.
    """

    def __init__(self, origin: str, pool: descriptor_pool.DescriptorPool):
        self.origin = origin
        self.pool = pool
        self._classes: dict[str, type] = {}

    def __repr__(self) -> str:
        return f"Schema(origin={self.origin!r})"

    def message_class(self, full_name: str) -> type:
        """Class of message ``full_name`` (e.g. ``"object_detection.protos.AnchorGenerator"``).

        Raises:
            KeyError: the schema has no such message.
        """
        cls = self._classes.get(full_name)
        if cls is None:
            cls = _class_for(self._find(full_name))
            self._classes[full_name] = cls
        return cls

    def _find(self, full_name: str) -> Any:
        return self.pool.FindMessageTypeByName(full_name)

    def __getattr__(self, name: str) -> type:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self.message_class(f"{PACKAGE}.{name}")
        except KeyError:
            raise AttributeError(f"{self!r} has no message {name!r}") from None

    @property
    def TrainEvalPipelineConfig(self) -> type:  # noqa: N802 - mirrors pipeline_pb2
        return self.message_class(PIPELINE)

    def new_pipeline(self) -> Message:
        """An empty ``TrainEvalPipelineConfig`` of this schema."""
        return self.TrainEvalPipelineConfig()


class _InstalledSchema(Schema):
    """The user's ``object_detection.protos`` in the default pool.

    Files that ``pipeline_pb2`` does not import (``string_int_label_map.proto``)
    are imported on demand; if the installed package lacks one, the bundled
    class is used for that message.
    """

    def _find(self, full_name: str) -> Any:
        try:
            return self.pool.FindMessageTypeByName(full_name)
        except KeyError:
            pass
        bundled = get_schema("bundled")
        file_name = bundled.pool.FindMessageTypeByName(full_name).file.name
        module = file_name[: -len(".proto")].replace("/", ".") + "_pb2"
        try:
            importlib.import_module(module)
            return self.pool.FindMessageTypeByName(full_name)
        except Exception:  # noqa: BLE001 - any import failure: use ours
            return bundled.pool.FindMessageTypeByName(full_name)


def _load_bundled() -> Schema:
    try:
        data = DESCRIPTOR_SET.read_bytes()
    except OSError as err:
        raise UsageError(f"bundled schema missing ({err}); reinstall tfod-anchors") from None
    fds = descriptor_pb2.FileDescriptorSet.FromString(data)
    pool = descriptor_pool.DescriptorPool()
    for file_proto in fds.file:  # dependencies come first
        if hasattr(pool, "Add"):
            pool.Add(file_proto)
        else:  # pragma: no cover - very old protobuf
            pool.AddSerializedFile(file_proto.SerializeToString())
    return Schema("bundled", pool)


def _load_installed() -> Schema:
    module = importlib.import_module(f"{PACKAGE}.pipeline_pb2")
    cls = module.TrainEvalPipelineConfig
    return _InstalledSchema("installed", cls.DESCRIPTOR.file.pool)


@functools.cache
def _bundled() -> Schema:
    return _load_bundled()


@functools.cache
def _installed() -> tuple[Schema | None, str]:
    """The installed schema, or None and why not (the failure is cached too)."""
    try:
        return _load_installed(), ""
    except Exception as err:  # noqa: BLE001 - broken TFOD installs raise anything
        return None, f"{type(err).__name__}: {_one_line(err)}"


def schema_choice(prefer: str | None = None) -> str:
    """Normalised choice from ``prefer`` or ``$TFOD_ANCHORS_SCHEMA`` (default ``auto``)."""
    choice = prefer if prefer is not None else os.environ.get(ENV_VAR, "") or "auto"
    choice = choice.strip().lower()
    if choice not in CHOICES:
        source = "schema preference" if prefer is not None else f"${ENV_VAR}"
        raise UsageError(f"{source} must be one of {', '.join(CHOICES)}, got {choice!r}")
    return choice


def get_schema(prefer: str | None = None) -> Schema:
    """The schema to use (cached per origin).

    Args:
        prefer: ``"auto"``, ``"bundled"`` or ``"installed"``; ``None`` reads
            ``$TFOD_ANCHORS_SCHEMA`` (default ``auto``).
    Raises:
        UsageError: bad choice, or ``installed`` forced but not importable.
    """
    choice = schema_choice(prefer)
    if choice == "bundled":
        return _bundled()
    installed, why_not = _installed()
    if installed is not None:
        return installed
    if choice == "installed":
        raise UsageError(
            f"cannot import {PACKAGE}.pipeline_pb2 ({why_not}); "
            f"install the TF Object Detection API or set {ENV_VAR}=bundled"
        )
    return _bundled()


def pipeline_pb2(prefer: str | None = None) -> Schema:
    """Module-like access to the chosen schema: ``pipeline_pb2().TrainEvalPipelineConfig``."""
    return get_schema(prefer)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def parse_error_message(err: text_format.ParseError, text: str | None = None,
                        pool: Any = None) -> str:
    """``line L, column C: detail`` from a text_format error (no file name).

    protobuf repeats the whole offending line inside some messages; given the
    parsed ``text`` that echo is dropped to keep the message short. Given the
    descriptor ``pool``, an unknown field or enum value gets the nearest known name
    (``did you mean `anchor_scale`?``).
    """
    line, column = err.GetLine(), err.GetColumn()
    detail = str(err)
    prefix = f"{line}:{column} : "
    if detail.startswith(prefix):
        detail = detail[len(prefix) :]
    if text is not None and line is not None:
        lines = text.split("\n")
        if 0 < line <= len(lines):
            echo = f"'{lines[line - 1]}': "
            if detail.startswith(echo):
                detail = detail[len(echo) :]
    detail = _one_line(detail)
    hint = did_you_mean(detail, pool) if pool is not None else None
    if hint:
        detail = f"{detail.rstrip('.')}; did you mean `{hint}`?"
    if line is None:
        return detail
    field = _field_before(text, line, column)
    if field and field not in detail:
        detail = f"{detail.rstrip('.')} (field {field})"
    return f"line {line}, column {column}: {detail}"


_UNKNOWN_NAME = re.compile(
    r'(Message|Enum) type "([\w.]+)" has no (?:field|value) named "?(\w+)"?')


def did_you_mean(detail: str, pool: Any) -> str | None:
    """The known field (or enum value) of the message (enum) named in protobuf's
    "has no field named" ("has no value named") ``detail`` nearest to the unknown one,
    or None when nothing is close (difflib ratio below 0.6)."""
    import difflib

    match = _UNKNOWN_NAME.search(detail)
    if match is None:
        return None
    kind, type_name, unknown = match.groups()
    try:
        if kind == "Message":
            names = [f.name for f in pool.FindMessageTypeByName(type_name).fields]
        else:
            names = list(pool.FindEnumTypeByName(type_name).values_by_name)
    except KeyError:
        return None
    close = difflib.get_close_matches(unknown, names, n=1, cutoff=0.6)
    return close[0] if close else None


def _field_before(text: str | None, line: int, column: int | None) -> str | None:
    """The ``name:`` a value error points after (protobuf's value errors omit the field)."""
    if text is None or column is None:
        return None
    lines = text.split("\n")
    if not 0 < line <= len(lines):
        return None
    match = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*:\s*\[?[^:]*$", lines[line - 1][: column - 1])
    return match.group(1) if match else None


def parse_text(text: str, message: Message, path: str | None = None) -> Message:
    """Strictly parse protobuf text format into ``message`` (cleared first).

    Unknown fields, wrong value types and a singular field given twice are errors.

    Raises:
        ConfigError: one line, ``PATH: line L, column C: ...``.
    """
    message.Clear()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as err:
        raise ConfigError(parse_error_message(err, text, message.DESCRIPTOR.file.pool),
                          path=path) from None
    except (ValueError, TypeError, UnicodeError) as err:
        raise ConfigError(
            f"not a valid {message.DESCRIPTOR.name}: {_one_line(err)}", path=path
        ) from None
    return message


def parse_pipeline_text(
    text: str, path: str | None = None, schema: Schema | None = None
) -> Message:
    """Parse pipeline.config text into a ``TrainEvalPipelineConfig`` of ``schema``.

    Raises:
        ConfigError: syntax error, unknown field or wrong type (with line:column).
    """
    schema = schema if schema is not None else get_schema()
    return parse_text(text, schema.new_pipeline(), path=path)
