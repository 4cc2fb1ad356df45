"""The run file between processes: one sync at a time writes it; what is in it that is not a
run record stops the sync with one message instead of a traceback."""

import time

import pytest

from tests.fleet.app import NS, shop
from tests.lockholder import lock_held
from tidewise.fleet.manifests import Selection
from tidewise.fleet.plan import build_plan
from tidewise.fleet.run import RunError
from tidewise.kube.fleet.sync import Sync, SyncError

PLAN = build_plan(shop(), Selection(namespaces=(NS,)))


def test_a_second_sync_on_the_same_run_file_stops_before_touching_it(tmp_path):
    run_file = tmp_path / "run.json"
    run_file.write_text("left by the first sync\n")
    with lock_held(run_file) as first:
        started = time.monotonic()
        # no cluster is needed: the run file is claimed before any call to one
        busy = rf"in use by another tidewise command \(pid {first.process.pid}\)"
        with pytest.raises(SyncError, match=busy):
            Sync(PLAN, None, run_file, lambda *_: None).run()
        assert time.monotonic() - started < 5  # refused at once, not after a wait
    assert run_file.read_text() == "left by the first sync\n"


@pytest.mark.parametrize("content", [b"[]", b"null", b"\x00\xff\xfe binary"])
def test_a_run_file_that_is_not_a_record_is_one_message(tmp_path, content):
    run_file = tmp_path / "run.json"
    run_file.write_bytes(content)
    with pytest.raises(RunError, match="move it away"):
        Sync(PLAN, None, run_file, lambda *_: None).run()
    assert run_file.read_bytes() == content  # left as found, for the user to look at
