"""How long `tidewise` takes to start: the wall time of importing ``tidewise.cli`` in a fresh
interpreter, which every command pays before doing anything. With ``--compare REV`` the same
is timed for a git revision (checked out in a temporary worktree), alternating the two so the
machine's load falls on both alike. Prints JSON.

    python bench/cli_startup.py [--runs 7] [--compare REV]
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def once(tree: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import tidewise.cli"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    return time.perf_counter() - start


def summary(times: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "runs": len(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--compare", help="a git revision to time beside the working tree")
    args = parser.parse_args()
    trees = {"working tree": ROOT}
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
            times: dict[str, list[float]] = {name: [] for name in trees}
            for _ in range(args.runs):
                for name, tree in trees.items():
                    times[name].append(once(tree))
        finally:
            if args.compare:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(trees[args.compare])],
                    cwd=ROOT,
                    check=True,
                )
    result = {name: summary(t) for name, t in times.items()}
    if args.compare:
        result["ratio_of_medians"] = round(
            result["working tree"]["median_s"] / result[args.compare]["median_s"], 3
        )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
