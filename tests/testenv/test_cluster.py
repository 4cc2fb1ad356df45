"""What ``down`` and ``status`` trust: process identity and free ports (no cluster needed)."""

import os
import sys
from pathlib import Path

from tidewise.testenv.cluster import PORTS, free_ports, running


def test_only_a_process_running_one_of_our_binaries_counts_as_ours():
    this_python = Path(os.readlink("/proc/self/exe")).parent
    assert running(os.getpid(), this_python)
    # a reused pid runs another program: down must not signal it
    assert not running(os.getpid(), Path("/nonexistent/bin"))
    assert not running(2**22 + 1, Path(sys.prefix))  # above the kernel's pid limit


def test_free_ports_are_distinct_loopback_ports():
    ports = free_ports(PORTS)
    assert set(ports) == set(PORTS)
    assert len(set(ports.values())) == len(PORTS)
