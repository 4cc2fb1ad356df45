"""Files that several commands and processes share.

* Output files appear whole or not at all: a crash mid-write never leaves half a file (a
  report, a fleet run record, a twin's state); what is written is on disk (fsynced, with its
  folder's entry) before the call returns, so a power loss right after a command succeeded
  does not take back what it reported.
* A file several processes read, change and write back (the twin's job state, a fleet run
  record) is changed under a lock, so two commands at once never lose each other's change.
* An input file that is not what it should be (a folder, binary, a gzip cut short) is one
  error naming it and why, never a traceback from deep in a parser.

The CLI, the report, the twin and the fleet sync share these.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import os
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

LOCK_POLL_S = 0.05


class InputError(ValueError):
    """An input file that cannot be read as text; the message names the file and the cause."""


class LockBusy(RuntimeError):
    """Another process holds the lock; the message names the file and, if known, its pid."""


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, fsync it, rename it over ``path``, fsync
    the folder (the rename itself lives in the folder's entry)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # as a plain open() would have made it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def lock_path(path: Path) -> Path:
    """The lock file of ``path``: a hidden file beside it, kept once made (removing a lock
    file another process may be about to lock would let two processes hold "the" lock)."""
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def locked(path: Path, wait_s: float | None = 30.0) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (``flock`` on its lock file) while the block runs.

    ``wait_s``: how long to wait for another holder (``None``: as long as it takes; 0: not at
    all); past it, :class:`LockBusy`. The kernel drops the lock when its holder exits, even
    killed, so a crashed command never leaves the file locked.
    """
    lock = lock_path(path)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = None if wait_s is None else time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise LockBusy(_busy(path, fd)) from None
                time.sleep(LOCK_POLL_S)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _busy(path: Path, fd: int) -> str:
    holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
    by = f" (pid {holder})" if holder.isdigit() else ""
    return f"{path} is in use by another tidewise command{by}"


def read_input(path: Path) -> str:
    """The text of an input file, gunzipped when its name ends in ``.gz``.

    :class:`InputError` says what is wrong in terms of the file: missing, a folder,
    unreadable, a gzip stream cut short or corrupt, or not UTF-8 text (a binary file).
    """
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path} does not exist") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read it ({error.strerror or error})") from None
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as error:
            raise InputError(
                f"{path}: not a whole gzip file ({error}); was the download cut short?"
            ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{path}: not UTF-8 text (byte {raw[error.start]:#04x} at offset {error.start}); "
            "is it a binary or compressed file without .gz?"
        ) from None
    if "\x00" in text:
        raise InputError(f"{path}: holds NUL bytes; is it a binary file?")
    return text
