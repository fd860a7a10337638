"""Mitigations: diagnose → plan → confirm → apply → verify → revert, one shape for every incident
runbook.

A mitigation runbook diagnoses read-only, then builds a :class:`Mitigation`: the
:class:`~noa_lib.ops.safety.Plan` of its change, a ``verify`` that says whether the symptom is
gone (read from the same place the diagnosis read it: Prometheus, ``pg_stat_activity``, the
Kubernetes API), and a ``revert`` that builds the plan undoing the change. :func:`run_mitigation`
applies the plan through :func:`~noa_lib.ops.safety.apply_plan` (dry run by default; a protected
target needs ``confirm``), polls ``verify`` until it passes or ``verify_timeout_s`` runs out, and
when it does not pass applies the revert plan and says so. Every step is a timeline event of the
record (``change-applied``, ``verify-passed`` / ``verify-failed``, ``change-reverted``).

Example::

    outcome = run_mitigation(Mitigation(plan, verify=pool_below(0.8), revert=undo),
                             dry_run=dry_run, confirm=confirm)
    outcome.status      # "dry-run" | "nothing to do" | "cured" | "reverted" | "not cured"
    outcome.findings    # what happened, as findings for the record
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from noa_lib.journal import emit_event
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.safety import Applied, Plan, apply_plan

OutcomeStatus = Literal["dry-run", "nothing to do", "cured", "reverted", "not cured"]


@dataclass(frozen=True)
class Verdict:
    """One verification: ``ok`` when the symptom is gone; ``message`` says what was measured."""

    ok: bool
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Mitigation:
    """A change and how to tell whether it worked.

    ``verify`` is polled every ``verify_interval_s`` until it passes or ``verify_timeout_s`` has
    passed (a verify that raises counts as not passed, with the error as its message);
    ``revert`` builds the plan that undoes the applied change (``None``: the change cannot be
    undone, e.g. terminated sessions — the outcome then says so).
    """

    plan: Plan
    verify: Callable[[], Verdict]
    revert: Callable[[], Plan] | None = None
    verify_timeout_s: float = 120.0
    verify_interval_s: float = 5.0


@dataclass(frozen=True)
class MitigationOutcome:
    """How :func:`run_mitigation` ended."""

    status: OutcomeStatus
    applied: Applied
    verdict: Verdict | None = None  # the last verification (None for dry runs)
    reverted: Applied | None = None
    findings: tuple[Finding, ...] = ()

    @property
    def cured(self) -> bool:
        return self.status == "cured"

    def figures(self) -> dict[str, str | bool]:
        """The outcome figures a record keeps: ``mitigation`` status and ``verified``."""
        return {"mitigation": self.status, "verified": self.cured}


def run_mitigation(
    mitigation: Mitigation,
    *,
    dry_run: bool = True,
    confirm: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> MitigationOutcome:
    """Apply ``mitigation.plan`` (not in a dry run), verify it, and revert it when the verify
    fails.

    Returns:
        :class:`MitigationOutcome` with the findings: ``skipped`` for a dry run, ``ok`` for an
        empty plan and when verified, ``critical`` when the verify failed (after reverting, or
        naming why nothing was reverted).
    Raises:
        UnsafeActionRefused: ``dry_run=False`` without the ``confirm`` a protected target needs
            (nothing was changed).
        Exception: whatever applying the plan raised (a ``change-failed`` event is recorded).
    """
    plan = mitigation.plan
    applied = apply_plan(plan, dry_run=dry_run, confirm=confirm)
    check = plan.action
    if plan.empty:
        return MitigationOutcome("nothing to do", applied, findings=(
            Finding(check, Status.OK, applied.message),))
    if not applied.applied:
        return MitigationOutcome("dry-run", applied, findings=(
            Finding(check, Status.SKIPPED, applied.message,
                    evidence={"changes": [c.as_dict() for c in plan.changes]}),))
    verdict = _verify(mitigation, sleep)
    applied_finding = Finding(check, Status.OK, applied.message,
                              evidence={"changes": [c.as_dict() for c in plan.changes]})
    if verdict.ok:
        emit_event("verify-passed", summary=verdict.message, target=plan.target.name)
        return MitigationOutcome("cured", applied, verdict, findings=(
            applied_finding, Finding("verify", Status.OK, verdict.message,
                                     evidence=verdict.evidence)))
    emit_event("verify-failed", summary=verdict.message, target=plan.target.name)
    failed = Finding("verify", Status.CRITICAL,
                     f"not cured after {mitigation.verify_timeout_s:g} s: {verdict.message}",
                     evidence=verdict.evidence)
    if mitigation.revert is None:
        return MitigationOutcome("not cured", applied, verdict, findings=(
            applied_finding, failed,
            Finding("revert", Status.WARNING, "this change cannot be reverted; nothing was "
                    "undone — decide the next step from the verify's evidence")))
    undo = mitigation.revert()
    reverted = apply_plan(undo, dry_run=False, confirm=confirm)
    emit_event("change-reverted", summary=undo.summary(), target=plan.target.name,
               changes=[c.as_dict() for c in undo.changes])
    return MitigationOutcome("reverted", applied, verdict, reverted, findings=(
        applied_finding, failed,
        Finding("revert", Status.WARNING,
                f"reverted because the verify failed: {reverted.message}",
                evidence={"changes": [c.as_dict() for c in undo.changes]})))


def _verify(mitigation: Mitigation, sleep: Callable[[float], None]) -> Verdict:
    deadline = time.monotonic() + mitigation.verify_timeout_s
    while True:
        try:
            verdict = mitigation.verify()
        except Exception as exc:  # noqa: BLE001 - a failing verify is a verdict, not a crash
            verdict = Verdict(False, f"verify failed to read: {type(exc).__name__}: {exc}")
        if verdict.ok or time.monotonic() >= deadline:
            return verdict
        sleep(min(mitigation.verify_interval_s, max(0.0, deadline - time.monotonic())))


__all__ = ["Mitigation", "MitigationOutcome", "OutcomeStatus", "Verdict", "run_mitigation"]
