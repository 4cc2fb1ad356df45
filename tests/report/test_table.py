import io

from rich.console import Console

from tidewise.model.results import SimReport
from tidewise.report import render_table
from tidewise.report.summary import change, horizon, policy_summary


def _render(report: SimReport, styles: bool = False, wide: bool = True, width: int = 220) -> str:
    console = Console(
        file=io.StringIO(), record=True, width=width, color_system="standard", force_terminal=True
    )
    render_table(report, console, wide=wide)
    return console.export_text(styles=styles)


def _row(text: str, policy: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"│ {policy} "))


def test_policy_rows_hold_the_figures(report):
    text = _render(report)
    assert "offline lower bound $1.00 · $1.25 buying a start-up ahead" in text
    fixed = _row(text, "fixed-nodes")
    elastic = _row(text, "tidewise")
    for cell in ("$1,000.00", "100.00%", "0.0", "3,200.0", "64.0", "12"):
        assert cell in fixed
    for cell in ("$580.00", "\N{MINUS SIGN}42%", "$300.00", "$250.00", "$30.00", "99.25%", "37.5"):
        assert cell in elastic
    for cell in ("1,850.2", "40.5", "57", "3"):
        assert cell in elastic


def test_headers_name_the_baseline_and_only_bought_options(report):
    text = _render(report)
    assert "vs fixed-nodes" in text
    assert "On-demand" in text and "Spot" in text and "Serverless" in text
    assert "Reserved" not in text  # no policy bought reserved capacity
    assert "nasa-week · 8 h · seed 7" in text


def _long_names(report: SimReport) -> SimReport:
    """The default week's longest policy name and largest cost, the cells that were cut."""
    runs = [
        run.model_copy(update={"policy": "fixed-on-demand", "cost_usd": 8559.67}) if i == 0 else run
        for i, run in enumerate(report.runs)
    ]
    return report.model_copy(update={"runs": runs})


def test_the_default_table_fits_80_columns_with_every_figure_whole(report):
    text = _render(_long_names(report), wide=False, width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    row = _row(text, "fixed-on-demand")
    assert "$8,559.67" in row and "100.00%" in row
    assert "vs fixed-on-demand" in text and "Violation min" in text
    assert "Spot" not in text and "Launches" not in text  # those are -o wide's


def test_wide_keeps_every_column(report):
    text = _render(report, wide=True, width=250)
    for header in ("On-demand", "Spot", "vCPU-h", "GPU-h", "Launches", "Interruptions"):
        assert header in text
    # a run met interruptions and a failed launch: what they cost in service is shown
    for header in ("Launch failures", "Evictions", "Pods lost"):
        assert header in text


def test_disruption_columns_only_when_a_run_was_disrupted(report):
    calm = [
        r.model_copy(update={"interruptions": 0, "launch_failures": 0, "evictions": 0})
        for r in report.runs
    ]
    text = _render(report.model_copy(update={"runs": calm}), wide=True, width=250)
    assert "Interruptions" in text and "Pods lost" not in text


def test_cheapest_cost_is_highlighted(report):
    styled = _render(report, styles=True)
    assert "\x1b[1;32m$580.00" in styled
    assert "\x1b[1;32m$1,000.00" not in styled


def test_per_workload_table(report):
    text = _render(report)
    assert "per workload" in text
    chat = next(line for line in text.splitlines() if "chat-api" in line)
    assert "fixed-nodes" in chat and "24" in chat
    assert any("tidewise" in ln and "99.10%" in ln and "30.0" in ln for ln in text.splitlines())
    assert any("tidewise" in ln and "99.75%" in ln and "9" in ln for ln in text.splitlines())


def test_report_without_runs_renders():
    text = _render(
        SimReport(scenario="empty", horizon_s=3600, seed=0, runs=[], lower_bound_usd=0.0)
    )
    assert "no runs" in text


def test_change_is_signed_and_rounded():
    assert change(580.0, 1000.0) == "\N{MINUS SIGN}42%"
    assert change(1120.0, 1000.0) == "+12%"
    assert change(1000.2, 1000.0) == "±0%"
    assert change(5.0, 0.0) == "n/a"


def test_horizon_reads_like_a_person_says_it():
    assert horizon(7 * 86400) == "7 d"
    assert horizon(36 * 3600) == "36 h"
    assert horizon(5400) == "90 min"


def test_summary_marks_cheapest_row(report):
    assert policy_summary(report).cheapest == 1


def test_a_batch_load_gets_its_table_with_both_bills(report):
    from tidewise.model.results import BatchResult

    assert "batch load" not in _render(report)  # no run had one
    batch = BatchResult(
        jobs=12,
        jobs_completed=11,
        offered_core_hours=1500.0,
        done_core_hours=1400.4,
        shared_core_hours=900.0,
        evictions=7,
        lost_core_hours=2.25,
        own_node_launches=3,
        cost_usd=20.5,
        contention_node_minutes=0,
    )
    runs = [report.runs[0].model_copy(update={"batch": batch}), report.runs[1]]
    text = _render(report.model_copy(update={"runs": runs}))
    assert "batch load" in text
    row = _row(text[text.index("batch load") :], "fixed-nodes")
    for cell in ("11/12", "1,400/1,500", "900", "7", "2.2", "$20.50", "$1,020.50"):
        assert cell in row
