"""How long `tidewise` takes to start: the wall time of ``tidewise --help`` (``python -m
tidewise.cli --help``) in a fresh interpreter, the least every command pays before doing
anything; ``--import-only`` times ``import tidewise.cli`` instead, as the figures before issue
15 did. With ``--compare REV`` the same is timed for a git revision (checked out in a
temporary worktree), alternating the two so the machine's load falls on both alike. Prints
JSON, with the load average it ran under.

    python bench/cli_startup.py [--runs 10] [--compare REV] [--import-only]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


HELP = ["-m", "tidewise.cli", "--help"]
IMPORT = ["-c", "import tidewise.cli"]


def once(tree: Path, command: list[str]) -> tuple[float, float]:
    """Wall seconds, and CPU seconds (user + system) of the child: on a busy machine the wall
    time grows with the load while the CPU time stays near what an idle machine's wall is."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, *command],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "COLUMNS": "100"},
        stdout=subprocess.DEVNULL,
        check=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def summary(runs: list[tuple[float, float]]) -> dict[str, float]:
    walls = [wall for wall, _ in runs]
    return {
        "median_s": round(statistics.median(walls), 3),
        "min_s": round(min(walls), 3),
        "max_s": round(max(walls), 3),
        "cpu_median_s": round(statistics.median(cpu for _, cpu in runs), 3),
        "runs": len(runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--compare", help="a git revision to time beside the working tree")
    parser.add_argument(
        "--import-only", action="store_true", help="time `import tidewise.cli`, not --help"
    )
    args = parser.parse_args()
    command = IMPORT if args.import_only else HELP
    trees = {"working tree": ROOT}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch:
        if args.compare:
            other = Path(scratch) / "compare"
            subprocess.run(
                ["git", "worktree", "add", "-q", "--detach", str(other), args.compare],
                cwd=ROOT,
                check=True,
            )
            trees[args.compare] = other
        try:
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
            for _ in range(args.runs):
                for name, tree in trees.items():
                    times[name].append(once(tree, command))
        finally:
            if args.compare:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(trees[args.compare])],
                    cwd=ROOT,
                    check=True,
                )
    result: dict[str, object] = {
        "command": " ".join(["python", *command]),
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    result.update({name: summary(t) for name, t in times.items()})
    if args.compare:
        medians = {name: statistics.median(w for w, _ in t) for name, t in times.items()}
        result["ratio_of_medians"] = round(medians["working tree"] / medians[args.compare], 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
