"""One self-contained page around a chart: the benchmarks' ``--report`` files."""

from __future__ import annotations

from html import escape
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from tidewise.files import write_atomically

_STYLE = (
    "body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;text-align:right}"
    "td:first-child{text-align:left}"
)


def write_chart_page(
    path: Path, title: str, figure: go.Figure, body_html: str, lead_html: str = ""
) -> None:
    """Title, ``lead_html``, chart, then ``body_html`` (both already escaped), plotly.js
    inlined so the file opens offline."""
    chart = pio.to_html(figure, full_html=False, include_plotlyjs=False)
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<script>{get_plotlyjs()}</script><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>{lead_html}{chart}{body_html}</body></html>"
    )
    write_atomically(path, page)
