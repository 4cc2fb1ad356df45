import gzip
import os
import threading
import time
from pathlib import Path

import pytest

from tests.lockholder import lock_held
from tidewise.files import InputError, LockBusy, lock_path, locked, read_input, write_atomically


def test_writes_whole_file(tmp_path):
    path = tmp_path / "r.json"
    write_atomically(path, "new")
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    plain = tmp_path / "plain"
    plain.write_text("x")
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    path.write_text("old")

    def boom(*_args):
        raise OSError("disk full")

    monkeypatch.setattr("tidewise.files.os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_a_write_is_on_disk_with_its_folder_entry_before_it_returns(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def fsync(fd):
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr("tidewise.files.os.fsync", fsync)
    write_atomically(tmp_path / "state.json", "{}")
    assert synced[0].name.startswith(".state.json.") and synced[0].suffix == ".tmp"
    assert synced[1] == tmp_path  # the rename is durable only once the folder is


def test_a_lock_is_exclusive_between_processes_and_dies_with_its_holder(tmp_path):
    path = tmp_path / "state.json"
    with lock_held(path) as holder:
        busy = rf"in use by another tidewise command \(pid {holder.process.pid}\)"
        with pytest.raises(LockBusy, match=busy), locked(path, wait_s=0.2):
            pass
        holder.process.kill()  # killed, not released: the kernel drops the lock with it
        holder.process.join(30)
        with locked(path, wait_s=5):
            assert lock_path(path).read_text().strip() == str(os.getpid())


def test_a_waiting_lock_is_granted_when_the_holder_finishes(tmp_path):
    path = tmp_path / "state.json"
    with lock_held(path) as holder:
        threading.Timer(0.3, holder.release.set).start()
        started = time.monotonic()
        with locked(path, wait_s=30):
            waited = time.monotonic() - started
    assert 0.2 < waited < 10


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("trace.csv", b"\x89PNG\r\n\x1a\n\x00\x00", r"not UTF-8 text \(byte 0x89 at offset 0\)"),
        ("trace.csv", b"a,b\n1,2\x00\n", "NUL bytes"),
        ("trace.csv.gz", gzip.compress(b"a,b\n" * 1000, mtime=0)[:40], "not a whole gzip file"),
        ("trace.csv.gz", b"plain text, not gzip", "not a whole gzip file"),
    ],
)
def test_an_input_that_is_not_text_is_named_with_the_cause(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_input(path)


def test_inputs_missing_or_folders_are_named(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_input(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a folder"):
        read_input(tmp_path)
    (tmp_path / "ok.csv.gz").write_bytes(gzip.compress("día,1\n".encode()))
    assert read_input(tmp_path / "ok.csv.gz") == "día,1\n"
