"""Small file helpers shared by the annotation readers (local paths or ``gs://``)."""

from __future__ import annotations

import os
import posixpath
import re
from typing import Any

from ..errors import InputError


def one_line(err: Any) -> str:
    """A TensorFlow/OS error as one short line (op and graph noise removed)."""
    text = getattr(err, "message", None) or str(err)
    text = re.sub(r"\{\{function_node [^}]*\}\}", "", text)
    text = re.sub(r"\s*\[Op:[^\]]*\]", "", text)
    text = re.sub(r"\s*\[\[\{\{node [^}]*\}\}\]\]", "", text)
    text = text.replace("name: ", "").strip()
    return " ".join(text.split())


def is_remote(path: str) -> bool:
    return "://" in path


def read_bytes(path: str) -> bytes:
    """Whole file; :class:`InputError` naming the path if it cannot be read."""
    try:
        if is_remote(path):
            import tensorflow as tf

            with tf.io.gfile.GFile(path, "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            return f.read()
    except Exception as err:  # noqa: BLE001 - any I/O failure is one line for the user
        detail = getattr(err, "strerror", None) or " ".join(str(err).split())
        raise InputError(f"cannot read: {detail}", path=path) from None


def is_dir(path: str) -> bool:
    if is_remote(path):
        import tensorflow as tf

        return bool(tf.io.gfile.isdir(path))
    return os.path.isdir(path)


def exists(path: str) -> bool:
    if is_remote(path):
        import tensorflow as tf

        return bool(tf.io.gfile.exists(path))
    return os.path.exists(path)


def join(base: str, *parts: str) -> str:
    if is_remote(base):
        return posixpath.join(base, *parts)
    return os.path.join(base, *parts)


def dirname(path: str) -> str:
    return posixpath.dirname(path) if is_remote(path) else os.path.dirname(path)


def walk_files(root: str, suffix: str) -> list[str]:
    """All files under ``root`` whose name ends with ``suffix`` (any case), sorted."""
    found = []
    if is_remote(root):
        import tensorflow as tf

        walker = ((d, files) for d, _, files in tf.io.gfile.walk(root))
    else:
        walker = ((d, files) for d, _, files in os.walk(root))
    for directory, files in walker:
        for name in files:
            if name.lower().endswith(suffix):
                found.append(join(directory, name))
    return sorted(found)


def has_glob(spec: str) -> bool:
    return any(ch in spec for ch in "*?[")


def glob_files(pattern: str) -> list[str]:
    """Files matching a glob (local or remote), sorted."""
    if is_remote(pattern):
        import tensorflow as tf

        return sorted(tf.io.gfile.glob(pattern))
    import glob

    return sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
