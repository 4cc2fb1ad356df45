"""Which running jobs to evict, and the fewest that will do (Kueue's preemption order).

Victims are taken borrowed-quota work first, then the lowest priority, then checkpointable
jobs (they resume from their last checkpoint, so evicting them loses least), then the most
recently admitted (least work lost even without a checkpoint). Candidates are added in that
order until the preemptor can start, then any that turn out unnecessary are put back,
last-added first (kubernetes-sigs/kueue, concepts/preemption.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tidewise.model import Job


def victim_order(job: Job) -> tuple[object, ...]:
    """Sort key: the first victim sorts first."""
    return (
        not job.borrowing,
        job.spec.priority,
        not job.spec.checkpointable,
        -(job.admitted_s or 0.0),
        job.name,
    )


def victims_needed(
    candidates: Sequence[Job], enough: Callable[[Sequence[Job]], bool]
) -> list[Job] | None:
    """The victims, a prefix of ``candidates`` minimised, or ``None`` if all would not do."""
    chosen: list[Job] = []
    for candidate in candidates:
        chosen.append(candidate)
        if enough(chosen):
            break
    else:
        return None
    for candidate in reversed(chosen[:-1]):
        trial = [c for c in chosen if c is not candidate]
        if enough(trial):
            chosen = trial
    return chosen
