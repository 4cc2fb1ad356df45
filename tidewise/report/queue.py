"""The table of ``tidewise bench queue``: each policy on the fixed and the elastic pool."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

POOLS = ("fixed", "elastic")
COLUMNS = (
    ("Jobs", "jobs", "{:,}"),
    ("Avg JCT h", "avg_jct_s", "{:,.1f}"),
    ("Avg wait h", "avg_wait_s", "{:,.1f}"),
    ("p95 wait h", "p95_wait_s", "{:,.1f}"),
    ("GPU use", "gpu_utilization", "{:.1%}"),
    ("Cost", "cost_usd", "${:,.0f}"),
    ("Starved", "starved_jobs", "{:,}"),
)
HOURS = {"avg_jct_s", "avg_wait_s", "p95_wait_s"}


def queue_table(document: Mapping[str, Any]) -> Table:
    """One row per pool and policy, times in hours (the document keeps seconds)."""
    table = Table(title=f"Queue policies on {document['gpus']} GPUs")
    table.add_column("Pool")
    table.add_column("Policy")
    for header, _, _ in COLUMNS:
        table.add_column(header, justify="right")
    for pool in POOLS:
        for row in document.get(pool, []):
            cells = [
                form.format(row[key] / 3600 if key in HOURS else row[key])
                for _, key, form in COLUMNS
            ]
            table.add_row(pool, row["policy"], *cells)
    return table
