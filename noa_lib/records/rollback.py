"""The rollback runbook's plan, with the deploy record the database hand-off needs.

:func:`plan_rollback` is :func:`noa_lib.ops.deploy.rollback.plan_rollback` plus, for
``what="database"``, the newest applied deployment record of the Deployment (records layer).
"""

from __future__ import annotations

from pathlib import Path

from noa_lib.config import Target
from noa_lib.ops.deploy import rollback as ops
from noa_lib.ops.deploy.rollback import RollbackPlan
from noa_lib.records.deploy_history import latest_deploy


def plan_rollback(target: Target, *, what: str, deployment: str, namespace: str = "",
                  to_revision: int = 0, config_name: str = "noa-config",
                  config_revision: int = 0, margin_minutes: float = 5.0,
                  reports_dir: Path | None = None) -> RollbackPlan:
    """See :func:`noa_lib.ops.deploy.rollback.plan_rollback`."""
    last = None
    if what == "database":
        last = latest_deploy(deployment, target=target.name, reports_dir=reports_dir)
    return ops.plan_rollback(target, what=what, deployment=deployment, namespace=namespace,
                             to_revision=to_revision, config_name=config_name,
                             config_revision=config_revision, margin_minutes=margin_minutes,
                             last_deploy=last)


__all__ = ["plan_rollback"]
