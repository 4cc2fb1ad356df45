import re

import numpy as np
from plotly.offline import get_plotlyjs

from tidewise.model.results import SimReport
from tidewise.report import write_html
from tidewise.report.figures import cost_rate_figure
from tidewise.report.series import axis, bucket_means, cumulative, date, zone_name


def _page(report: SimReport, tmp_path, **kwargs) -> str:
    path = tmp_path / "report.html"
    write_html(report, path, **kwargs)
    return path.read_text(encoding="utf-8")


def test_page_is_self_contained(report, tmp_path):
    page = _page(report, tmp_path)
    assert not re.search(r"<script[^>]+src=", page)
    ours = page.replace(get_plotlyjs(), "")  # the bundle's own links (credits) load nothing
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", ours)


def test_plotly_bundle_is_embedded_once(report, tmp_path):
    page = _page(report, tmp_path)
    banner = get_plotlyjs().lstrip()[:60]  # the licence banner naming the plotly.js version
    assert page.count(banner) == 1
    assert len(page.encode()) < 10_000_000


def test_page_names_every_workload_and_policy(report, tmp_path):
    page = _page(report, tmp_path)
    for name in ("nasa-week", "chat-api", "embeddings", "fixed-nodes", "tidewise"):
        assert name in page


def test_one_figure_per_workload_plus_two_cost_charts(report, tmp_path):
    page = _page(report, tmp_path)
    assert page.count('class="plotly-graph-div"') == 2 + 2


def test_summary_table_shows_terminal_figures(report, tmp_path):
    page = _page(report, tmp_path)
    assert '<tr class="best"><td>tidewise</td><td class="cost">$580.00</td>' in page
    assert '<td class="saving">\N{MINUS SIGN}42%</td>' in page
    assert "<th>vs fixed-nodes</th>" in page
    assert "Cheapest: <b>tidewise</b> at $580.00 (\N{MINUS SIGN}42% against fixed-nodes)" in page
    assert "offline lower bound $1.00 · $1.25 buying a start-up ahead." in page


def test_attribution_is_escaped_into_the_footer(report, tmp_path):
    page = _page(report, tmp_path, attribution="NASA-HTTP trace <ita.ee.lbl.gov> & co")
    assert "<footer>NASA-HTTP trace &lt;ita.ee.lbl.gov&gt; &amp; co" in page


def test_report_without_timeseries_still_writes(report, tmp_path):
    bare = report.model_copy(
        update={"runs": [r.model_copy(update={"timeseries": None}) for r in report.runs]}
    )
    page = _page(bare, tmp_path)
    assert "No time series was recorded." in page
    assert 'class="plotly-graph-div"' not in page


def test_long_series_are_bucketed_keeping_the_mean():
    ax = axis(0.0, 60.0, 10_081, max_points=5_000)
    assert ax.factor == 3 and ax.dx_ms == 180_000.0 and ax.x0 == "1970-01-01 00:00:00"
    means = bucket_means([1.0, 2.0, 3.0, 10.0], 3)
    np.testing.assert_allclose(means, [2.0, 10.0])
    assert means.dtype == np.float32


def test_cumulative_starts_at_zero_and_ends_at_the_total():
    np.testing.assert_allclose(cumulative([1.0, 2.0, 3.0, 4.0, 5.0], 2), [0.0, 3.0, 10.0, 15.0])


def test_dates_are_utc_unless_the_scenario_s_clock_is_given():
    assert date(1_700_000_000.0) == "2023-11-14 22:13:20"
    assert date(1_700_000_000.0, -4 * 3600) == "2023-11-14 18:13:20"
    assert [zone_name(s) for s in (0, -4 * 3600, 5.5 * 3600)] == [
        "UTC",
        "UTC-04:00",
        "UTC+05:30",
    ]


def test_the_report_is_drawn_in_the_scenario_s_time_zone(report, tmp_path):
    runs = [
        run.model_copy(
            update={"timeseries": run.timeseries.model_copy(update={"utc_offset_s": -14400.0})}
        )
        for run in report.runs
    ]
    page = _page(report.model_copy(update={"runs": runs}), tmp_path)
    assert "from 2023-11-14 18:13:20 UTC-04:00" in page
    assert '"x0":"2023-11-14 18:13:20"' in page and '"text":"UTC-04:00"' in page


def test_cost_panels_treat_an_absent_option_as_zero(report):
    # fixed-nodes records no serverless series; its panel must still show its on-demand cost
    fig = cost_rate_figure(report)
    fixed = [t for t in fig.data if t.stackgroup == "policy0"]
    assert [t.name for t in fixed] == ["on-demand", "spot", "serverless"]
    assert all(len(t.y) == 480 for t in fixed)
    np.testing.assert_allclose(fixed[0].y, 1000.0 / 8, rtol=1e-5)  # USD/h over eight hours
    assert not np.any(fixed[2].y)


def _with_fragmentation(report: SimReport, values: list[float]) -> SimReport:
    runs = []
    for run in report.runs:
        assert run.timeseries is not None
        series = run.timeseries.model_copy(
            update={"gpu_fragment_pct": values, "gpu_fragment_step_s": 900.0}
        )
        runs.append(run.model_copy(update={"timeseries": series}))
    return report.model_copy(update={"runs": runs})


def test_fragmentation_is_charted_when_some_gpu_was_stranded(report, tmp_path):
    page = _page(_with_fragmentation(report, [0.0, 2.5, 1.0]), tmp_path)
    assert "<h2>GPU fragmentation</h2>" in page and "No GPU was ever fragmented" not in page
    assert page.count('class="plotly-graph-div"') == 4 + 1


def test_fragmentation_always_zero_is_said_in_words_not_drawn_on_an_empty_axis(report, tmp_path):
    page = _page(_with_fragmentation(report, [0.0, 0.0, 0.0]), tmp_path)
    assert "No GPU was ever fragmented" in page
    assert page.count('class="plotly-graph-div"') == 4  # no flat chart


def test_the_benchmark_pages_share_the_sim_report_s_style(tmp_path):
    import plotly.graph_objects as go

    from tidewise.report.page import write_chart_page
    from tidewise.report.style import CSS

    path = tmp_path / "bench.html"
    write_chart_page(path, "bench", go.Figure(go.Scatter(y=[1, 2])), "<table></table>")
    page = path.read_text(encoding="utf-8")
    assert f"<style>{CSS}</style>" in page and "<main>" in page
    assert '"template":{"data"' in page.replace(" ", "")  # plotly_white, as the sim's charts


def test_a_saving_that_cannot_be_priced_reads_n_a_not_zero_dollars(report, tmp_path):
    from tidewise.model.results import RightsizingLine

    line = RightsizingLine(
        workload="chat-api",
        mean_replicas=4.0,
        cpu_request_milli=1000,
        cpu_target_milli=600,
        memory_request_mib=2048,
        memory_target_mib=1024,
        reclaimable_vcpu=1.6,
        reclaimable_gib=4.0,
        reclaimable_usd_per_month=None,
    )
    runs = [report.runs[0].model_copy(update={"rightsizing": [line]}), *report.runs[1:]]
    page = _page(report.model_copy(update={"runs": runs}), tmp_path)
    assert "<td>1.6</td><td>4.0</td><td>n/a</td>" in page
