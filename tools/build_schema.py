"""Compile ``protos/`` into the descriptor set shipped in the package.

Usage (from the repository root, needs ``grpcio-tools``)::

    python tools/build_schema.py            # rewrite tfod_anchors/_schema/object_detection.desc
    python tools/build_schema.py --check    # exit 1 if the shipped file is stale

The output is a serialized ``FileDescriptorSet`` holding every file under
``protos/object_detection/protos`` plus its imports, dependencies first, without
source info, serialized deterministically so the bytes only change when the
schema does. ``pip install`` never runs this: the ``.desc`` file is committed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "protos"
OUTPUT = ROOT / "tfod_anchors" / "_schema" / "object_detection.desc"


def proto_files(proto_root: Path = PROTO_ROOT) -> list[str]:
    """Import-style paths (``object_detection/protos/x.proto``) of every .proto, sorted."""
    return sorted(p.relative_to(proto_root).as_posix() for p in proto_root.rglob("*.proto"))


def build_descriptor_set(proto_root: Path = PROTO_ROOT) -> bytes:
    """Run grpc_tools' bundled protoc over ``proto_root``; return deterministic bytes.

    Raises:
        RuntimeError: protoc reported an error (its message is included).
    """
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    files = proto_files(proto_root)
    if not files:
        raise RuntimeError(f"no .proto files under {proto_root}")
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
    parser.add_argument("--check", action="store_true", help="only compare with the shipped file")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    data = build_descriptor_set()
    if args.check:
        current = args.output.read_bytes() if args.output.exists() else b""
        if current != data:
            print(
                f"{args.output} is out of date; run python tools/build_schema.py", file=sys.stderr
            )
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    print(f"wrote {args.output} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
