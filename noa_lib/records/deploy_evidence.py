"""Evidence from the records for the pre-deployment checklist: backups, validations, incidents.

Open incidents are those of the incident store (:mod:`noa_lib.records.incidents`) with severity P0
or P1 and status other than resolved — whatever their age — plus, from before the store, records
of incident runbooks whose outcome figures say so.

Reads the records index (nothing is re-run): the newest ``backup/full_backup`` and
``backup/validate_backup`` runs that succeeded with outcome ``ok``, and incident records
(runbooks under ``incident/``) of the last ``incident_days`` whose outcome figures say severity
P0 or P1 and are not resolved (figure ``severity`` and ``resolved``/``incident_status``). It lives
in ``records`` because ops may not import the records layer; the checklist gets the result as a
:class:`~noa_lib.ops.deploy.evidence.DeployEvidence`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from noa_lib.config import load_config
from noa_lib.ops.backup.history import BACKUP_RUNBOOK, DRILL_RUNBOOK
from noa_lib.ops.deploy.evidence import DeployEvidence
from noa_lib.records.incidents import IncidentStore
from noa_lib.records.index import RecordIndex, RecordSummary

INCIDENT_AREA = "incident/"
_RESOLVED = {"resolved", "closed", "mitigated-and-closed", "done"}


def _newest_ok(index: RecordIndex, runbook: str, target: str | None
               ) -> tuple[datetime, str] | None:
    for record in index.query(runbook=runbook, status="succeeded", target=target, limit=200):
        if record.outcome_status == "ok":
            return record.started_at, record.run_id
    return None


def _open_incident(meta: dict[str, Any] | None) -> str | None:
    outcome = (meta or {}).get("outcome") or {}
    figures = outcome.get("figures") if isinstance(outcome, dict) else None
    figures = figures if isinstance(figures, dict) else {}
    severity = str(figures.get("severity") or "").upper()
    if severity not in ("P0", "P1"):
        return None
    state = str(figures.get("incident_status") or figures.get("state") or "").lower()
    if figures.get("resolved") is True or state in _RESOLVED:
        return None
    return severity


def deploy_evidence(
    reports_dir: Path | None = None,
    *,
    target: str | None = None,
    incident_days: int = 7,
    now: datetime | None = None,
) -> DeployEvidence:
    """Backups, validations and open P0/P1 incidents on record (for ``target`` when given)."""
    root = reports_dir if reports_dir is not None else load_config().reports_dir
    index = RecordIndex(root)
    moment = now or datetime.now(UTC)
    since = moment - timedelta(days=incident_days)
    incidents = [f"{i.id} ({i.severity}, {i.status}: {i.title})"
                 for i in IncidentStore(root).list(status="open")
                 if i.severity in ("P0", "P1")]
    for record in _incident_records(index, since, target):
        severity = _open_incident(index.get(record.run_id))
        if severity:
            incidents.append(f"{record.runbook} {record.run_id} ({severity})")
    return DeployEvidence(
        last_backup=_newest_ok(index, BACKUP_RUNBOOK, target),
        last_validation=_newest_ok(index, DRILL_RUNBOOK, target),
        open_incidents=tuple(incidents),
        incidents_since=since,
        source=str(root),
    )


def _incident_records(index: RecordIndex, since: datetime, target: str | None
                      ) -> list[RecordSummary]:
    return [r for r in index.query(since=since, target=target, limit=2000)
            if r.runbook.startswith(INCIDENT_AREA)]


__all__ = ["INCIDENT_AREA", "deploy_evidence"]
