"""The on-call shift handoff as data: open incidents, alerts of the shift, failed cron runs and
unfinished post-mortem action items, with a finding for each.

The records layer (:mod:`noa_lib.records.oncall_handoff`) gathers the rows; this module only
judges them, so the rules are testable without a records root.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from noa_lib.ops.alert_history import AlertHistory
from noa_lib.ops.findings import Finding, Status


@dataclass(frozen=True)
class OpenIncident:
    """An incident not resolved at handoff time (``age_s`` since detection)."""

    id: str
    title: str
    severity: str
    status: str
    commander: str | None
    detected_at: str
    age_s: int
    respond_by: str


@dataclass(frozen=True)
class FailedRun:
    """A cron-triggered run of the shift that failed."""

    run_id: str
    runbook: str
    started_at: datetime
    target: str | None
    summary: str | None
    path: str


@dataclass(frozen=True)
class PendingAction:
    """An unfinished action item from a post-incident review record."""

    incident: str
    action: str
    owner: str
    due: str
    overdue: bool
    review_run: str


@dataclass(frozen=True)
class Handoff:
    """What the next shift needs: rows per section, the shift window, findings and figures."""

    shift_start: datetime
    shift_end: datetime
    incidents: tuple[OpenIncident, ...]
    alerts: AlertHistory
    failed_runs: tuple[FailedRun, ...]
    actions: tuple[PendingAction, ...]
    findings: list[Finding] = field(default_factory=list)

    @property
    def figures(self) -> dict[str, Any]:
        """The outcome figures of a handoff record."""
        return {
            "shift_hours": round((self.shift_end - self.shift_start).total_seconds() / 3600, 2),
            "open_incidents": len(self.incidents),
            "alert_episodes": len(self.alerts.episodes),
            "failed_cron_runs": len(self.failed_runs),
            "open_action_items": len(self.actions),
            "overdue_action_items": sum(1 for a in self.actions if a.overdue),
        }


def handoff_findings(
    incidents: Sequence[OpenIncident],
    alerts: AlertHistory,
    failed_runs: Sequence[FailedRun],
    actions: Sequence[PendingAction],
    *,
    hours: float,
) -> list[Finding]:
    """One finding per section: ``open incidents`` (warning when any, naming them), the alert
    history's own findings, ``failed cron runs`` (warning when any), ``action items`` (warning
    when one is overdue)."""
    found = [Finding(
        "open incidents", Status.WARNING if incidents else Status.OK,
        "; ".join(f"{i.id} {i.severity} {i.status} ({i.commander or 'no commander'})"
                  for i in incidents) or "no open incident",
        value=len(incidents),
        evidence={"incidents": [i.id for i in incidents]},
    )]
    found.extend(alerts.findings)
    found.append(Finding(
        "failed cron runs", Status.WARNING if failed_runs else Status.OK,
        ", ".join(f"{r.runbook} ({r.run_id})" for r in failed_runs)
        or f"no cron run failed in the last {hours:g} h",
        value=len(failed_runs),
        evidence={"runs": [r.run_id for r in failed_runs]},
    ))
    overdue = [a for a in actions if a.overdue]
    found.append(Finding(
        "action items", Status.WARNING if overdue else Status.OK,
        f"{len(actions)} unfinished, {len(overdue)} overdue"
        + (": " + "; ".join(f"{a.incident}: {a.action} ({a.owner}, due {a.due})"
                            for a in overdue) if overdue else ""),
        value=len(actions),
    ))
    return found


def incident_row(data: Mapping[str, Any], now: datetime) -> OpenIncident:
    """The handoff row of an incident (its stored dict) at ``now``."""
    detected = datetime.fromisoformat(str(data["detected_at"]).replace("Z", "+00:00"))
    return OpenIncident(
        id=str(data["id"]), title=str(data.get("title", "")),
        severity=str(data.get("severity", "")), status=str(data.get("status", "")),
        commander=data.get("commander"), detected_at=str(data["detected_at"]),
        age_s=round((now - detected).total_seconds()),
        respond_by=str(data.get("respond_by", "")),
    )


__all__ = [
    "FailedRun",
    "Handoff",
    "OpenIncident",
    "PendingAction",
    "handoff_findings",
    "incident_row",
]
