"""Deployment history from the records index: when did the newest release of a Deployment start?

Reads the records of the mutating deployment runbooks (rolling update, canary, blue-green) and
keeps the runs that actually changed something (a ``change-applied`` event in their timeline) for
the given Deployment and target. Lives in ``records`` because ops may not import this layer; the
result feeds :func:`noa_lib.ops.deploy.db_rollback.database_rollback`.
"""

from __future__ import annotations

from pathlib import Path

from noa_lib.config import load_config
from noa_lib.ops.deploy.db_rollback import DatabaseRollback, DeployRecord, database_rollback
from noa_lib.ops.names import validate_name
from noa_lib.records.index import RecordIndex

DEPLOY_RUNBOOKS = ("deployment/rolling_update", "deployment/canary", "deployment/blue_green")


def deploy_records(deployment: str, *, target: str | None = None,
                   reports_dir: Path | None = None, limit: int = 200) -> list[DeployRecord]:
    """Applied deployment runs of ``deployment`` (newest first)."""
    validate_name(deployment, "deployment", "subdomain")
    index = RecordIndex(reports_dir if reports_dir is not None else load_config().reports_dir)
    found: list[DeployRecord] = []
    for runbook in DEPLOY_RUNBOOKS:
        for summary in index.query(runbook=runbook, target=target, limit=limit):
            meta = index.get(summary.run_id) or {}
            parameters = meta.get("parameters") or {}
            if parameters.get("deployment") != deployment:
                continue
            applied = [e for e in meta.get("timeline") or [] if e.get("kind") == "change-applied"]
            if not applied:
                continue
            found.append(DeployRecord(
                run_id=summary.run_id,
                runbook=runbook,
                deployment=deployment,
                target=str(summary.target or ""),
                started_at=summary.started_at,
                status=str(summary.status or ""),
                image_tag=str(parameters.get("image_tag") or ""),
                changes=sum(len(e.get("changes") or []) for e in applied),
            ))
    found.sort(key=lambda r: r.started_at, reverse=True)
    return found


def latest_deploy(deployment: str, *, target: str | None = None,
                  reports_dir: Path | None = None) -> DeployRecord | None:
    """The newest applied deployment run of ``deployment`` (``None`` when there is none)."""
    records = deploy_records(deployment, target=target, reports_dir=reports_dir)
    return records[0] if records else None


def plan_database_rollback(deployment: str, *, target: str, margin_minutes: float = 5.0,
                           reports_dir: Path | None = None) -> DatabaseRollback:
    """The PITR hand-off for ``deployment`` on ``target`` from its newest deploy record.

    Raises:
        PreconditionFailed: no applied deployment record.
    """
    deploy = latest_deploy(deployment, target=target, reports_dir=reports_dir)
    return database_rollback(deploy, target=target, margin_minutes=margin_minutes,
                             deployment=deployment)


__all__ = ["DEPLOY_RUNBOOKS", "deploy_records", "latest_deploy", "plan_database_rollback"]
