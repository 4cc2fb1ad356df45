"""``python -m tidewise.cli``: the ``tidewise`` command without its script."""

from tidewise.cli import app

app()
