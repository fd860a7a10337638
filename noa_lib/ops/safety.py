"""Plans, dry-run and confirmation: how every mutating step changes a system.

A mutating step never acts directly. It builds a :class:`Plan` (what changes, before → after, and
the function that performs it); the notebook shows the plan; :func:`apply_plan` performs it only
with ``dry_run=False`` and, on a target marked ``protected``, only with ``confirm=<target name>``.
A dry run changes nothing, so it needs no confirmation: an SRE can dry-run a change against prod to
read its plan (the plan says that applying it will need ``confirm``). Every applied (or failed)
change is appended to the record's timeline as it happens, so a run that fails later still shows
what it changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from noa_lib.config import Target
from noa_lib.errors import UnsafeActionRefused
from noa_lib.journal import emit_event, utcnow_iso


@dataclass(frozen=True)
class Change:
    """One field of one resource, before and after."""

    resource: str  # e.g. "deployment/noa/api"
    field: str  # e.g. "spec.replicas"
    before: Any
    after: Any

    def describe(self) -> str:
        return f"{self.resource} {self.field}: {self.before!r} -> {self.after!r}"

    def as_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "field": self.field, "before": self.before,
                "after": self.after}


@dataclass(frozen=True)
class Plan:
    """What a mutating step would do to ``target``; ``perform`` does it."""

    action: str
    target: Target
    changes: tuple[Change, ...]
    perform: Callable[[], Any] = field(repr=False, compare=False)
    rollback: str = ""

    @property
    def empty(self) -> bool:
        return not self.changes

    def summary(self) -> str:
        if self.empty:
            return f"{self.action} on {self.target.name}: nothing to change"
        return f"{self.action} on {self.target.name}: {len(self.changes)} change(s)"


@dataclass(frozen=True)
class Applied:
    """How :func:`apply_plan` ended: ``applied`` is False for dry runs and empty plans."""

    plan: Plan
    applied: bool
    dry_run: bool
    at: str
    result: Any = None

    @property
    def message(self) -> str:
        if self.plan.empty:
            return f"{self.plan.summary()}; nothing applied"
        if self.dry_run:
            needs = f", confirm={self.plan.target.name!r}" if self.plan.target.protected else ""
            return f"DRY RUN — {self.plan.summary()}; re-run with dry_run=False{needs} to apply"
        return f"applied: {self.plan.summary()}"


def check_confirmation(target: Target, confirm: str | None) -> None:
    """Refuse unless ``confirm`` allows changing ``target``.

    A protected target needs ``confirm`` equal to its name; a ``confirm`` naming another target
    is refused everywhere (it means the operator thinks they are somewhere else).

    Raises:
        UnsafeActionRefused: confirmation missing or not matching.
    """
    if confirm is not None and confirm != target.name:
        raise UnsafeActionRefused(
            f"confirm={confirm!r} does not match the target {target.name!r}; nothing was changed"
        )
    if target.protected and confirm != target.name:
        raise UnsafeActionRefused(
            f"target {target.name!r} is protected: set confirm={target.name!r} to apply; "
            "nothing was changed"
        )


def apply_plan(plan: Plan, *, dry_run: bool = True, confirm: str | None = None) -> Applied:
    """Perform ``plan`` unless this is a dry run; record the outcome in the timeline.

    A dry run (the default) performs nothing and checks no confirmation, also on a protected
    target: it records a ``dry-run`` event and returns the plan unapplied, whose message names the
    ``confirm`` that applying it will need. Only ``dry_run=False`` is checked, before anything is
    done, by :func:`check_confirmation`.

    Returns:
        :class:`Applied`: ``applied`` True only when ``perform`` ran (not for dry runs and empty
        plans); ``result`` is what ``perform`` returned.
    Raises:
        UnsafeActionRefused: ``dry_run=False`` and ``confirm`` does not allow the target (a
            protected target not named by ``confirm``, or ``confirm`` naming another target).
        Exception: whatever ``plan.perform`` raised, after a ``change-failed`` timeline event.
    """
    changes = [c.as_dict() for c in plan.changes]
    if plan.empty:
        return Applied(plan, applied=False, dry_run=dry_run, at=utcnow_iso())
    if dry_run:
        emit_event("dry-run", summary=plan.summary(), target=plan.target.name, changes=changes)
        return Applied(plan, applied=False, dry_run=True, at=utcnow_iso())
    check_confirmation(plan.target, confirm)
    try:
        result = plan.perform()
    except Exception as exc:
        emit_event(
            "change-failed",
            summary=plan.summary(),
            target=plan.target.name,
            changes=changes,
            error=f"{type(exc).__name__}: {exc}",
        )
        raise
    emit_event(
        "change-applied",
        summary=plan.summary(),
        target=plan.target.name,
        changes=changes,
        rollback=plan.rollback,
    )
    return Applied(plan, applied=True, dry_run=False, at=utcnow_iso(), result=result)


__all__ = ["Applied", "Change", "Plan", "apply_plan", "check_confirmation"]
