"""The page renders in a real browser: every figure becomes a plotly plot with its SVG."""

import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from tidewise.model.results import GpuPackSummary
from tidewise.report import write_gpu_pack_html, write_html

pytestmark = pytest.mark.e2e


class _PlotCounter(HTMLParser):
    """Counts plotly plot containers and, for each, the ``main-svg`` SVGs inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.svgs_per_plot: list[int] = []
        self._open: list[bool] = []  # per open div: is it a plot container?

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "div":
            is_plot = "js-plotly-plot" in classes
            self._open.append(is_plot)
            if is_plot:
                self.svgs_per_plot.append(0)
        elif tag == "svg" and "main-svg" in classes and any(self._open):
            self.svgs_per_plot[-1] += 1

    def handle_endtag(self, tag):
        if tag == "div" and self._open:
            self._open.pop()


def _chromium() -> str:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is missing: run `make test` or `scripts/ensure-debs` first")
    return binary


def _browse(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )


def test_every_figure_renders(report, tmp_path):
    page = tmp_path / "report.html"
    write_html(report, page)
    figures = page.read_text(encoding="utf-8").count('class="plotly-graph-div"')
    assert figures == 4  # two workloads, cost rate, cumulative cost

    dom = _browse(tmp_path, "--dump-dom", page.as_uri()).stdout
    counter = _PlotCounter()
    counter.feed(dom)
    assert len(counter.svgs_per_plot) == figures, dom[-2000:]
    assert all(n >= 1 for n in counter.svgs_per_plot), counter.svgs_per_plot

    shot = tmp_path / "report.png"
    _browse(tmp_path, f"--screenshot={shot}", "--window-size=1400,2400", page.as_uri())
    assert shot.stat().st_size > 10_000


def test_gpu_pack_plot_renders(tmp_path):
    runs = [
        GpuPackSummary(
            policy=name,
            workload="tiny",
            seeds=[1],
            alloc_pct_at={str(k): min(k, top) for k in range(131)},
            alloc_pct_at_by_seed={"1": {"130": top}},
            frag_pct_at={"100": 100 - top},
            failed_pods=3,
            pods_per_second=1000,
        )
        for name, top in (("fgd", 95.4), ("best-fit", 93.1))
    ]
    page = tmp_path / "gpu.html"
    write_gpu_pack_html(runs, page, title="tiny")
    dom = _browse(tmp_path, "--dump-dom", page.as_uri()).stdout
    counter = _PlotCounter()
    counter.feed(dom)
    assert len(counter.svgs_per_plot) == 1 and counter.svgs_per_plot[0] >= 1
    assert "fgd" in dom and "95.40" in dom
