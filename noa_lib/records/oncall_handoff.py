"""The on-call handoff from the records and Prometheus: what the next shift inherits.

Open incidents come from :class:`~noa_lib.records.incidents.IncidentStore` (its index), alerts of
the shift from Prometheus' ``ALERTS`` (:func:`noa_lib.ops.alert_history.recent_alerts`), failed
cron runs of the shift and post-mortem action items from the records index: the action items live
in the ``action_items`` outcome figure (JSON text) of ``incident/post_incident_review`` records;
the newest review of an incident is the one that counts, and its items not ``done`` are
unfinished.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from noa_lib.config import Target, load_config
from noa_lib.errors import ParameterError
from noa_lib.ops.alert_history import recent_alerts
from noa_lib.ops.handoff import (
    FailedRun,
    Handoff,
    PendingAction,
    handoff_findings,
    incident_row,
)
from noa_lib.ops.postmortem import action_items_from_figure
from noa_lib.records.incidents import IncidentStore
from noa_lib.records.index import RecordIndex

REVIEW_RUNBOOK = "incident/post_incident_review"


def oncall_handoff(
    target: Target,
    *,
    shift_hours: int = 12,
    review_days: int = 30,
    reports_dir: Path | None = None,
    now: datetime | None = None,
) -> Handoff:
    """The handoff for the shift that ends ``now`` and lasted ``shift_hours``.

    Failed cron runs are those against ``target`` started in the shift; action items come from
    reviews recorded in the last ``review_days``.

    Raises:
        ParameterError: ``shift_hours`` or ``review_days`` below 1.
    """
    for name, value in (("shift_hours", shift_hours), ("review_days", review_days)):
        if value < 1:
            raise ParameterError(f"{name} must be 1 or more, not {value}", name=name)
    end = (now or datetime.now(UTC)).astimezone(UTC)
    start = end - timedelta(hours=shift_hours)
    root = reports_dir if reports_dir is not None else load_config().reports_dir
    incidents = tuple(incident_row(i.as_dict(), end)
                      for i in IncidentStore(root).list(status="open"))
    alerts = recent_alerts(target, window=f"{shift_hours}h", end=end)
    index = RecordIndex(root)
    failed = tuple(
        FailedRun(s.run_id, s.runbook, s.started_at, s.target, s.summary, s.path)
        for s in index.query(trigger="cron", status="failed", since=start, target=target.name,
                             limit=None)
    )
    actions = tuple(_pending_actions(index, end - timedelta(days=review_days), end))
    findings = handoff_findings(incidents, alerts, failed, actions, hours=shift_hours)
    return Handoff(start, end, incidents, alerts, failed, actions, findings)


def _pending_actions(index: RecordIndex, since: datetime, now: datetime) -> list[PendingAction]:
    seen: set[str] = set()
    pending: list[PendingAction] = []
    for summary in index.query(runbook=REVIEW_RUNBOOK, since=since, limit=None):  # newest first
        meta = index.get(summary.run_id) or {}
        figures = (meta.get("outcome") or {}).get("figures") or {}
        incident = str(figures.get("incident") or meta.get("incident") or "")
        if not incident or incident in seen:
            continue
        seen.add(incident)
        for item in action_items_from_figure(figures.get("action_items")):
            if item.is_open:
                pending.append(PendingAction(incident, item.action, item.owner, item.due,
                                             item.due < f"{now:%Y-%m-%d}", summary.run_id))
    return pending


__all__ = ["REVIEW_RUNBOOK", "oncall_handoff"]
