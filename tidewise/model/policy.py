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


class Resting(Protocol):
    """A controller that can tell, without a view, that its tick would change nothing.

    Most ticks of a controller that runs every second or every ten find the cluster as they
    left it and decide nothing; building the view and deciding again is most of a replay's
    cost (issue 22). The twin asks ``rests(now)`` instead of ``decide`` only when no pod, node,
    desired replica count or unavailable offering changed since this controller's last
    ``decide``, and that ``decide`` returned no decision. ``True`` promises that ``decide``
    would again return nothing and leave the controller's memory as it is; ``False`` (always
    safe) has the twin call ``decide``. ``rests`` must not change the controller's memory.
    """

    def rests(self, now_s: float) -> bool: ...


REST_MARGIN_S = 1e-6
"""How far before a deadline a controller stops resting: its own test (``now - since >=
wait``) may round differently from ``now < since + wait``; waking a microsecond early only
costs a ``decide`` that finds nothing."""


def rests_until(now_s: float, due_s: float) -> bool:
    """Whether ``now_s`` is safely before ``due_s``, the next time a resting controller's
    answer could change by time alone."""
    return now_s < due_s - REST_MARGIN_S
