"""``incident/complete_outage`` (P0): every tier checked, the last good release, and the DR
decision point.

:func:`diagnose_outage` reads, read-only, one finding per tier: pods Ready per Deployment
(Kubernetes), NOA's scrape and the service's traffic (Prometheus), PostgreSQL (reachable, and
NOA's core tables present), Redis (redis_exporter's ``redis_up``), S3, the queue. It reads the
service's revisions and picks the **last good release**
(:func:`noa_lib.ops.release_history.last_good_revision`). :func:`decide_outage` (pure) then says:

- the **database** is gone, corrupt or unreachable → not the release: hand over to
  ``backup/pitr_restore`` with the command to run it; no rollback is planned;
- the service has no Ready pod and a last good release exists → roll back to it;
- the service serves → no outage here (nothing planned);
- no last good release → hand over to the logs, nothing planned.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from noa_lib.clients import kube_apps, kube_pods
from noa_lib.config import KubernetesSettings, Target
from noa_lib.errors import ClientError, ConfigError, NotFound
from noa_lib.ops import metrics
from noa_lib.ops.connectivity import BACKENDS, check_backends
from noa_lib.ops.deploy.context import kube_context
from noa_lib.ops.deploy.revisions import Revision
from noa_lib.ops.deploy.workload import Obj, meta
from noa_lib.ops.error_rate import LOGS_RUNBOOK, check_parameters
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.mitigation import Mitigation, Verdict
from noa_lib.ops.promql import get_query, parse_duration
from noa_lib.ops.promql_render import Query
from noa_lib.ops.release_history import Releases, last_good_revision, read_releases
from noa_lib.ops.release_rollback import (
    Decision,
    RollbackChoice,
    all_of,
    check_verify_parameters,
    decided_mitigation,
    pods_ready_on,
    traffic_back,
)
from noa_lib.ops.thresholds import THRESHOLDS

DR_RUNBOOK = "backup/pitr_restore"
CORE_TABLES = ("organizations", "users", "api_keys", "request_log")
"""NOA's tables whose absence means the database is gone or corrupt, not merely slow."""
REDIS_UP = Query("redis_up", "max by ($by) (redis_up{@redis_exporter})", "",
                 "Whether redis_exporter reaches Redis (1 up, 0 down).")
TRAFFIC_NOW_S = 60
"""The service's traffic is read over at most this long: an outage of a minute shows."""
DatabaseState = Literal["ok", "gone", "corrupt", "unreachable", "unknown"]


@dataclass(frozen=True)
class DeploymentPods:
    """Pods of one Deployment: wanted, Ready, available."""

    name: str
    desired: int
    ready: int
    available: int


@dataclass(frozen=True)
class OutageDiagnosis:
    """What :func:`diagnose_outage` read and decided."""

    service: str
    deployments: tuple[DeploymentPods, ...]
    database: DatabaseState
    releases: Releases | None
    last_good: Revision | None
    findings: tuple[Finding, ...]
    decision: Decision

    @property
    def revisions(self) -> tuple[Revision, ...]:
        """The service's revisions, oldest first (empty when they could not be read)."""
        return self.releases.revisions if self.releases else ()

    def figures(self) -> dict[str, float | str | None]:
        pods = next((d for d in self.deployments if d.name == self.service), None)
        return {"service": self.service, "ready_pods": pods.ready if pods else None,
                "database": self.database, "decision": self.decision.action,
                "last_good_revision": self.last_good.number if self.last_good else None}


def decide_outage(target: str, service: str, pods: DeploymentPods | None,
                  database: DatabaseState, releases: Releases | None,
                  last_good: Revision | None) -> Decision:
    """The P0 decision (pure): see the module docstring."""
    if database in ("gone", "corrupt", "unreachable"):
        command = (f"noa run {DR_RUNBOOK} --target {target} "
                   "-p target_time <ISO time before the loss>")
        return Decision("hand over", f"the database is {database}: this is not the release — no "
                        f"rollback; restore it with {DR_RUNBOOK} (dry run first): {command}",
                        DR_RUNBOOK, command=command)
    if pods is not None and pods.ready > 0:
        return Decision("none", f"{service} has {pods.ready}/{pods.desired} pods Ready: not a "
                        "complete outage of it (nothing planned)")
    current = releases.current if releases else None
    if last_good is None or current is None or releases is None:
        return Decision("hand over", f"{service} has no Ready pod and no earlier revision whose "
                        f"pods were Ready: read why it fails with {LOGS_RUNBOOK}",
                        LOGS_RUNBOOK)
    choice = RollbackChoice(releases.deployment, releases.namespace, current.number,
                            current.image, last_good.number, last_good.image,
                            f"revision {current.number} ({current.version}) has no Ready pod")
    return Decision("rollback", f"{service}: {choice.reason}; roll back to the last good "
                    f"release, revision {last_good.number} ({last_good.version})",
                    choice=choice)


def diagnose_outage(target: Target, service: str = "api", *, window: str = "5m",
                    namespace: str = "", now: datetime | None = None) -> OutageDiagnosis:
    """Check every tier, find the last good release and decide (read-only).

    Raises:
        ParameterError: bad parameters (before any request). Backend failures are findings.
    """
    check_parameters(service, window, 30)
    moment = now or datetime.now(UTC)
    findings: list[Finding] = []
    deployments = _deployments(target, namespace, service, findings)
    findings.extend(_prometheus_tiers(target, service, window))
    backends = dict(zip(BACKENDS, check_backends(replace(target, prometheus=None,
                                                         kubernetes=None)), strict=False))
    database, db_finding = database_state(target, backends.get("postgres"))
    findings.append(db_finding)
    if "s3" in backends:
        findings.append(replace(backends["s3"], check="tier: S3"))
    releases = None
    try:
        releases = read_releases(target, service, namespace=namespace, now=moment)
    except (ClientError, ConfigError) as exc:
        findings.append(Finding("revisions", Status.UNREACHABLE, str(exc)))
    last_good = last_good_revision(releases.revisions, releases.ready_seen) if releases else None
    findings.append(Finding(
        "last good release", Status.OK if last_good else Status.WARNING,
        f"revision {last_good.number} ({last_good.image}) had Ready pods" if last_good else
        "no earlier revision whose pods were Ready",
        evidence={"ready_seen": dict(releases.ready_seen) if releases else {}}))
    pods = next((d for d in deployments if d.name == service), None)
    decision = decide_outage(target.name, service, pods, database, releases, last_good)
    return OutageDiagnosis(service, tuple(deployments), database, releases, last_good,
                           (*findings, decision.finding()), decision)


def outage_mitigation(target: Target, diagnosis: OutageDiagnosis, *,
                      verify_window: str = "30s", verify_timeout_s: float = 180.0
                      ) -> Mitigation:
    """The mitigation the diagnosis decided: the rollback to the last good release, verified by
    every pod Ready on it and the service's traffic back in Prometheus over ``verify_window``,
    rolled forward when that does not hold within ``verify_timeout_s``; or an empty plan (the
    DR hand-over, no outage, nothing to roll back to).

    Raises:
        ParameterError: bad ``verify_window`` / ``verify_timeout_s`` (before any request).
    """
    check_verify_parameters(verify_window, verify_timeout_s)
    service = diagnosis.service

    def verify(choice: RollbackChoice) -> Callable[[], Verdict]:
        return all_of(pods_ready_on(target, choice), traffic_back(target, service,
                                                                  verify_window))

    return decided_mitigation(target, diagnosis.decision, verify,
                              verify_timeout_s=verify_timeout_s)


def database_state(target: Target, reachable: Finding | None) -> tuple[DatabaseState, Finding]:
    """Whether NOA's database is there: reachable (``reachable``: the connectivity finding),
    and its core tables present."""
    check = "tier: PostgreSQL"
    if reachable is None or reachable.status == Status.SKIPPED or target.postgres is None:
        return "unknown", Finding(check, Status.SKIPPED, "no PostgreSQL configured")
    if reachable.status == Status.UNREACHABLE:
        gone = "does not exist" in reachable.message
        return ("gone" if gone else "unreachable"), replace(reachable, check=check,
                                                             status=Status.CRITICAL)
    from noa_lib.clients import postgres

    try:
        with postgres.connect(target.postgres, read_only=True) as conn:
            rows = postgres.query(conn, "SELECT t, to_regclass(t) IS NOT NULL AS present "
                                        "FROM unnest(%s::text[]) AS t", (list(CORE_TABLES),))
    except NotFound as exc:
        return "gone", Finding(check, Status.CRITICAL, f"NOA's database is gone: {exc}")
    except ClientError as exc:
        return "unreachable", Finding(check, Status.CRITICAL, str(exc))
    missing = [str(r["t"]) for r in rows if not r["present"]]
    if missing:
        return "corrupt", Finding(check, Status.CRITICAL, "NOA's core tables are missing: "
                                  + ", ".join(missing), evidence={"missing": missing})
    return "ok", replace(reachable, check=check, message=reachable.message
                         + f"; core tables present ({', '.join(CORE_TABLES)})")


def _deployments(target: Target, namespace: str, service: str, findings: list[Finding]
                 ) -> list[DeploymentPods]:
    try:
        kc = kube_context(target, namespace)
        listing = kube_apps.list_objects(kc.settings, "deployments", kc.namespace)
    except (ClientError, ConfigError) as exc:
        findings.append(Finding("tier: pods", Status.UNREACHABLE, str(exc)))
        return []
    out = []
    for d in listing:
        if str(meta(d).get("name")) == service:
            findings.append(_failing_pods(kc.settings, kc.namespace, service, d))
        status, spec = d.get("status") or {}, d.get("spec") or {}
        pods = DeploymentPods(str(meta(d).get("name")), int(spec.get("replicas") or 0),
                              int(status.get("readyReplicas") or 0),
                              int(status.get("availableReplicas") or 0))
        out.append(pods)
        state = (Status.OK if pods.ready >= pods.desired else
                 Status.CRITICAL if pods.ready == 0 else Status.WARNING)
        findings.append(Finding(f"tier: pods {pods.name}", state,
                                f"{pods.ready}/{pods.desired} pods Ready, {pods.available} "
                                "available", value=pods.ready, threshold=pods.desired))
    return out


def _failing_pods(settings: KubernetesSettings, namespace: str, service: str, dep: Obj
                  ) -> Finding:
    """Why the service's pods are not Ready: waiting reasons, last terminations, restarts."""
    check = f"pods of {service}"
    labels = ((dep.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or f"app={service}"
    try:
        pods = kube_pods.list_pods(settings, namespace, label_selector=selector)
    except (ClientError, ConfigError) as exc:
        return Finding(check, Status.UNREACHABLE, str(exc))
    failing = [p for p in pods if not p.ready]
    reasons = Counter(p.waiting or p.last_termination or p.phase for p in failing)
    evidence = {"selector": selector, "pods": {p.name: {
        "ready": p.ready, "waiting": p.waiting, "last_termination": p.last_termination,
        "restarts": p.restarts, "version": p.version} for p in pods}}
    if not failing:
        return Finding(check, Status.OK, f"{len(pods)} pod(s) Ready", value=0,
                       evidence=evidence)
    why = ", ".join(f"{reason} ×{n}" for reason, n in reasons.most_common())
    versions = ", ".join(sorted({p.version for p in failing}))
    return Finding(check, Status.CRITICAL,
                   f"{len(failing)}/{len(pods)} pod(s) not Ready: {why}; "
                   f"{sum(p.restarts for p in failing)} restarts; running {versions}",
                   value=len(failing), evidence=evidence)


def _prometheus_tiers(target: Target, service: str, window: str) -> list[Finding]:
    try:
        prom = metrics.connect(target)
    except ConfigError as exc:
        return [Finding("tier: scrape", Status.SKIPPED, str(exc))]
    now_window = window if parse_duration(window) <= TRAFFIC_NOW_S else f"{TRAFFIC_NOW_S}s"
    jobs = {
        "up": lambda: metrics.read(prom, get_query("scrape_up"), window=window, by=()),
        "rps": lambda: metrics.read(prom, get_query("request_rate"), window=now_window, by=(),
                                    where={"service": service}),
        "redis": lambda: metrics.read(prom, REDIS_UP, window=window, by=()),
        "queue": lambda: metrics.read(prom, get_query("queue_depth"), window=window, by=()),
    }
    try:
        got = metrics.parallel(jobs)
    finally:
        prom.close()

    def value(key: str) -> float | None:
        reading = got[key]
        return None if isinstance(reading, ClientError) or not reading.values \
            else reading.values[0][1]

    up, rps, redis, depth = value("up"), value("rps"), value("redis"), value("queue")
    queue_limit = THRESHOLDS["queue_depth"].critical
    return [
        Finding("tier: scrape", Status.OK if up else Status.CRITICAL,
                "NOA Server scraped" if up else "NOA Server not scraped (up 0 or no data)",
                value=up),
        Finding(f"tier: {service} traffic", Status.OK if rps else Status.CRITICAL,
                f"{service} serves {rps or 0:.3g} req/s over the last {now_window}", value=rps,
                unit="req/s"),
        Finding("tier: Redis", Status.SKIPPED if redis is None else
                Status.OK if redis else Status.CRITICAL,
                "no redis_exporter data" if redis is None else
                "Redis up" if redis else "Redis down", value=redis),
        Finding("tier: queue", Status.SKIPPED if depth is None else
                Status.WARNING if depth > queue_limit else Status.OK,
                "no queue data" if depth is None else f"deepest queue {depth:.0f} jobs",
                value=depth, threshold=queue_limit, unit="jobs"),
    ]


__all__ = ["CORE_TABLES", "DR_RUNBOOK", "DatabaseState", "DeploymentPods", "OutageDiagnosis",
           "database_state", "decide_outage", "diagnose_outage", "outage_mitigation"]
