"""Findings: the typed result of every check a runbook makes.

A :class:`Finding` says what was checked, how it came out (``ok`` / ``warning`` /
``critical`` / ``unreachable`` / ``skipped``), the measured value against its threshold, and the
evidence (the exact query it ran, the window it looked at, the objects involved). Ops return
findings; ``show`` renders them; the outcome of a run is the worst of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from noa_lib.errors import StepFailed


class Status(StrEnum):
    """How a check came out, ordered from best to worst by :attr:`severity`."""

    OK = "ok"
    SKIPPED = "skipped"
    WARNING = "warning"
    UNREACHABLE = "unreachable"
    CRITICAL = "critical"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {
    Status.OK: 0,
    Status.SKIPPED: 0,
    Status.WARNING: 1,
    Status.UNREACHABLE: 2,
    Status.CRITICAL: 3,
}


@dataclass(frozen=True)
class Finding:
    """One check's result.

    ``value``/``threshold``/``unit`` are the measured figure and the bound it was compared with;
    ``evidence`` holds what an SRE needs to reproduce it (the SQL or PromQL, the time window,
    offending objects). ``message`` is one human sentence.
    """

    check: str
    status: Status
    message: str
    value: float | int | str | None = None
    threshold: float | int | str | None = None
    unit: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored in records."""
        return {
            "check": self.check,
            "status": str(self.status),
            "message": self.message,
            "value": self.value,
            "threshold": self.threshold,
            "unit": self.unit,
            "evidence": dict(self.evidence),
        }


def worst(findings: Iterable[Finding]) -> Status:
    """The worst status among ``findings`` (``ok`` for none)."""
    result = Status.OK
    for f in findings:
        if f.status.severity > result.severity:
            result = f.status
    return result


def require_ok(findings: Iterable[Finding], *, fail_on: Status = Status.CRITICAL) -> None:
    """Fail the step when any finding is at or beyond ``fail_on`` (default ``critical``).

    Raises:
        StepFailed: naming every failed check and its message, e.g.
            ``"1 check failed: integrity — the stored dump does not match its manifest…"``.
    """
    failed = [f for f in findings if f.status.severity >= fail_on.severity > 0]
    if not failed:
        return
    details = "; ".join(f"{f.check} ({f.status}) — {f.message}" for f in failed)
    noun = "check" if len(failed) == 1 else "checks"
    raise StepFailed(f"{len(failed)} {noun} failed: {details}")


__all__ = ["Finding", "Status", "require_ok", "worst"]
