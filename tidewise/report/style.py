"""The one look of every tidewise HTML page: the sim report and the benchmarks' reports
share this stylesheet, so a reader moving between them sees one product."""

CSS = """
:root { --ink: #1f2328; --muted: #656d76; --line: #d0d7de; --best: #1a7f37; --worse: #cf222e; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #f6f8fa;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1320px; margin: 0 auto; padding: 24px 28px 8px; }
header h1 { font-size: 26px; margin: 0 0 2px; }
.meta { color: var(--muted); margin: 0 0 10px; }
.lead { font-size: 16px; margin: 0 0 8px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 16px 20px; margin: 18px 0; }
h2 { font-size: 18px; margin: 0 0 4px; }
.note { color: var(--muted); margin: 0 0 10px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 13px; }
th, td { padding: 4px 9px; border-bottom: 1px solid var(--line); text-align: right;
  white-space: nowrap; }
th { background: #f6f8fa; font-weight: 600; }
th:first-child, td:first-child { text-align: left; }
table.workloads td.workload { font-weight: 600; vertical-align: top; }
table.workloads th:nth-child(2), table.workloads td:nth-child(2) { text-align: left; }
tr.best td.cost { color: var(--best); font-weight: 700; }
td.saving { color: var(--best); }
td.extra { color: var(--worse); }
.scroll { overflow-x: auto; }
.figure { margin: 10px 0 4px; }
footer { color: var(--muted); font-size: 12px; padding: 4px 28px 24px; max-width: 1320px;
  margin: 0 auto; }
"""

FIGURE_STYLE = {
    "template": "plotly_white",
    "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
}
"""The charts' part of the look: every figure on every page is laid out with it."""
