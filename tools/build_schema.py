"""Compile ``protos/`` into the descriptor set shipped in the package.

Usage (from the repository root, needs ``grpcio-tools``)::

    python tools/build_schema.py            # rewrite the descriptor sets in tfod_anchors/_schema/
    python tools/build_schema.py --check    # exit 1 if a shipped file is stale

Each output is a serialized ``FileDescriptorSet`` holding every file under one
folder of ``protos/`` plus its imports, dependencies first, without source info,
serialized deterministically so the bytes only change when the schema does:

* ``object_detection.desc`` - ``protos/object_detection`` (pipeline configs, label maps);
* ``tf_example.desc`` - ``protos/tensorflow`` (``tf.train.Example`` for the
  TensorFlow-free TFRecord reader).

``pip install`` never runs this: the ``.desc`` files are committed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "protos"
SCHEMA_DIR = ROOT / "tfod_anchors" / "_schema"
OUTPUT = SCHEMA_DIR / "object_detection.desc"
#: shipped descriptor set -> the folder of ``protos/`` it is compiled from
OUTPUTS = {"object_detection.desc": "object_detection", "tf_example.desc": "tensorflow"}


def proto_files(proto_root: Path = PROTO_ROOT, subdir: str = "object_detection") -> list[str]:
    """Import-style paths (``object_detection/protos/x.proto``) of every .proto under
    ``proto_root/subdir``, sorted."""
    return sorted(p.relative_to(proto_root).as_posix()
                  for p in (proto_root / subdir).rglob("*.proto"))


def build_descriptor_set(proto_root: Path = PROTO_ROOT, subdir: str = "object_detection") -> bytes:
    """Run grpc_tools' bundled protoc over ``proto_root/subdir`` (imports resolved from
    ``proto_root``); return deterministic bytes.

    Raises:
        RuntimeError: protoc reported an error (its message is included).
    """
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    files = proto_files(proto_root, subdir)
    if not files:
        raise RuntimeError(f"no .proto files under {proto_root / subdir}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "schema.desc"
        args = [
            "protoc",
            f"--proto_path={proto_root}",
            f"--descriptor_set_out={out}",
            "--include_imports",
            *files,
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {proto_root}")
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    for file_proto in fds.file:
        file_proto.ClearField("source_code_info")
    return fds.SerializeToString(deterministic=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare with the shipped files")
    parser.add_argument("--output-dir", type=Path, default=SCHEMA_DIR)
    args = parser.parse_args(argv)
    stale = 0
    for name, subdir in OUTPUTS.items():
        output = args.output_dir / name
        data = build_descriptor_set(PROTO_ROOT, subdir)
        if args.check:
            current = output.read_bytes() if output.exists() else b""
            if current != data:
                print(f"{output} is out of date; run python tools/build_schema.py",
                      file=sys.stderr)
                stale += 1
            continue
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(data)
        print(f"wrote {output} ({len(data)} bytes)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
