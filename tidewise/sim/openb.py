"""Alibaba cluster-trace-gpu-v2023 ("openb") node and pod lists.

Columns (shared/data/alibaba-gpu-v2023/README.md): nodes ``sn,cpu_milli,memory_mib,gpu,model``;
pods ``name,cpu_milli,memory_mib,num_gpu,gpu_milli[,gpu_spec,...]``. Any file in this format
can be replayed.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tidewise.files import InputError, read_input
from tidewise.model import MILLI_PER_GPU
from tidewise.placement.gpushare import NodeSpec, PodShape

NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")


class TraceFormatError(ValueError):
    pass


def _rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        text = read_input(path)
    except InputError as error:
        raise TraceFormatError(str(error)) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in columns if c not in (reader.fieldnames or ())]
    if missing:
        raise TraceFormatError(f"{path}: missing column(s) {', '.join(missing)}")
    rows = list(reader)
    for line, row in enumerate(rows, start=2):
        if None in row.values() or None in row:  # fewer or more cells than the header
            raise TraceFormatError(
                f"{path}:{line}: not as many cells as the header has columns (a line cut short?)"
            )
    return rows


def _int(path: Path, line: int, row: dict[str, str], column: str) -> int:
    try:
        value = int(row[column])
    except (TypeError, ValueError):
        raise TraceFormatError(f"{path}:{line}: {column} must be an integer") from None
    if value < 0:
        raise TraceFormatError(f"{path}:{line}: {column} must be >= 0")
    return value


def load_nodes(path: Path) -> list[NodeSpec]:
    nodes = []
    for line, row in enumerate(_rows(path, NODE_COLUMNS), start=2):
        nodes.append(
            NodeSpec(
                name=row["sn"],
                cpu_milli=_int(path, line, row, "cpu_milli"),
                memory_mib=_int(path, line, row, "memory_mib"),
                gpus=_int(path, line, row, "gpu"),
                model=row["model"] or "",
            )
        )
    return nodes


def load_pods(path: Path) -> list[PodShape]:
    pods = []
    for line, row in enumerate(_rows(path, POD_COLUMNS), start=2):
        num_gpu = _int(path, line, row, "num_gpu")
        milli = _int(path, line, row, "gpu_milli")
        spec = (row.get("gpu_spec") or "").strip()
        try:
            pods.append(
                PodShape(
                    cpu_milli=_int(path, line, row, "cpu_milli"),
                    memory_mib=_int(path, line, row, "memory_mib"),
                    num_gpu=num_gpu,
                    gpu_milli=milli if num_gpu else 0,
                    gpu_models=frozenset(spec.split("|")) if spec and num_gpu else None,
                )
            )
        except ValueError as err:
            raise TraceFormatError(f"{path}:{line}: {err}") from None
        if num_gpu and milli > MILLI_PER_GPU:
            raise TraceFormatError(f"{path}:{line}: gpu_milli must be <= 1000")
    return pods
