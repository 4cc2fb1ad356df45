"""The repository itself: no merge-conflict markers left in any tracked text file (a merge
whose output was cut off once committed some)."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKERS = ("<<<<<<< ", ">>>>>>> ")


def test_no_conflict_markers_are_committed():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    found = []
    for name in tracked:
        path = ROOT / name
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, OSError):
            continue  # binary or unreadable: not a place for a text merge
        found += [f"{name}:{i}" for i, line in enumerate(lines, 1) if line.startswith(MARKERS)]
    assert not found, f"conflict markers at {found}"
