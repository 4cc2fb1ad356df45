"""Regenerate the Python stubs of the kubelet's gRPC APIs from the ``.proto`` files beside
this module: ``make protos``, or ``python -m tidewise.kube.deviceplugin.apis.codegen``.

Why the stubs are committed rather than built at install time: the package then installs
without grpcio-tools (a dev dependency), and a reviewer sees the code that runs. A test
regenerates them into a temporary folder and compares, so a proto edited without its stubs,
or stubs edited by hand, fail it.

The proto path given to protoc is the file's path from the folder that holds ``tidewise/``,
so the generated ``*_pb2_grpc.py`` imports its messages by their full module path.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]  # the folder that holds tidewise/
PROTOS = (HERE / "deviceplugin/v1beta1/api.proto", HERE / "podresources/v1/api.proto")


def generate(out: Path) -> list[Path]:
    """Write the stubs of every proto under ``out`` (mirroring the package layout); the
    files written, relative to ``out``."""
    from grpc_tools import protoc  # dev dependency: only regeneration needs it

    written = []
    for proto in PROTOS:
        options = [f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}"]
        if protoc.main(["protoc", f"-I{ROOT}", *options, str(proto)]) != 0:
            raise RuntimeError(f"protoc failed on {proto}")
        stem = proto.relative_to(ROOT).with_suffix("")
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            written.append(stem.with_name(stem.name + suffix))
    return written


if __name__ == "__main__":
    for path in generate(ROOT):
        print(path, file=sys.stderr)
