"""Queue policies on the Philly-derived trace, fixed and elastic GPU pool, as JSON.

    python bench/training_queue.py [--jobs PATH] [--gpus 64] [--start 1176] [--hours 168]
                          [--load 0.95 | --sample 12] [--seed 0] [--overestimate 0]

The defaults are the recorded run of bench/RESULTS.md: one week of arrivals from hour 1,176
(day 49) on 64 GPUs, thinned (seeded) to jobs whose GPU-time is 0.95 of the pool's week
(contended but sustainable); jobs wider than 16 GPUs (a quarter of the pool) are dropped,
half of the jobs taken to checkpoint. ``--sample 12`` instead keeps one job in 12: the
earlier run, 1.65x overloaded. Same as ``tidewise bench queue``, which this calls.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tidewise.sim.jobs.bench import QueueBenchSettings, load_and_run
from tidewise.sim.jobs.trace import TraceWindow

DEFAULT_JOBS = (
    Path(__file__).resolve().parents[2] / "shared/data/philly-jobs-derived/philly_jobs.csv"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=Path, default=DEFAULT_JOBS)
    parser.add_argument("--gpus", type=int, default=64)
    parser.add_argument("--start", type=float, default=1176.0, help="hours into the trace")
    parser.add_argument("--hours", type=float, default=168.0)
    parser.add_argument("--load", type=float, default=0.95)
    parser.add_argument("--sample", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overestimate", type=float, default=0.0)
    args = parser.parse_args()
    window = TraceWindow(args.start * 3600, args.hours, args.sample or 1, args.gpus // 4)
    settings = QueueBenchSettings(
        args.gpus,
        window,
        seed=args.seed,
        load=None if args.sample else args.load,
        overestimate=args.overestimate,
    )
    document, _ = load_and_run(args.jobs, settings)
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
