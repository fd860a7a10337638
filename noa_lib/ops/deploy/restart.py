"""``kubectl rollout restart`` through the API: a new ``restartedAt`` pod-template annotation makes
the Deployment roll every pod (new ReplicaSet, the rollout strategy's pace)."""

from __future__ import annotations

from noa_lib.clients import kube_apps
from noa_lib.ops.deploy.context import KubeContext

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def restart_body(at: str) -> dict[str, object]:
    """The strategic-merge patch ``kubectl rollout restart`` sends (``at``: an RFC 3339 time)."""
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}}


def restart_deployment(kc: KubeContext, name: str, at: str) -> int:
    """Restart Deployment ``name`` (patch its template's ``restartedAt`` to ``at``).

    Returns:
        The Deployment's ``metadata.generation`` after the patch (its rollout is done when
        ``status.observedGeneration`` reaches it and every replica is updated and available).
    Raises:
        NotFound / Conflict / Unavailable / Timeout / ClientError: the patch failed.
    """
    patched = kube_apps.patch(kc.settings, "deployments", name, restart_body(at), kc.namespace)
    return int((patched.get("metadata") or {}).get("generation") or 0)


__all__ = ["RESTARTED_AT", "restart_body", "restart_deployment"]
