"""Terminal tables and the self-contained HTML report of a replay."""

from tidewise.report.files import write_atomically
from tidewise.report.html import write_html
from tidewise.report.table import render_table

__all__ = ["render_table", "write_atomically", "write_html"]
