"""Run ``tidewise`` as a user does: a real subprocess, in a folder of the test's own."""

import os
import subprocess
import sys
from pathlib import Path


def tidewise(
    *args: str, cwd: Path, columns: int = 160, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``env``: variables added to (or replacing) the test process's own."""
    return subprocess.run(
        [sys.executable, "-m", "tidewise.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": str(columns), **(env or {})},
    )
