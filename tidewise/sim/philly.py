"""The Philly-derived job trace, read as rows: when each job arrived, how many GPUs it asked
for and how long it ran (``shared/data/philly-jobs-derived``).

Format: a ``#`` header line, then ``job id, arrival time (sec), topology, shape, size,
duration (sec)``; ``topology`` and ``shape`` are the RFold simulator's and ignored. Two
simulations read it (the training queue's replay and the week twin's batch load), each
turning rows into its own jobs, so the reader sits here, shared, as the ``sim`` contract
asks.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from tidewise.files import InputError, read_input


class PhillyError(ValueError):
    """A file that is not a job trace; the message names the file and the line."""


@dataclass(frozen=True, slots=True)
class PhillyRow:
    job_id: int
    arrival_s: float
    gpus: int
    duration_s: float


def read_rows(path: Path, start_s: float, end_s: float, label: str) -> list[PhillyRow]:
    """The rows arriving in [start_s, end_s), in file (arrival) order; ``label`` (the flag
    or field that gave the path) begins every error's one line."""
    try:
        text = read_input(path)
    except InputError as err:
        raise PhillyError(f"{label}: {err}") from None
    rows: list[PhillyRow] = []
    try:
        for line, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) != 6:
                raise PhillyError(f"{label}: {path}:{line}: expected 6 columns, got {len(row)}")
            arrival = float(row[1])
            if not start_s <= arrival < end_s:
                continue
            gpus, duration = int(row[4]), float(row[5])
            if gpus < 1 or duration < 0:
                raise PhillyError(f"{label}: {path}:{line}: size must be >= 1, duration >= 0")
            rows.append(PhillyRow(int(row[0]), arrival, gpus, duration))
    except (ValueError, csv.Error) as err:
        if isinstance(err, PhillyError):
            raise
        raise PhillyError(f"{label}: {path}: not a job trace ({err})") from None
    return rows
