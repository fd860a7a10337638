"""Diagnose OOM kills of one service: which containers, memory against the limit over the
window, the rollout history, and whether it is a leak or an undersized limit
(:func:`~.oom_rules.classify`).

Read-only. Prometheus gives the kills (catalogue ``oom_kills``), the memory share now and over
the window (``memory_limit_share`` by pod) and the peak working set (``memory_working_set``); the
Kubernetes API gives the Deployment's limit and revisions (its ReplicaSets), the pods' restarts
and last termination reasons, and the namespace's LimitRange/ResourceQuota.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from noa_lib.clients import kube_apps, kube_pods
from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError, NotFound
from noa_lib.ops import metrics
from noa_lib.ops.deploy.context import KubeContext, kube_context
from noa_lib.ops.deploy.revisions import Revision, history_from, owned_replicasets
from noa_lib.ops.deploy.workload import pick_container
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.promql import get_query
from noa_lib.ops.resources.oom_rules import (
    Bounds,
    OomEvidence,
    OomParameters,
    OomVerdict,
    classify,
    climb_rate,
)
from noa_lib.ops.resources.quantity import human, quantity_bytes
from noa_lib.ops.resources.series import Points, window_points
from noa_lib.ops.thresholds import threshold

Obj = dict[str, Any]


@dataclass(frozen=True)
class OomPod:
    """One pod of the service as the Kubernetes API reports it."""

    name: str
    ready: bool
    restarts: int
    last_termination: str | None
    version: str
    started: str


@dataclass(frozen=True)
class OomDiagnosis:
    """Everything ``incident/oom_kills`` found (``findings`` first for the record)."""

    params: OomParameters
    namespace: str
    deployment: str
    container: str
    limit: float | None
    request: float | None
    previous_limit: float | None
    revision: int | None
    previous_revision: int | None
    image: str
    previous_image: str
    rollout_age_s: float | None
    replicas: int
    surge: int
    oom_kills: float
    memory_pct: float | None
    peak_bytes: float | None
    trend: tuple[Points, ...]
    pods: tuple[OomPod, ...]
    bounds: Bounds
    evidence: OomEvidence
    verdict: OomVerdict
    findings: tuple[Finding, ...]


def container_resources(deployment: Obj, container: str) -> tuple[float | None, float | None]:
    """``(memory limit, memory request)`` in bytes of ``container`` (``None`` when unset)."""
    res = pick_container(deployment, container).get("resources") or {}
    return (quantity_bytes((res.get("limits") or {}).get("memory")),
            quantity_bytes((res.get("requests") or {}).get("memory")))


def surge_of(deployment: Obj) -> int:
    """Pods a rolling update may add above ``replicas`` (``maxSurge``; 25 % when unset)."""
    spec = deployment.get("spec") or {}
    replicas = int(spec.get("replicas") or 1)
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = rolling.get("maxSurge", "25%")
    if isinstance(surge, str) and surge.endswith("%") and surge[:-1].isdigit():
        return -(-replicas * int(surge[:-1]) // 100)
    return int(surge) if str(surge).isdigit() else 1


def bounds_of(kc: KubeContext, max_limit: float) -> Bounds:
    """``max_limit`` with the namespace's LimitRange container maximum and ResourceQuota room
    for ``limits.memory`` (absent when the namespace has none or the API serves none)."""
    def listed(plural: str) -> list[Obj]:
        try:
            return kube_apps.list_objects(kc.settings, plural, kc.namespace)
        except NotFound:
            return []

    range_max = [quantity_bytes((item.get("max") or {}).get("memory"))
                 for lr in listed("limitranges")
                 for item in (lr.get("spec") or {}).get("limits") or []
                 if item.get("type") == "Container"]
    hard = used = None
    for quota in listed("resourcequotas"):
        h = quantity_bytes(((quota.get("spec") or {}).get("hard") or {}).get("limits.memory"))
        if h is not None and (hard is None or h < hard):
            hard = h
            used = quantity_bytes(((quota.get("status") or {}).get("used") or {}).get(
                "limits.memory")) or 0.0
    maxima = [m for m in range_max if m is not None]
    return Bounds(max_limit, min(maxima) if maxima else None, hard, used)


def _age_s(created: str) -> float | None:
    try:
        when = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (datetime.now(UTC) - when).total_seconds()


def _revisions(history: tuple[Revision, ...], container: str
               ) -> tuple[Revision | None, Revision | None, float | None]:
    current = next((r for r in history if r.current), None)
    older = [r for r in history if current is not None and r.number < current.number]
    previous = max(older, key=lambda r: r.number) if older else None
    previous_limit = None
    if previous is not None and previous.template:
        previous_limit = container_resources({"spec": {"template": previous.template}},
                                             container)[0]
    return current, previous, previous_limit


def diagnose_oom(target: Target, params: OomParameters, *, namespace: str = "") -> OomDiagnosis:
    """Read everything about the OOM kills of ``params.service`` (nothing is changed).

    Raises:
        ConfigError: the target has no Kubernetes API.
        NotFound: no Deployment named ``params.service``.
        ClientError: the Kubernetes API failed (Prometheus failures become findings).
    """
    kc = kube_context(target, namespace)
    name = params.service
    deployment = kube_apps.get(kc.settings, "deployments", name, kc.namespace)
    limit, request = container_resources(deployment, name)
    history = history_from(deployment, owned_replicasets(kc, deployment))
    current, previous, previous_limit = _revisions(history, name)
    selector = ",".join(f"{k}={v}" for k, v in sorted(
        (((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}).items()))
    pods = tuple(OomPod(p.name, p.ready, p.restarts, p.last_termination, p.version,
                        p.started.isoformat() if p.started else "")
                 for p in kube_pods.list_pods(kc.settings, kc.namespace,
                                              label_selector=selector or None))
    kills, memory_pct, peak, trend, prom_findings = _prometheus(target, params)
    limit_lowered = bool(limit and previous_limit and limit < previous_limit)
    evidence = OomEvidence(
        oom_kills=kills, memory_pct=memory_pct,
        climb_pct_per_min=climb_rate([s.points for s in trend]),
        limit_lowered=limit_lowered,
        image_changed=bool(current and previous and current.image != previous.image),
        rollout_age_s=_age_s(current.created) if current else None)
    verdict = classify(evidence)
    findings = (*prom_findings, *_pod_findings(pods), _verdict_finding(verdict, evidence, limit,
                                                                       previous_limit))
    return OomDiagnosis(
        params=params, namespace=kc.namespace, deployment=name, container=name, limit=limit,
        request=request, previous_limit=previous_limit,
        revision=current.number if current else None,
        previous_revision=previous.number if previous else None,
        image=current.image if current else "", previous_image=previous.image if previous else "",
        rollout_age_s=evidence.rollout_age_s,
        replicas=int((deployment.get("spec") or {}).get("replicas") or 1),
        surge=surge_of(deployment), oom_kills=kills, memory_pct=memory_pct, peak_bytes=peak,
        trend=trend, pods=pods, bounds=bounds_of(kc, params.max_limit), evidence=evidence,
        verdict=verdict, findings=findings)


def _prometheus(target: Target, params: OomParameters) -> tuple[
        float, float | None, float | None, tuple[Points, ...], list[Finding]]:
    where = {"service": params.service}
    try:
        prom = metrics.connect(target)
    except ConfigError:
        return 0.0, None, None, (), [metrics.not_configured(target, "OOM kills")]
    try:
        kills_r = metrics.read(prom, get_query("oom_kills"), window=params.window, where=where)
        memory_r = metrics.read(prom, get_query("memory_limit_share"), window="1m",
                                by=("pod",), where=where)
        peak_r = metrics.read(prom, get_query("memory_working_set"), window=params.window,
                              where=where)
        step = max(15.0, params.window_s / 120)
        promql, trend = window_points(prom, get_query("memory_limit_share"),
                                      window=params.window, step_s=step, rate_window="30s",
                                      by=("pod",), where=where)
    except ClientError as exc:
        return 0.0, None, None, (), [metrics.failure_finding("OOM kills", exc, {})]
    finally:
        prom.close()
    kills = sum(v for _, v in kills_r.values)
    worst = memory_r.worst()
    memory_pct = worst[1] if worst else None
    peak = max((v for _, v in peak_r.values), default=None)
    mem = threshold("memory")
    findings = [
        Finding("OOM kills", Status.CRITICAL if kills >= 0.5 else Status.OK,
                f"{kills:.0f} container restart(s) of {params.service} ended by the OOM killer "
                f"in the last {params.window}", value=round(kills), threshold=0,
                evidence=kills_r.evidence()),
        Finding("memory vs limit",
                Status.OK if memory_pct is None else mem.classify(memory_pct),
                "no memory series" if memory_pct is None else
                f"fullest container at {memory_pct:.0f} % of its memory limit "
                f"(peak working set {human(peak)} in {params.window})",
                value=None if memory_pct is None else round(memory_pct, 1),
                threshold=mem.describe(), unit="%",
                evidence={**memory_r.evidence(), "trend_promql": promql}),
    ]
    return kills, memory_pct, peak, trend, findings


def _pod_findings(pods: tuple[OomPod, ...]) -> list[Finding]:
    killed = [p.name for p in pods if p.last_termination == "OOMKilled"]
    return [Finding("pods OOMKilled", Status.CRITICAL if killed else Status.OK,
                    f"{len(killed)} of {len(pods)} pod(s) last terminated OOMKilled"
                    + (f": {', '.join(killed)}" if killed else ""),
                    value=len(killed), evidence={"pods": killed})]


def _verdict_finding(verdict: OomVerdict, e: OomEvidence, limit: float | None,
                     previous: float | None) -> Finding:
    status = {"healthy": Status.OK, "unclear": Status.WARNING}.get(verdict.cause,
                                                                   Status.CRITICAL)
    return Finding("leak or undersized", status, f"{verdict.cause}: {verdict.reason}",
                   value=verdict.cause, evidence={
                       "limit": human(limit), "previous_limit": human(previous),
                       "climb_pct_per_min": e.climb_pct_per_min,
                       "rollout_age_s": e.rollout_age_s, "image_changed": e.image_changed})


__all__ = ["OomDiagnosis", "OomPod", "bounds_of", "container_resources", "diagnose_oom",
           "surge_of"]
