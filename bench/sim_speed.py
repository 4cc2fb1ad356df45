"""How fast the twin replays, side by side with an earlier revision (issue 22).

Every measurement is one child process (``--child``: a fresh interpreter, so its peak RSS is
its own) that imports tidewise either from this tree or, with ``--baseline REV``, from REV
checked out by ``git worktree add`` into a temporary folder; the two revisions' runs
alternate (interleaved) so both see the same machine, and the medians of ``--repeat`` runs
are compared as ratios. Absolute times on a shared machine are noise; ratios in one run are
not. It measures:

- ``week``: the default scenario, every policy, as ``tidewise sim`` runs it (policies in
  ``--jobs`` processes), with each policy's cost, served fraction and violation minutes, so
  the two revisions' results can be compared to the cent;
- ``scaling``: one policy (``--scaling-policy``) on the default scenario over
  ``--scaling-horizon`` with the traffic and replica limits multiplied by each of
  ``--factors`` (about that many times the nodes): wall time against peak nodes;
- ``fleet``: a scenario file (``--fleet``, e.g. examples/fleet-50.yaml) under one policy
  (``--fleet-policy``): wall time and peak RSS.

``--chart FILE.svg`` draws wall time against peak nodes (an SVG written here: no plotting
library is a dependency).

    python bench/sim_speed.py --baseline main --repeat 3 --chart bench/sim_speed_scaling.svg
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def scaled(scenario: Any, factor: float, horizon_s: float | None = None) -> Any:
    """The scenario with ``factor`` times the traffic and the replica limits (so about
    ``factor`` times the nodes), optionally over a shorter horizon."""
    workloads = [
        w.model_copy(
            update={
                "trace": w.trace.model_copy(update={"scale": w.trace.scale * factor}),
                "replicas": w.replicas.model_copy(
                    update={"max": max(int(w.replicas.max * factor), w.replicas.min)}
                ),
            }
        )
        for w in scenario.workloads
    ]
    update: dict[str, Any] = {"workloads": workloads, "name": f"{scenario.name}-x{factor:g}"}
    if horizon_s is not None:
        update["horizon"] = horizon_s
    return scenario.model_copy(update=update)


# -- the child: one measurement in a fresh process -----------------------------------------


def child(args: argparse.Namespace) -> dict[str, Any]:
    """Imports tidewise from wherever PYTHONPATH points (this tree or the baseline's)."""
    import numpy as np

    from tidewise.cli.sim import default_scenario_path
    from tidewise.model import parse_duration
    from tidewise.sim.services.policies import POLICIES
    from tidewise.sim.services.runner import prepare, run
    from tidewise.sim.services.scenario import load_scenario
    from tidewise.sim.services.twin import Twin

    path = Path(args.scenario) if args.scenario else default_scenario_path()
    scenario, base = load_scenario(path)
    if args.child == "week":
        started = time.perf_counter()
        report = run(prepare(scenario, base), workers=args.jobs)
        wall = time.perf_counter() - started
        results = {
            r.policy: {
                "cost_usd": round(r.cost_usd, 2),
                "served_fraction": r.served_fraction,
                "violation_minutes": r.violation_minutes,
                "node_launches": r.node_launches,
            }
            for r in report.runs
        }
        return {"wall_s": wall, "results": results, **_rss()}
    horizon = parse_duration(args.horizon) if args.horizon else None
    if args.factor != 1 or horizon is not None:
        scenario = scaled(scenario, args.factor, horizon)
    prepared = prepare(scenario, base)
    twin = Twin(
        prepared.setup,
        POLICIES[args.policy][1](prepared.setup),
        np.random.default_rng(scenario.seed),
    )
    peak = 0

    def track(_: float) -> None:
        nonlocal peak
        peak = max(peak, len(twin.nodes))

    started = time.perf_counter()
    result = twin.run(args.policy, track)
    wall = time.perf_counter() - started
    return {
        "wall_s": wall,
        "peak_nodes_hourly": peak,
        "node_launches": result.node_launches,
        "workloads": len(scenario.workloads),
        "horizon_s": scenario.horizon,
        "cost_usd": round(result.cost_usd, 2),
        "violation_minutes": result.violation_minutes,
        **_rss(),
    }


def _rss() -> dict[str, float]:
    """Peak resident memory of this process and its finished children (Linux: KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"peak_rss_mib": round(max(own, kids) / 1024, 1)}


# -- the parent: alternate the revisions, take medians --------------------------------------


def measure(tree: Path, argv: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, str(Path(__file__).resolve()), "--child", *argv]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(argv)} failed under {tree}:\n{done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.splitlines()[-1]))


def side_by_side(trees: dict[str, Path], argv: list[str], repeat: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for _ in range(repeat):
        for name, tree in trees.items():  # interleaved: both see the same machine
            runs[name].append(measure(tree, argv))
            print(f"  {name} {' '.join(argv)}: {runs[name][-1]['wall_s']:.2f} s", file=sys.stderr)
    out: dict[str, Any] = {}
    for name, samples in runs.items():
        first = {k: v for k, v in samples[0].items() if k != "wall_s"}
        walls = [s["wall_s"] for s in samples]
        out[name] = {"median_wall_s": round(statistics.median(walls), 3), "walls_s": walls, **first}
        out[name]["walls_s"] = [round(w, 3) for w in walls]
    if "baseline" in out:
        out["speed_up"] = round(out["baseline"]["median_wall_s"] / out["this"]["median_wall_s"], 2)
    return out


def baseline_tree(rev: str, folder: Path) -> Path:
    tree = folder / "baseline"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev],
        check=True,
        capture_output=True,
    )
    return tree


def chart(points: list[tuple[str, float, float]], path: Path) -> None:
    """Wall time against peak nodes, log-log, one series per revision, as an SVG."""
    import math

    width, height, pad = 640, 420, 60
    xs = [math.log10(p[1]) for p in points]
    ys = [math.log10(p[2]) for p in points]
    x0, x1 = math.floor(min(xs)), math.ceil(max(xs))
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys))
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)

    def at(x: float, y: float) -> tuple[float, float]:
        px = pad + (math.log10(x) - x0) / (x1 - x0) * (width - 2 * pad)
        py = height - pad - (math.log10(y) - y0) / (y1 - y0) * (height - 2 * pad)
        return round(px, 1), round(py, 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle">Twin wall time against fleet '
        "size (log-log; dashed: linear from the smallest)</text>",
    ]
    for e in range(x0, x1 + 1):
        px, _ = at(10**e, 10**y0)
        parts.append(f'<line x1="{px}" y1="{pad}" x2="{px}" y2="{height - pad}" stroke="#ddd"/>')
        parts.append(
            f'<text x="{px}" y="{height - pad + 16}" text-anchor="middle">{10**e:g}</text>'
        )
    for e in range(y0, y1 + 1):
        _, py = at(10**x0, 10**e)
        parts.append(f'<line x1="{pad}" y1="{py}" x2="{width - pad}" y2="{py}" stroke="#ddd"/>')
        parts.append(f'<text x="{pad - 6}" y="{py + 4}" text-anchor="end">{10**e:g} s</text>')
    parts.append(f'<text x="{width / 2}" y="{height - 16}" text-anchor="middle">peak nodes</text>')
    colours = {"this": "#1f77b4", "baseline": "#d62728"}
    for i, name in enumerate(dict.fromkeys(p[0] for p in points)):
        series = sorted((p[1], p[2]) for p in points if p[0] == name)
        colour = colours.get(name, "#333")
        line = " ".join(f"{at(x, y)[0]},{at(x, y)[1]}" for x, y in series)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in series:
            px, py = at(x, y)
            parts.append(f'<circle cx="{px}" cy="{py}" r="4" fill="{colour}"/>')
        (lx, ly), (hx, _) = series[0], series[-1]
        a, b = at(lx, ly), at(hx, ly * hx / lx)
        parts.append(
            f'<line x1="{a[0]}" y1="{a[1]}" x2="{b[0]}" y2="{b[1]}" stroke="{colour}" '
            'stroke-dasharray="5,4"/>'
        )
        parts.append(f'<text x="{pad + 10}" y="{pad + 16 * (i + 1)}" fill="{colour}">{name}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", metavar="REV", help="compare with this git revision")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="processes for the week's policies")
    parser.add_argument("--skip", default="", help="comma list of parts: week,scaling,fleet")
    parser.add_argument("--factors", default="1,10,100")
    parser.add_argument("--scaling-policy", default="reactive")
    parser.add_argument("--scaling-horizon", default="1d")
    parser.add_argument("--fleet", help="a scenario file to replay under --fleet-policy")
    parser.add_argument("--fleet-policy", default="reactive")
    parser.add_argument("--fleet-repeat", type=int, default=1)
    parser.add_argument("--chart", type=Path, help="write wall time against nodes as SVG")
    # one measurement, in a child process
    parser.add_argument("--child", choices=["week", "replay"], help=argparse.SUPPRESS)
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--policy", help=argparse.SUPPRESS)
    parser.add_argument("--factor", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--horizon", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory(prefix="sim-speed-") as folder:
        trees = {"this": ROOT}
        if args.baseline:
            trees["baseline"] = baseline_tree(args.baseline, Path(folder))
        try:
            out = run_all(args, trees, skip)
        finally:
            if args.baseline:
                subprocess.run(
                    [
                        "git",
                        "-C",
                        str(ROOT),
                        "worktree",
                        "remove",
                        "--force",
                        str(trees["baseline"]),
                    ],
                    check=False,
                )
    print(json.dumps(out, indent=2))


def run_all(args: argparse.Namespace, trees: dict[str, Path], skip: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "benchmark": "sim_speed",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {len(os.sched_getaffinity(0))} cores",
        "load_average_before": os.getloadavg(),
        "baseline": args.baseline,
        "repeat": args.repeat,
    }
    if "week" not in skip:
        week = side_by_side(trees, ["week", "--jobs", str(args.jobs)], args.repeat)
        if "baseline" in week:
            week["same_results"] = week["this"]["results"] == week["baseline"]["results"]
        out["week"] = week
    if "scaling" not in skip:
        out["scaling"] = {}
        for factor in args.factors.split(","):
            argv = ["replay", "--policy", args.scaling_policy, "--factor", factor]
            argv += ["--horizon", args.scaling_horizon]
            out["scaling"][f"{factor}x"] = side_by_side(trees, argv, args.repeat)
        out["scaling_growth"] = growth(out["scaling"], trees)
        if args.chart:
            points = [
                (name, size[name]["peak_nodes_hourly"], size[name]["median_wall_s"])
                for size in out["scaling"].values()
                for name in trees
            ]
            chart(points, args.chart)
    if args.fleet and "fleet" not in skip:
        argv = ["replay", "--scenario", args.fleet, "--policy", args.fleet_policy]
        out["fleet"] = side_by_side({"this": trees["this"]}, argv, args.fleet_repeat)
    out["load_average_after"] = os.getloadavg()
    return out


def growth(scaling: dict[str, Any], trees: dict[str, Path]) -> dict[str, Any]:
    """Each size's wall time over the smallest's, against its peak nodes over the smallest's:
    1.0 in ``wall_per_node_ratio`` is exactly linear."""
    sizes = list(scaling)
    out: dict[str, Any] = {}
    for name in trees:
        first = scaling[sizes[0]][name]
        out[name] = {
            size: {
                "wall_ratio": round(
                    scaling[size][name]["median_wall_s"] / first["median_wall_s"], 2
                ),
                "node_ratio": round(
                    scaling[size][name]["peak_nodes_hourly"] / first["peak_nodes_hourly"], 2
                ),
            }
            for size in sizes[1:]
        }
        for ratios in out[name].values():
            ratios["wall_per_node_ratio"] = round(ratios["wall_ratio"] / ratios["node_ratio"], 2)
    return out


if __name__ == "__main__":
    main()
