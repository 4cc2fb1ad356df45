"""Another process that holds a file's lock (``tidewise.files.locked``) until told to let go,
for the tests of what a second writer sees."""

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tidewise.files import locked

FORK = multiprocessing.get_context("fork")


def _hold(path: Path, ready: Any, release: Any) -> None:
    with locked(path):
        ready.set()
        release.wait(60)


@dataclass
class Holder:
    process: Any  # multiprocessing's forked Process
    release: Any  # its Event: set it and the holder lets go


@contextmanager
def lock_held(path: Path) -> Iterator[Holder]:
    """A forked process holding ``path``'s lock while the block runs (unless killed in it)."""
    ready, release = FORK.Event(), FORK.Event()
    process = FORK.Process(target=_hold, args=(path, ready, release))
    process.start()
    try:
        assert ready.wait(30), "the holder never took the lock"
        yield Holder(process, release)
    finally:
        if process.is_alive():  # a killed holder's Event must not be set: it would wait on it
            release.set()
        process.join(30)
