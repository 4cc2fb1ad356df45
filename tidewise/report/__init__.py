"""Terminal tables and the self-contained HTML report of a replay."""

from tidewise.report.gpu_pack import gpu_moves_table, gpu_pack_table, write_gpu_pack_html
from tidewise.report.html import write_html
from tidewise.report.table import render_table

__all__ = [
    "gpu_moves_table",
    "gpu_pack_table",
    "render_table",
    "write_gpu_pack_html",
    "write_html",
]
