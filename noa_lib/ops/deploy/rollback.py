"""Rollbacks: a Deployment to an earlier revision, a ConfigMap to its saved version, or the
database to before the release (a hand-off to ``backup/pitr_restore``), then verify recovery.

:func:`plan_rollback` validates every parameter first and returns a :class:`RollbackPlan` whose
``plan`` is applied through ``apply_plan``; :func:`verify_rollback` then watches the rollout and
checks the service recovered (pods on the restored image, error rate and p95 under threshold).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from noa_lib.config import Target
from noa_lib.errors import ClientError, ParameterError
from noa_lib.ops.deploy import params
from noa_lib.ops.deploy.analysis import analysis_spec, run_analysis
from noa_lib.ops.deploy.configmaps import ConfigVersion, config_history, config_restore_plan
from noa_lib.ops.deploy.context import namespace_for
from noa_lib.ops.deploy.db_rollback import DatabaseRollback, DeployRecord, database_rollback
from noa_lib.ops.deploy.revisions import Revision, pick_revision, revision_history, undo_plan
from noa_lib.ops.deploy.rollout import RolloutWatch, watch_rollout
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.names import validate_name
from noa_lib.ops.safety import Applied, Plan

WHATS = ("deployment", "configuration", "database")


@dataclass(frozen=True)
class RollbackPlan:
    """What a rollback will do (``plan`` is empty for the database hand-off)."""

    what: str
    deployment: str
    namespace: str
    plan: Plan
    revisions: tuple[Revision, ...]
    config_versions: tuple[ConfigVersion, ...]
    database: DatabaseRollback | None
    expected_image: str
    findings: tuple[Finding, ...]


def plan_rollback(target: Target, *, what: str, deployment: str, namespace: str = "",
                  to_revision: int = 0, config_name: str = "noa-config",
                  config_revision: int = 0, margin_minutes: float = 5.0,
                  last_deploy: DeployRecord | None = None) -> RollbackPlan:
    """Plan the rollback of ``what`` (deployment, configuration or database).

    Raises:
        ParameterError: bad ``what``/names/revisions (before any request).
        PreconditionFailed: nothing to roll back to.
    """
    if what not in WHATS:
        raise ParameterError(f"what={what!r} is not one of {', '.join(WHATS)}", name="what",
                             accepted=", ".join(WHATS))
    ns = namespace_for(target, namespace)
    params.workload(ns, deployment)
    params.whole(to_revision, "to_revision")
    params.whole(config_revision, "config_revision")
    validate_name(config_name, "config_name", "subdomain")
    empty = Plan(action=f"rollback {what}: nothing to apply here", target=target, changes=(),
                 perform=lambda: None)
    if what == "database":
        handoff = database_rollback(last_deploy, target=target.name,
                                    margin_minutes=margin_minutes, deployment=deployment)
        return RollbackPlan(what, deployment, ns, empty, (), (), handoff, "", handoff.findings)
    if what == "configuration":
        versions = config_history(target, config_name, namespace=ns)
        plan = config_restore_plan(target, config_name, revision=config_revision, namespace=ns)
        return RollbackPlan(what, deployment, ns, plan, (), versions, None, "", ())
    history = revision_history(target, deployment, namespace=ns)
    chosen = pick_revision(history, to_revision)
    plan = undo_plan(target, deployment, to_revision=chosen.number, namespace=ns)
    finding = Finding("rollback target", Status.OK,
                      f"{ns}/{deployment}: back to revision {chosen.number} ({chosen.image}) "
                      f"from revision {next((r.number for r in history if r.current), '?')}",
                      evidence={"replicaset": chosen.replicaset})
    return RollbackPlan(what, deployment, ns, plan, history, (), None, chosen.image, (finding,))


@dataclass(frozen=True)
class Recovery:
    """The rollout after a rollback and whether the service recovered."""

    watch: RolloutWatch | None
    findings: tuple[Finding, ...]


def verify_rollback(target: Target, rollback: RollbackPlan, applied: Applied, *,
                    timeout_s: float = 300.0, error_rate: float = 0.01, p95_s: float = 1.0,
                    window: str = "5m") -> Recovery:
    """Watch the rollout (deployment rollbacks) and check recovery as findings.

    A dry run or a database hand-off verifies nothing here (one ``skipped`` finding says so).
    Recovery = the rollout completed and the restored version's error rate and p95 are under
    ``error_rate`` / ``p95_s`` over ``window`` — 5 minutes by default: that version served before
    the bad release too, and a short window right after its pods were replaced is dominated by
    series that have just started or stopped, not by its behaviour.
    """
    if rollback.what != "deployment" or not applied.applied:
        why = ("dry run: nothing was rolled back" if not applied.applied and
               rollback.what != "database" else "database: verify after backup/pitr_restore")
        if rollback.what == "configuration" and applied.applied:
            why = ("configuration restored; pods read it on restart (roll the Deployment to "
                   "apply it now)")
        return Recovery(None, (Finding("recovery", Status.SKIPPED, why),))
    watch = watch_rollout(target, rollback.deployment, namespace=rollback.namespace,
                          timeout_s=timeout_s, applied=True)
    findings = list(watch.findings)
    final = watch.final
    if final is not None:
        on_image = final.image == rollback.expected_image and final.complete
        findings.append(Finding(
            "pods on the restored image", Status.OK if on_image else Status.CRITICAL,
            f"{final.available}/{final.desired} pods available on {final.image}"
            + ("" if on_image else f" (expected {rollback.expected_image})"),
            value=final.available, threshold=final.desired))
    findings.extend(_health(target, rollback, error_rate, p95_s, window))
    return Recovery(watch, tuple(findings))


def _health(target: Target, rollback: RollbackPlan, error_rate: float, p95_s: float,
            window: str) -> list[Finding]:
    if target.prometheus is None:
        return [Finding("error rate", Status.SKIPPED, "no Prometheus configured")]
    version = params.tag_of(rollback.expected_image)
    service = rollback.deployment
    spec = analysis_spec(interval_s=0.0, count=1, window=window, error_rate=error_rate,
                         p95_s=p95_s, baseline_max_ratio=0)
    try:
        result = run_analysis(target, service=service, canary_version=version,
                              stable_version=version, spec=spec, label="after rollback")
    except (ClientError, ParameterError) as exc:
        return [Finding("error rate", Status.WARNING, f"could not check: {exc}")]
    out: list[Any] = list(result.findings)
    return out


__all__ = ["WHATS", "Recovery", "RollbackPlan", "plan_rollback", "verify_rollback"]
