from rich.console import Console

from tidewise.model.results import GpuPackSummary
from tidewise.report import gpu_pack_table


def summary(policy, top):
    return GpuPackSummary(
        policy=policy,
        workload="default",
        seeds=[42, 43],
        alloc_pct_at={"80": 80.0, "90": 89.9, "100": top - 0.2, "110": top - 0.1, "130": top},
        alloc_pct_at_by_seed={},
        frag_pct_at={"100": 100 - top},
        failed_pods=2451.0,
        pods_per_second=2309.1,
    )


def test_table_shows_levels_and_highlights_the_best():
    console = Console(record=True, width=160)
    console.print(gpu_pack_table([summary("fgd", 95.42), summary("best-fit", 93.14)]))
    text = console.export_text()
    assert "GPU allocation % on default" in text
    assert "95.42" in text and "93.14" in text and "95.22" in text
    assert "2,451" in text and "2,309" in text
