"""The mitigation of ``incident/oom_kills``: raise the memory limit (undersized) or roll the
leaking release back (leak), verified in the Kubernetes API and Prometheus, reverted when the
verify fails.

*Raise*: one strategic-merge patch of the container's ``resources`` (``limits.memory``, and
``requests.memory`` lowered to the limit only if it would exceed it), checked against
``max_limit``, the LimitRange and the ResourceQuota first (:func:`~.oom_rules.check_limit`);
the revert patches the old values back. *Roll back*: the rollback runbook's own plan
(:func:`noa_lib.ops.deploy.revisions.undo_plan`) to the previous revision; the revert rolls
forward to the revision undone. *Verify*: the rollout completed, every pod of the Deployment
has run :data:`QUIET_S` seconds without a restart (no new OOM kill), and the fullest
container's working set is under :data:`VERIFY_MEMORY_PCT` of its limit in Prometheus.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from noa_lib.clients import kube_apps, kube_pods
from noa_lib.config import Target
from noa_lib.errors import ConfigError
from noa_lib.ops import metrics
from noa_lib.ops.deploy.context import kube_context
from noa_lib.ops.deploy.revisions import undo_plan
from noa_lib.ops.mitigation import Mitigation, Verdict
from noa_lib.ops.promql import get_query
from noa_lib.ops.resources.oom import OomDiagnosis
from noa_lib.ops.resources.oom_rules import check_limit, propose_limit
from noa_lib.ops.resources.quantity import format_bytes, human
from noa_lib.ops.safety import Change, Plan

QUIET_S = 30.0
"""A pod must run this long without a restart (longer than an OOM cycle at the limit)."""
VERIFY_MEMORY_PCT = 80.0
VERIFY_TIMEOUT_S = 240.0


def _resources_patch(container: str, limit: str | None, request: str | None) -> dict[str, Any]:
    resources: dict[str, Any] = {"limits": {"memory": limit}}
    if request is not None:
        resources["requests"] = {"memory": request}
    return {"spec": {"template": {"spec": {"containers": [
        {"name": container, "resources": resources}]}}}}


def limit_plan(target: Target, d: OomDiagnosis, *, limit: str, request: str | None,
               action: str) -> Plan:
    """The patch setting ``container``'s memory limit (and request when given)."""
    kc = kube_context(target, d.namespace)
    resource = f"deployment/{d.namespace}/{d.deployment}"
    field = f"spec.template.spec.containers[{d.container}].resources"
    changes = [Change(resource, f"{field}.limits.memory",
                      format_bytes(d.limit) if d.limit else None, limit)]
    if request is not None:
        changes.append(Change(resource, f"{field}.requests.memory",
                              format_bytes(d.request) if d.request else None, request))
    body = _resources_patch(d.container, limit, request)

    def perform() -> Any:
        return kube_apps.patch(kc.settings, "deployments", d.deployment, body, d.namespace)

    return Plan(action=action, target=target, changes=tuple(changes), perform=perform,
                rollback=f"patch {field}.limits.memory back to "
                         f"{format_bytes(d.limit) if d.limit else 'unset'}")


def plan_oom_mitigation(target: Target, d: OomDiagnosis, *, quiet_s: float = QUIET_S,
                        verify_timeout_s: float = VERIFY_TIMEOUT_S) -> Mitigation:
    """The mitigation for the diagnosed cause (an empty plan when healthy or unclear).

    Raises:
        UnsafeActionRefused: the new limit would exceed ``max_limit``, the LimitRange or the
            ResourceQuota (nothing was changed).
        PreconditionFailed: a leak but no earlier revision to roll back to.
    """
    verify = memory_verify(target, d, quiet_s=quiet_s)
    if d.verdict.cause == "undersized" and d.limit:
        new = propose_limit(peak=d.peak_bytes or d.limit, current=d.limit,
                            previous=d.previous_limit, headroom_pct=d.params.headroom_pct,
                            limit_lowered=d.evidence.limit_lowered)
        check_limit(new, d.limit, d.replicas, d.surge, d.bounds)
        request = format_bytes(new) if d.request and d.request > new else None
        basis = f"peak {human(d.peak_bytes)} × {1 + d.params.headroom_pct / 100:g}"
        if d.previous_limit and new >= d.previous_limit > (d.peak_bytes or 0) * (
                1 + d.params.headroom_pct / 100):
            basis += (f", at least the previous revision's {format_bytes(d.previous_limit)}: "
                      "the peak is cut off by the OOM killer")
        plan = limit_plan(
            target, d, limit=format_bytes(new), request=request,
            action=f"raise the memory limit of {d.namespace}/{d.deployment} from "
                   f"{format_bytes(d.limit)} to {format_bytes(new)} ({basis})")
        old_request = format_bytes(d.request) if request is not None and d.request else None

        def revert() -> Plan:
            return limit_plan(target, d, limit=format_bytes(d.limit or 0), request=old_request,
                              action=f"put the memory limit of {d.namespace}/{d.deployment} "
                                     f"back to {format_bytes(d.limit or 0)}")

        return Mitigation(plan, verify=verify, revert=revert,
                          verify_timeout_s=verify_timeout_s, verify_interval_s=5.0)
    if d.verdict.cause == "leak" and d.previous_revision is not None:
        plan = undo_plan(target, d.deployment, to_revision=d.previous_revision,
                         namespace=d.namespace)
        leaking = d.revision or 0

        def roll_forward() -> Plan:
            return undo_plan(target, d.deployment, to_revision=leaking, namespace=d.namespace)

        return Mitigation(plan, verify=verify, revert=roll_forward,
                          verify_timeout_s=verify_timeout_s, verify_interval_s=5.0)
    return Mitigation(Plan(action=f"oom_kills on {d.namespace}/{d.deployment}: no change "
                                  f"({d.verdict.cause})", target=target, changes=(),
                           perform=lambda: None), verify=verify)


def memory_verify(target: Target, d: OomDiagnosis, *, quiet_s: float = QUIET_S
                  ) -> Callable[[], Verdict]:
    """A verify: rollout complete, no pod restarted for ``quiet_s``, memory under
    :data:`VERIFY_MEMORY_PCT` of the limit in Prometheus."""
    kc = kube_context(target, d.namespace)

    def verify() -> Verdict:
        dep = kube_apps.get(kc.settings, "deployments", d.deployment, d.namespace)
        spec, status = dep.get("spec") or {}, dep.get("status") or {}
        want = int(spec.get("replicas") or 1)
        done = (int(status.get("observedGeneration") or 0) >= int(
            (dep.get("metadata") or {}).get("generation") or 0)
            and int(status.get("updatedReplicas") or 0) == want
            and int(status.get("availableReplicas") or 0) == want
            and int(status.get("replicas") or 0) == want)
        if not done:
            return Verdict(False, f"rollout in progress: {status.get('updatedReplicas', 0)}/"
                                  f"{want} updated, {status.get('availableReplicas', 0)} "
                                  "available")
        selector = ",".join(f"{k}={v}" for k, v in sorted(
            ((spec.get("selector") or {}).get("matchLabels") or {}).items()))
        pods = kube_pods.list_pods(kc.settings, d.namespace, label_selector=selector or None)
        now = datetime.now(UTC)
        restarted = [f"{p.name} ({p.last_termination})" for p in pods if p.restarts]
        if restarted:
            return Verdict(False, f"restarted since the change: {', '.join(restarted)}",
                           {"pods": restarted})
        young = [p.name for p in pods
                 if p.started is None or (now - p.started).total_seconds() < quiet_s]
        if young:
            return Verdict(False, f"{len(young)} pod(s) running for less than {quiet_s:g} s "
                                  "without a restart yet", {"pods": young})
        return _memory_verdict(target, d, {p.name for p in pods}, quiet_s)

    return verify


def _memory_verdict(target: Target, d: OomDiagnosis, pods: set[str], quiet_s: float) -> Verdict:
    try:
        prom = metrics.connect(target)
    except ConfigError:
        return Verdict(True, f"no pod restarted for {quiet_s:g} s (no Prometheus to read memory)")
    try:
        reading = metrics.read(prom, get_query("memory_limit_share"), window="30s", by=("pod",),
                               where={"service": d.container})
    finally:
        prom.close()
    shares = {labels.get("pod", ""): v for labels, v in reading.values
              if labels.get("pod") in pods}
    if len(shares) < len(pods):
        return Verdict(False, "Prometheus has no memory series yet for "
                              f"{', '.join(sorted(pods - set(shares)))}", reading.evidence())
    worst = max(shares.values())
    evidence = {**reading.evidence(), "memory_pct": {k: round(v, 1) for k, v in shares.items()}}
    if worst >= VERIFY_MEMORY_PCT:
        return Verdict(False, f"memory at {worst:.0f} % of the limit (needs < "
                              f"{VERIFY_MEMORY_PCT:g} %)", evidence)
    return Verdict(True, f"no OOM kill for {quiet_s:g} s on {len(pods)} pod(s); memory at most "
                         f"{worst:.0f} % of the limit (< {VERIFY_MEMORY_PCT:g} %)", evidence)


__all__ = ["QUIET_S", "VERIFY_MEMORY_PCT", "limit_plan", "memory_verify", "plan_oom_mitigation"]
