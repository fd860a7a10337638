"""The pre-deployment checklist's automated checks, one function per item (backend reads).

Each returns a :class:`~noa_lib.ops.findings.Finding`; backend failures raise ``ClientError``
and :func:`noa_lib.ops.deploy.checklist._guard` turns them into ``unreachable`` items.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError
from noa_lib.ops.deploy.evidence import SLO_AVAILABILITY, SLO_WINDOW, DeployEvidence
from noa_lib.ops.deploy.params import image_with_tag
from noa_lib.ops.findings import Finding, Status

Obj = dict[str, Any]


class _Unreadable(ClientError):
    """The Deployment could not be read, so checks built on it cannot run."""


def current_deployment(target: Target, name: str, namespace: str) -> Obj | ClientError | None:
    """The Deployment as the API server has it; the error when it cannot be read; ``None``
    without Kubernetes."""
    if target.kubernetes is None:
        return None
    from noa_lib.clients import kube_apps

    try:
        return kube_apps.get(target.kubernetes, "deployments", name, namespace)
    except ClientError as exc:
        return exc


def _deployment(current: Obj | ClientError | None) -> Obj:
    if current is None:
        raise ConfigError("the target has no Kubernetes section")
    if isinstance(current, ClientError):
        raise _Unreadable(f"cannot read the Deployment: {current}")
    return current


def _containers(obj: Obj) -> list[Obj]:
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return list(spec.get("containers") or [])


def _tag(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def running_versions(current: Obj | ClientError | None) -> list[str]:
    """Tags of the Deployment's container images."""
    return sorted({_tag(str(c.get("image", ""))) for c in _containers(_deployment(current))})


def image_in_registry(target: Target, tag: str, holder: dict[str, str | None]) -> Finding:
    """``ok`` with the digest when ``<repository>:<tag>`` exists; ``critical`` when not."""
    check = "image in registry"
    if target.registry is None:
        return Finding(check, Status.WARNING,
                       f"not checked: target {target.name} has no [registry] section")
    if not tag:
        return Finding(check, Status.CRITICAL, "no image_tag to look up")
    from noa_lib.clients import registry

    digest = registry.manifest_digest(target.registry, tag)
    ref = f"{target.registry.repository}:{tag}"
    holder["digest"] = digest
    if digest is None:
        return Finding(check, Status.CRITICAL, f"{ref} is not in the registry "
                       f"{target.registry.url}: build and push it first", value=ref)
    return Finding(check, Status.OK, f"{ref} exists: {digest}", value=digest,
                   evidence={"image": ref, "digest": digest, "registry": target.registry.url})


def dry_run_image(target: Target, current: Obj | ClientError | None, tag: str,
                  namespace: str) -> Finding:
    """A server-side dry run (``dryRun=All``) of the image change: the API server validates the
    new pod template and stores nothing."""
    check = "pod template accepted"
    obj = _deployment(current)
    containers = _containers(obj)
    if not containers or not tag:
        return Finding(check, Status.CRITICAL, "no container or no image_tag to try")
    first = containers[0]
    image = str(first.get("image", ""))
    new_image = image_with_tag(image, tag)
    from noa_lib.clients import kube_apps

    body = {"spec": {"template": {"spec": {"containers": [
        {"name": first.get("name"), "image": new_image}]}}}}
    name = str((obj.get("metadata") or {}).get("name", ""))
    try:
        answer = kube_apps.patch(target.kubernetes, "deployments", name, body, namespace,
                                 dry_run=True)
    except ClientError as exc:
        if "HTTP 4" in str(exc) and "HTTP 404" not in str(exc):
            return Finding(check, Status.CRITICAL, f"the API server rejected it: {exc}",
                           value=new_image)
        raise
    accepted = [str(c.get("image")) for c in _containers(answer)]
    if new_image not in accepted:
        return Finding(check, Status.CRITICAL,
                       f"the dry run answered images {accepted}, not {new_image}",
                       value=new_image)
    return Finding(check, Status.OK,
                   f"server-side dry run (dryRun=All) of {name} -> {new_image} accepted; "
                   "nothing was stored", value=new_image,
                   evidence={"patch": body, "dry_run": "All"})


def migrations(target: Target, service: str, namespace: str, wanted: Sequence[str]) -> Finding:
    """The release's migrations against ``GET /api/v1/migrations`` (through the service proxy)."""
    check = "migrations"
    if target.kubernetes is None:
        raise ConfigError("the target has no Kubernetes section")
    from noa_lib.clients import kube_pods

    answer = kube_pods.proxy(target.kubernetes, namespace, service, "/api/v1/migrations")
    body = answer.json if isinstance(answer.json, dict) else {}
    if answer.status != 200 or "applied" not in body:
        return Finding(check, Status.UNREACHABLE,
                       f"GET /api/v1/migrations answered HTTP {answer.status}")
    applied = [str(m) for m in body.get("applied") or []]
    pending = [str(m) for m in body.get("pending") or []]
    done = [m for m in wanted if m in applied]
    todo = [m for m in wanted if m not in applied]
    evidence = {"applied": applied, "pending_now": pending, "release": list(wanted)}
    if pending:
        return Finding(check, Status.WARNING,
                       f"migrations already pending before this deploy: {', '.join(pending)}",
                       value=len(pending), evidence=evidence)
    if not wanted:
        return Finding(check, Status.OK, f"no migrations listed for this release; "
                       f"{len(applied)} applied, latest {applied[-1] if applied else '-'}",
                       value=0, evidence=evidence)
    text = f"{len(todo)} to apply ({', '.join(todo) or '-'})"
    if done:
        text += f"; already applied: {', '.join(done)}"
    return Finding(check, Status.OK, text, value=len(todo), evidence=evidence)


def backups(evidence: DeployEvidence | None, max_age_h: float, now: datetime) -> Finding:
    """Newest ok full backup and newest ok validation both within ``max_age_h`` hours."""
    check = "backup completed and validated"
    if evidence is None:
        return Finding(check, Status.CRITICAL, "no backup evidence was gathered from the records")
    cutoff = now - timedelta(hours=max_age_h)
    problems = []
    shown = {}
    for what, item in (("backup", evidence.last_backup),
                       ("validation", evidence.last_validation)):
        if item is None:
            problems.append(f"no successful {what} on record")
            continue
        at, run = item
        age = (now - at).total_seconds() / 3600
        shown[what] = f"{run} at {at:%Y-%m-%d %H:%M} UTC ({age:.1f} h ago)"
        if at < cutoff:
            problems.append(f"last {what} is {age:.1f} h old (> {max_age_h:g} h)")
    ev = {**shown, "max_age_hours": max_age_h, "records": evidence.source}
    if problems:
        return Finding(check, Status.CRITICAL, "; ".join(problems) +
                       " — run backup/full_backup and backup/validate_backup", evidence=ev)
    return Finding(check, Status.OK, f"backup {shown['backup']}; validated "
                   f"{shown['validation']}", evidence=ev)


def service_health(target: Target, service: str) -> list[Finding]:
    """The service's error rate and p95 now (5 m), against the thresholds."""
    if target.prometheus is None:
        return [Finding("current error rate / p95", Status.WARNING,
                        f"not checked: target {target.name} has no Prometheus")]
    from noa_lib.ops import metrics
    from noa_lib.ops.promql import get_query
    from noa_lib.ops.thresholds import THRESHOLDS

    out = []
    prom = metrics.connect(target)
    try:
        for name, label in (("error_rate", "current error rate"),
                            ("latency_p95", "current p95 latency")):
            query = get_query(name)
            try:
                reading = metrics.read(prom, query, window="5m", where={"service": service})
            except ClientError as exc:
                out.append(Finding(label, Status.UNREACHABLE, str(exc)))
                continue
            worst = reading.worst()
            if worst is None:
                out.append(Finding(label, Status.WARNING, f"no data for {service} over 5m",
                                   evidence=reading.evidence()))
                continue
            bound = THRESHOLDS[query.threshold_metric or name]
            value = worst[1]
            out.append(Finding(label, bound.classify(value),
                               f"{service}: {metrics.fmt(value, query.unit)} "
                               f"({bound.describe()})", value=metrics.rounded(value),
                               threshold=bound.warning, unit=query.unit,
                               evidence=reading.evidence()))
    finally:
        prom.close()
    return out


def error_budget(target: Target, service: str) -> Finding:
    """Remaining 30-day error budget of the 99 % availability SLO for ``service``."""

    check = "error budget"
    if target.prometheus is None:
        return Finding(check, Status.WARNING, "not checked: no Prometheus")
    from noa_lib.clients import prometheus
    from noa_lib.ops import metrics
    from noa_lib.ops.promql import get_query

    prom = metrics.connect(target)
    promql = prom.render(get_query("error_rate"), SLO_WINDOW, by=(), scaled=False,
                         service=service)
    try:
        result = prometheus.query(prom.client, promql)
    finally:
        prom.close()
    values = [float(r["value"][1]) for r in result if r.get("value")]
    values = [v for v in values if not math.isnan(v)]
    budget = 1.0 - SLO_AVAILABILITY
    if not values:
        return Finding(check, Status.WARNING, f"no traffic data for {service} over {SLO_WINDOW}",
                       evidence={"promql": promql})
    ratio = values[0]
    remaining = 1.0 - ratio / budget
    ev = {"promql": promql, "error_ratio": ratio, "slo": SLO_AVAILABILITY}
    text = (f"{service}: {ratio:.4%} of requests failed over {SLO_WINDOW} "
            f"(budget {budget:.1%}): {max(remaining, -9.99):.0%} of the budget left")
    if remaining <= 0:
        status = Status.CRITICAL
        text += " — exhausted: only fixes should ship"
    elif remaining < 0.25:
        status = Status.WARNING
    else:
        status = Status.OK
    return Finding(check, status, text, value=round(remaining * 100, 1), threshold=25,
                   unit="%", evidence=ev)


URGENT_ALERTS = 'ALERTS{alertstate="firing", severity=~"P0|P1"}'


def urgent_alerts(target: Target) -> Finding:
    """No P0/P1 alert firing (Prometheus ``ALERTS``)."""
    check = "P0/P1 alerts"
    if target.prometheus is None:
        return Finding(check, Status.WARNING, "not checked: no Prometheus")
    from noa_lib.clients import prometheus
    from noa_lib.ops import metrics

    prom = metrics.connect(target)
    try:
        result = prometheus.query(prom.client, URGENT_ALERTS)
    finally:
        prom.close()
    firing = sorted({f"{r['metric'].get('alertname', '?')} ({r['metric'].get('severity', '?')})"
                     for r in result})
    if firing:
        return Finding(check, Status.CRITICAL, f"firing: {', '.join(firing)}",
                       value=len(firing), evidence={"promql": URGENT_ALERTS, "alerts": firing})
    return Finding(check, Status.OK, "no P0/P1 alert is firing", value=0,
                   evidence={"promql": URGENT_ALERTS})


def incidents(evidence: DeployEvidence | None) -> Finding:
    """No open P0/P1 incident record."""
    check = "open P0/P1 incidents"
    if evidence is None:
        return Finding(check, Status.WARNING, "not checked: no records evidence")
    since = (f" since {evidence.incidents_since:%Y-%m-%d}" if evidence.incidents_since else "")
    if evidence.open_incidents:
        return Finding(check, Status.CRITICAL,
                       f"open incident record(s): {', '.join(evidence.open_incidents)}",
                       value=len(evidence.open_incidents))
    return Finding(check, Status.OK, f"no open P0/P1 incident record{since}", value=0)


def pods_healthy(target: Target, deployment: str, current: Obj | ClientError | None,
                 namespace: str) -> Finding:
    """Every pod the Deployment selects is Running and Ready, none crash-looping."""
    check = "current pods healthy"
    obj = _deployment(current)
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or f"app={deployment}"
    from noa_lib.clients import kube_pods

    pods = kube_pods.list_pods(target.kubernetes, namespace, label_selector=selector)
    bad = [f"{p.name} ({p.waiting or p.phase}{', not ready' if not p.ready else ''})"
           for p in pods if not p.ready or p.phase != "Running" or p.waiting]
    restarts = sum(p.restarts for p in pods)
    ev = {"selector": selector, "pods": [p.name for p in pods], "restarts": restarts}
    if not pods:
        return Finding(check, Status.CRITICAL, f"no pod matches {selector}", evidence=ev)
    if bad:
        return Finding(check, Status.CRITICAL, f"{len(bad)} of {len(pods)} pods unhealthy: "
                       + ", ".join(bad), value=len(bad), evidence=ev)
    oom = [p.name for p in pods if p.last_termination == "OOMKilled"]
    if oom:
        return Finding(check, Status.WARNING, f"all {len(pods)} Ready, but OOMKilled before: "
                       + ", ".join(oom), value=0, evidence=ev)
    return Finding(check, Status.OK, f"all {len(pods)} pods Running and Ready "
                   f"({restarts} restarts)", value=0, evidence=ev)


__all__ = [
    "URGENT_ALERTS",
    "backups",
    "current_deployment",
    "dry_run_image",
    "error_budget",
    "image_in_registry",
    "incidents",
    "migrations",
    "pods_healthy",
    "running_versions",
    "service_health",
    "urgent_alerts",
]
