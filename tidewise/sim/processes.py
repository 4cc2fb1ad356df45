"""Independent replays in worker processes, their progress relayed to the parent.

The twin's policies, a sweep's runs and the autoscale bench's policies are independent
replays of one input: on a machine with several cores they run side by side. Workers are
spawned, not forked: the parent may run a progress thread, which a fork would copy mid-flight.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol, TypeVar

Result = TypeVar("Result")
Progress = Callable[[str, float], None]
"""(label, how far: a fraction or a position, as the job reports it)."""


def default_workers(tasks: int) -> int:
    """One process per task, at most one per CPU this process may use."""
    return max(1, min(tasks, len(os.sched_getaffinity(0))))


class ProgressQueue(Protocol):
    def put(self, item: tuple[str, float]) -> None: ...


def run_in_processes(
    job: Callable[..., Result],
    tasks: Sequence[tuple[Any, ...]],
    workers: int,
    progress: Progress | None = None,
    done: Callable[[int, Result], None] | None = None,
) -> list[Result]:
    """``job(*task, queue)`` for each task in ``workers`` processes, results in task order.

    ``job`` is a module-level function (it is sent by name) that puts ``(label, value)`` on
    ``queue`` (``None`` without ``progress``) as it goes; the parent passes each to
    ``progress``, tells ``done`` of each result as it comes (a sweep stores it at once), and
    on the first error cancels what has not started and raises it.
    """
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(workers, context) as pool:
        queue = manager.Queue() if progress is not None else None
        futures = [pool.submit(job, *task, queue) for task in tasks]
        index = {future: i for i, future in enumerate(futures)}
        pending: set[Future[Result]] = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
            while queue is not None and progress is not None and not queue.empty():
                progress(*queue.get())
            for future in sorted(finished, key=index.__getitem__):
                error = future.exception()
                if error is not None:
                    for waiting in pending:
                        waiting.cancel()
                    raise error
                if done is not None:
                    done(index[future], future.result())
        return [future.result() for future in futures]


def relay(queue: ProgressQueue | None) -> Progress | None:
    """The progress callback a job hands its replay: puts on ``queue`` (``None``: nobody
    listens)."""
    if queue is None:
        return None
    return lambda label, value: queue.put((label, value))
