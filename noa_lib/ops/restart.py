"""Rollout restart and scale-up of a Deployment, as plans (``kubectl rollout restart`` /
``kubectl scale``, or the HPA's ``minReplicas`` when an HPA manages the Deployment).

A restart stamps ``kubectl.kubernetes.io/restartedAt`` on the pod template, exactly what
``kubectl rollout restart`` does: the controller replaces every pod, and with them their database
connections. It cannot be undone (nor needs to be). A scale-up is revertible: its revert plan puts
the old replica count (or ``minReplicas``) back. Scaling beyond the HPA's ``maxReplicas`` is
refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from noa_lib.config import Target
from noa_lib.errors import ParameterError, UnsafeActionRefused
from noa_lib.ops.deploy.context import kube_context
from noa_lib.ops.deploy.restart import RESTARTED_AT, restart_body
from noa_lib.ops.deploy.workload import ref, replicas
from noa_lib.ops.names import validate_name
from noa_lib.ops.safety import Change, Plan

HPAS = "horizontalpodautoscalers"


def restart_plan(target: Target, deployment: str, namespace: str = "") -> Plan:
    """The plan restarting every pod of ``deployment`` (a rollout of a new pod template).

    Raises:
        ParameterError: not a valid Deployment name.  NotFound / ClientError: it cannot be read.
    """
    from noa_lib.clients import kube_apps

    validate_name(deployment, "deployment", "subdomain")
    ctx = kube_context(target, namespace)
    current = kube_apps.get(ctx.settings, "deployments", deployment, ctx.namespace)
    template = (current.get("spec") or {}).get("template") or {}
    before = ((template.get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = restart_body(now)

    def perform() -> Any:
        return kube_apps.patch(ctx.settings, "deployments", deployment, body, ctx.namespace)

    change = Change(ref("deployment", ctx.namespace, deployment),
                    f"spec.template.metadata.annotations[{RESTARTED_AT}]", before, now)
    return Plan(f"rollout restart of {deployment}", target, (change,), perform,
                rollback="none needed: the new pods run the same template; their connections "
                         "are fresh")


@dataclass(frozen=True)
class ScaleTarget:
    """What a scale-up changes: the Deployment's replicas, or its HPA's ``minReplicas``."""

    kind: str  # "deployment" or "hpa"
    name: str
    namespace: str
    current: int
    maximum: int | None  # the HPA's maxReplicas (None: no HPA)
    deployment: str = ""  # the Deployment it scales


def scale_target(target: Target, deployment: str, namespace: str = "") -> ScaleTarget:
    """Where ``deployment``'s replica count is set: its HPA when one targets it, else itself.

    Raises:
        ParameterError: not a valid Deployment name.  NotFound / ClientError: as the API says.
    """
    from noa_lib.clients import kube_apps

    validate_name(deployment, "deployment", "subdomain")
    ctx = kube_context(target, namespace)
    current = kube_apps.get(ctx.settings, "deployments", deployment, ctx.namespace)
    for hpa in kube_apps.list_objects(ctx.settings, HPAS, ctx.namespace):
        spec = hpa.get("spec") or {}
        scaled = spec.get("scaleTargetRef") or {}
        if scaled.get("kind") == "Deployment" and scaled.get("name") == deployment:
            return ScaleTarget("hpa", str(hpa["metadata"]["name"]), ctx.namespace,
                               int(spec.get("minReplicas") or 1), int(spec["maxReplicas"]),
                               deployment)
    return ScaleTarget("deployment", deployment, ctx.namespace, replicas(current), None,
                       deployment)


def scale_plan(target: Target, where: ScaleTarget, replicas_to: int) -> Plan:
    """The plan setting ``where`` from ``where.current`` to ``replicas_to`` (nothing to change
    when they are equal; a revert reads the live :func:`scale_target` again and plans back).

    Raises:
        ParameterError: ``replicas_to`` is not a whole number ≥ 1.
        UnsafeActionRefused: beyond the HPA's ``maxReplicas`` (nothing changed).
    """
    if isinstance(replicas_to, bool) or not isinstance(replicas_to, int) or replicas_to < 1:
        raise ParameterError(f"replicas must be a whole number >= 1, got {replicas_to!r}",
                             name="replicas", accepted="1 or more")
    if where.maximum is not None and replicas_to > where.maximum:
        raise UnsafeActionRefused(
            f"refused: {replicas_to} replicas is beyond the maximum of HPA {where.name} "
            f"({where.maximum}); raise maxReplicas deliberately first; nothing was changed")
    from noa_lib.clients import kube_apps

    ctx = kube_context(target, where.namespace)
    if where.kind == "hpa":
        field, resource = "spec.minReplicas", ref("hpa", where.namespace, where.name)

        def perform() -> Any:
            return kube_apps.patch(ctx.settings, HPAS, where.name,
                                   {"spec": {"minReplicas": replicas_to}}, where.namespace,
                                   patch_type="merge")
    else:
        field, resource = "spec.replicas", ref("deployment", where.namespace, where.name)

        def perform() -> Any:
            return kube_apps.scale(ctx.settings, where.name, replicas_to, where.namespace)

    changes = () if replicas_to == where.current else (
        Change(resource, field, where.current, replicas_to),)
    return Plan(f"scale {where.name} to {replicas_to}", target, changes, perform,
                rollback=f"scale back to {where.current} ({field})")


__all__ = ["ScaleTarget", "restart_plan", "scale_plan", "scale_target"]
