"""What the twin and the real adapters call: a controller that turns a view into decisions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tidewise.model.decisions import Decision
from tidewise.model.view import ClusterView


class Controller(Protocol):
    """A policy run every ``period_s`` seconds (``None``: once, when the cluster is set up).

    Implementations may keep explicit per-instance memory (an HPA's recent recommendations),
    never global state, and must not read a clock or do I/O: time comes in the view.
    """

    @property
    def period_s(self) -> float | None: ...

    def decide(self, view: ClusterView) -> Sequence[Decision]: ...
