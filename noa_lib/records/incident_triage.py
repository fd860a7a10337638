"""Incident triage with what only the records know: the runs that applied changes lately, the
latest backup's outcome (a data-loss signal), and the incident it belongs to.

:func:`incident_triage` runs :func:`noa_lib.ops.incident_triage.triage_incident` and adds:

- the records of runs against the target that **applied changes** within the lookback
  (deployments, ConfigMap changes, mitigations: their ``change-applied`` timeline events);
- a risk (P2) when the newest ``backup/full_backup`` run of the last 26 hours failed — not data
  loss yet, but the next restore has nothing fresh to start from;
- when ``incident`` is given and the classified severity is worse than the incident's, the
  incident is **escalated** (recorded as a severity change by ``triage`` with the reasons); triage
  never lowers a severity — that is the commander's call.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from noa_lib.config import Target, load_config
from noa_lib.errors import ParameterError
from noa_lib.ops.incident_triage import IncidentTriage, triage_incident
from noa_lib.ops.promql import format_duration, parse_duration
from noa_lib.ops.severity import SEVERITIES
from noa_lib.ops.triage_changes import ChangeRecord
from noa_lib.records.incidents import IncidentStore
from noa_lib.records.index import RecordIndex

BACKUP_RUNBOOK = "backup/full_backup"
BACKUP_WINDOW = timedelta(hours=26)
LOOKBACK = timedelta(hours=2)
MIN_WINDOW_S = 60.0
INCIDENT_MARGIN_S = 60.0


def incident_triage(
    target: Target,
    *,
    incident: str = "",
    window: str = "5m",
    at: datetime | str | None = None,
    starts_at: datetime | str | None = None,
    root: Path | None = None,
) -> IncidentTriage:
    """Triage ``target`` (see the module docstring); ``root`` is the records root (default: the
    configuration's reports directory).

    ``at`` is the instant to triage at (a datetime, ISO 8601 text — naive means UTC — or
    ``""``/``None`` for now). ``starts_at`` is when the incident began (an alert's
    ``startsAt``): the window then covers the incident and a minute before it, at least
    :data:`MIN_WINDOW_S` and at most ``window`` — a young incident is not diluted by the healthy
    minutes before it (a ``window`` shorter than that minute is kept).

    Raises:
        ParameterError: a bad window or ``at``.
        ConfigError: the target has no Prometheus.
        UnknownIncident: ``incident`` does not exist.
    """
    moment = _instant(at, "at")
    window = _incident_window(window, moment, starts_at)
    reports = root if root is not None else load_config().reports_dir
    store = IncidentStore(reports)
    current = store.get(incident) if incident else None
    index = RecordIndex(reports)
    result = triage_incident(target, incident=incident, window=window, at=moment,
                             risks=_risks(index, target.name, moment), lookback=LOOKBACK)
    records = _change_records(index, target.name, moment)
    result = replace(result, changes=replace(result.changes, records=records))
    if current is not None and current.is_open and (
        SEVERITIES.index(result.severity.severity) < SEVERITIES.index(current.severity)
    ):
        store.update(incident, severity=result.severity.severity, by="triage",
                     reason="triage classified " + result.severity.severity + ": "
                     + "; ".join(result.severity.reasons))
    return result


def _instant(at: datetime | str | None, name: str) -> datetime:
    if isinstance(at, datetime):
        return at if at.tzinfo else at.replace(tzinfo=UTC)
    if not at or at.startswith("0001-"):  # Alertmanager's zero time: unknown
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(at.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ParameterError(f"{name}={at!r} is not an ISO 8601 time", name=name,
                             accepted="e.g. 2026-12-04T02:31:00Z, or empty") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _incident_window(window: str, moment: datetime, starts_at: datetime | str | None) -> str:
    longest = parse_duration(window)
    if not starts_at:
        return window
    began = _instant(starts_at, "starts_at")
    seconds = (moment - began).total_seconds() + INCIDENT_MARGIN_S
    return format_duration(max(min(MIN_WINDOW_S, longest), min(longest, seconds)))


def _risks(index: RecordIndex, target: str, now: datetime) -> tuple[str, ...]:
    latest = index.query(runbook=BACKUP_RUNBOOK, target=target, since=now - BACKUP_WINDOW,
                         limit=1)
    if latest and latest[0].status == "failed":
        return (f"the newest {BACKUP_RUNBOOK} run failed ({latest[0].run_id})",)
    return ()


def _change_records(index: RecordIndex, target: str, now: datetime
                    ) -> tuple[ChangeRecord, ...]:
    out = []
    for summary in index.query(target=target, since=now - LOOKBACK, limit=200):
        meta = index.get(summary.run_id) or {}
        applied = [e for e in meta.get("timeline") or [] if e.get("kind") == "change-applied"]
        if not applied:
            continue
        changes = tuple(
            f"{c.get('resource')} {c.get('field')}: {c.get('before')!r} -> {c.get('after')!r}"
            for e in applied for c in e.get("changes") or [])
        out.append(ChangeRecord(summary.run_id, summary.runbook, summary.started_at,
                                round((now - summary.started_at).total_seconds() / 60, 1),
                                changes))
    return tuple(out)


__all__ = ["incident_triage"]
