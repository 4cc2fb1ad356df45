"""Alibaba cluster-trace-gpu-v2023 ("openb") node and pod lists.

Columns (shared/data/alibaba-gpu-v2023/README.md): nodes ``sn,cpu_milli,memory_mib,gpu,model``;
pods ``name,cpu_milli,memory_mib,num_gpu,gpu_milli[,gpu_spec,...]``. Any file in this format
can be replayed. Both read as :class:`Resources`: a node's capacity, a pod's request (a pod
with ``gpu_milli`` 1000 takes ``num_gpu`` whole GPUs, one with less a share of one GPU).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tidewise.files import InputError, read_input
from tidewise.model import MILLI_PER_GPU, Resources

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


def load_nodes(path: Path) -> list[Resources]:
    """Each node's capacity (the trace gives no GPU memory: never the limit)."""
    nodes = []
    for line, row in enumerate(_rows(path, NODE_COLUMNS), start=2):
        gpus = _int(path, line, row, "gpu")
        nodes.append(
            Resources(
                cpu_milli=_int(path, line, row, "cpu_milli"),
                memory_mib=_int(path, line, row, "memory_mib"),
                gpu_count=gpus,
                gpu_model=(row["model"] or None) if gpus else None,
            )
        )
    return nodes


def load_pods(path: Path) -> list[Resources]:
    pods = []
    for line, row in enumerate(_rows(path, POD_COLUMNS), start=2):
        num_gpu = _int(path, line, row, "num_gpu")
        milli = _int(path, line, row, "gpu_milli") if num_gpu else 0
        spec = (row.get("gpu_spec") or "").strip()
        if milli > MILLI_PER_GPU:
            raise TraceFormatError(f"{path}:{line}: gpu_milli must be <= 1000")
        if num_gpu > 1 and milli != MILLI_PER_GPU:
            raise TraceFormatError(f"{path}:{line}: a multi-GPU pod takes whole GPUs (1000)")
        if num_gpu and not milli:
            raise TraceFormatError(f"{path}:{line}: a GPU pod needs gpu_milli > 0")
        whole = milli == MILLI_PER_GPU
        pods.append(
            Resources(
                cpu_milli=_int(path, line, row, "cpu_milli"),
                memory_mib=_int(path, line, row, "memory_mib"),
                gpu_count=num_gpu if whole else 0,
                gpu_milli=0 if whole else milli,
                gpu_model=spec if spec and num_gpu else None,
            )
        )
    return pods
