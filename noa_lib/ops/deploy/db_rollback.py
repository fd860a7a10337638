"""Database rollback hand-off: the point-in-time target computed from the deploy record.

A schema or data change shipped with a release is undone by restoring the database to just
before that release started: the start of the newest *applied* deployment record of the
Deployment, minus ``margin_minutes``. This module only computes and explains; the restore itself
is ``backup/pitr_restore`` (into a NEW cluster, verified, never touching the source), run with
the exact command shown. Reading the records lives in :mod:`noa_lib.records.deploy_history`
(ops may not import records); it hands a :class:`DeployRecord` in.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime, timedelta

from noa_lib.errors import PreconditionFailed
from noa_lib.ops.deploy import params
from noa_lib.ops.findings import Finding, Status


@dataclass(frozen=True)
class DeployRecord:
    """One applied deployment run, from the records index."""

    run_id: str
    runbook: str
    deployment: str
    target: str
    started_at: datetime
    status: str
    image_tag: str
    changes: int


@dataclass(frozen=True)
class DatabaseRollback:
    """The PITR hand-off: target time, why, and the command to run."""

    deploy: DeployRecord
    target_time: datetime
    margin_minutes: float
    command: tuple[str, ...]
    checks: tuple[str, ...]
    findings: tuple[Finding, ...]

    @property
    def command_line(self) -> str:
        return shlex.join(self.command)


PITR_CHECKS = (
    "the WAL archive covers target_time (PITR window: newest base backup before it, no gap)",
    "restores into a NEW cluster on a new port; the source database is never touched",
    "recovery stops at target_time and promotes; the restored cluster's last replayed "
    "transaction is at or before it",
    "row counts and schema version of the restored copy are shown for comparison",
)


def database_rollback(deploy: DeployRecord | None, *, target: str, margin_minutes: float = 5.0,
                      deployment: str = "") -> DatabaseRollback:
    """The target time (deploy start - margin) and the ``noa run backup/pitr_restore`` command.

    Raises:
        PreconditionFailed: no applied deployment record was found for the Deployment.
    """
    params.positive(margin_minutes, "margin_minutes", allow_zero=True)
    if deploy is None:
        raise PreconditionFailed(
            f"no applied deployment record of {deployment or 'that deployment'} on {target}: "
            "cannot tell when the release started; pick target_time by hand for "
            "backup/pitr_restore")
    when = deploy.started_at - timedelta(minutes=margin_minutes)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    command = ("noa", "run", "backup/pitr_restore", "--target", target,
               "-p", "target_time", stamp, "-p", "dry_run", "false")
    finding = Finding(
        "database rollback", Status.OK,
        f"restore to {stamp}: {margin_minutes:g} min before {deploy.runbook} run "
        f"{deploy.run_id} of {deploy.deployment} ({deploy.image_tag or '?'}) started "
        f"{deploy.started_at:%Y-%m-%dT%H:%M:%SZ}; run the command below (not run here)",
        value=stamp, evidence={"run_id": deploy.run_id, "command": shlex.join(command)})
    return DatabaseRollback(deploy, when, margin_minutes, command, PITR_CHECKS, (finding,))


__all__ = ["PITR_CHECKS", "DatabaseRollback", "DeployRecord", "database_rollback"]
