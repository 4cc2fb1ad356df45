"""One `tidewise` command on two revisions, alternately, N times each: wall and CPU, as JSON.

    git worktree add --detach /tmp/before main
    python bench/side_by_side.py --before /tmp/before --repeat 3 -- \\
        bench gpu-pack --nodes ... --pods ... --policy fgd --seeds 42-51 --quiet

Each run is ``python -m tidewise.cli ARGS`` with the revision's tree first on ``PYTHONPATH``
(this checkout's interpreter and packages for both), so only the code differs. Runs alternate
(before, after, before, ...) so that a load that changes over time falls on both alike. The
machine is shared: besides the medians of wall and CPU seconds (user + system of the child)
and their ratios, the load average before each run is reported, and the CPU ratio is the one
to trust when the load is high.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

AFTER = Path(__file__).resolve().parents[1]


def run(tree: Path, args: list[str]) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tidewise.cli", *args],
        cwd=tree,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "load_1min": round(load, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the earlier revision's tree")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="-- then the tidewise arguments")
    options = parser.parse_args()
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    trees = {"before": options.before.resolve(), "after": AFTER}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(options.repeat):
        for name, tree in trees.items():
            runs[name].append(run(tree, args))
            print(f"{name}: {runs[name][-1]}", file=sys.stderr)
    medians = {
        name: {key: statistics.median(r[key] for r in rs) for key in ("wall_s", "cpu_s")}
        for name, rs in runs.items()
    }
    report = {
        "command": ["tidewise", *args],
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "runs": runs,
        "median": medians,
        "speed_up": {
            key: round(medians["before"][key] / medians["after"][key], 2)
            for key in ("wall_s", "cpu_s")
        },
    }
    text = json.dumps(report, indent=2)
    print(text)
    if options.json:
        options.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
