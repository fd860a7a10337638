"""Revision history of a Deployment (from its ReplicaSets) and undo, as ``kubectl rollout undo``.

Each ReplicaSet a Deployment owns carries ``deployment.kubernetes.io/revision``; its pod template
is that revision. Undo copies the chosen ReplicaSet's template (without its ``pod-template-hash``
label) back into the Deployment; the controller then reuses that ReplicaSet under a new revision
number. :func:`undo_plan` shows the pod-template fields that change, before -> after.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from noa_lib.clients import kube_apps
from noa_lib.config import Target
from noa_lib.errors import ParameterError, PreconditionFailed
from noa_lib.ops.deploy import params
from noa_lib.ops.deploy.context import KubeContext, kube_context
from noa_lib.ops.deploy.rollout import CHANGE_CAUSE, RolloutWatch
from noa_lib.ops.deploy.workload import (
    Obj,
    clean_template,
    field_changes,
    image_of,
    meta,
    ref,
    revision,
    template,
)
from noa_lib.ops.safety import Change, Plan


@dataclass(frozen=True)
class Revision:
    """One revision of a Deployment: its ReplicaSet, image and how many pods run it."""

    number: int
    replicaset: str
    image: str
    version: str
    created: str
    replicas: int
    ready: int
    current: bool
    change_cause: str
    template: Obj = field(repr=False, compare=False, default_factory=dict)


def owned_replicasets(kc: KubeContext, deployment: Obj) -> list[Obj]:
    """The ReplicaSets whose controller owner is ``deployment`` (by uid, else by name)."""
    uid, name = meta(deployment).get("uid"), meta(deployment).get("name")
    owned = []
    for rs in kube_apps.list_objects(kc.settings, "replicasets", kc.namespace):
        for owner in meta(rs).get("ownerReferences") or []:
            if owner.get("kind") != "Deployment":
                continue
            if (uid and owner.get("uid") == uid) or (not uid and owner.get("name") == name):
                owned.append(rs)
                break
    return owned


def history_from(deployment: Obj, replicasets: list[Obj]) -> tuple[Revision, ...]:
    """The revisions (oldest first) from a Deployment and its ReplicaSets (pure)."""
    current = revision(deployment)
    out = []
    for rs in replicasets:
        number = revision(rs)
        if number is None:
            continue
        image = ""
        try:
            image = image_of(rs)
        except ParameterError:
            pass
        status = rs.get("status") or {}
        out.append(Revision(
            number=number,
            replicaset=str(meta(rs).get("name")),
            image=image,
            version=params.tag_of(image),
            created=str(meta(rs).get("creationTimestamp") or ""),
            replicas=int(status.get("replicas") or 0),
            ready=int(status.get("readyReplicas") or 0),
            current=number == current,
            change_cause=str((meta(rs).get("annotations") or {}).get(CHANGE_CAUSE) or ""),
            template=clean_template(template(rs)),
        ))
    return tuple(sorted(out, key=lambda r: r.number))


def revision_history(target: Target, deployment: str, *, namespace: str = ""
                     ) -> tuple[Revision, ...]:
    """The revisions of ``deployment``, oldest first (the current one has ``current=True``).

    Raises:
        ParameterError: bad names (before any request).
        NotFound / ClientError: the Deployment cannot be read.
    """
    kc = kube_context(target, namespace)
    ns = kc.namespace
    params.workload(ns, deployment)
    dep = kube_apps.get(kc.settings, "deployments", deployment, ns)
    return history_from(dep, owned_replicasets(kc, dep))


def pick_revision(history: tuple[Revision, ...], to_revision: int = 0) -> Revision:
    """The revision to go back to: ``to_revision``, or (0) the one before the current.

    Raises:
        ParameterError: ``to_revision`` is not in the history (the message lists it).
        PreconditionFailed: there is no earlier revision to go back to.
    """
    numbers = ", ".join(str(r.number) for r in history) or "none"
    if to_revision:
        for r in history:
            if r.number == to_revision:
                return r
        raise ParameterError(f"to_revision={to_revision} is not in the history (revisions: "
                             f"{numbers})", name="to_revision", accepted=numbers)
    current = next((r for r in history if r.current), history[-1] if history else None)
    earlier = [r for r in history if current is None or r.number < current.number]
    if not earlier:
        raise PreconditionFailed(f"no earlier revision to roll back to (revisions: {numbers})")
    return earlier[-1]


def undo_plan(target: Target, deployment: str, *, to_revision: int = 0, namespace: str = ""
              ) -> Plan:
    """Plan copying revision ``to_revision``'s pod template (default: the previous revision)
    back into ``deployment``, exactly what ``kubectl rollout undo`` does.

    Raises:
        ParameterError / PreconditionFailed: see :func:`pick_revision`; bad names.
    """
    kc = kube_context(target, namespace)
    ns = kc.namespace
    params.workload(ns, deployment)
    params.whole(to_revision, "to_revision")
    dep = kube_apps.get(kc.settings, "deployments", deployment, ns)
    history = history_from(dep, owned_replicasets(kc, dep))
    chosen = pick_revision(history, to_revision)
    resource = ref("deployment", ns, deployment)
    before = clean_template(template(dep))
    after = chosen.template
    changes: list[Change] = field_changes(resource, before, after, "spec.template")
    cause = f"noa rollback: undo to revision {chosen.number} ({chosen.image})"
    body = [
        {"op": "replace", "path": "/spec/template", "value": after},
        {"op": "add", "path": f"/metadata/annotations/{CHANGE_CAUSE.replace('/', '~1')}",
         "value": cause},
    ]
    if (meta(dep).get("annotations") is None):
        body[1] = {"op": "add", "path": "/metadata/annotations", "value": {CHANGE_CAUSE: cause}}

    def perform() -> Obj:
        return kube_apps.patch(kc.settings, "deployments", deployment, body, ns, patch_type="json")

    current = revision(dep)
    return Plan(
        action=f"undo {resource} from revision {current} to revision {chosen.number} "
               f"({chosen.image})",
        target=target,
        changes=tuple(changes),
        perform=perform,
        rollback=f"undo again to revision {current} (rollback runbook with "
                 f"to_revision={current}: the controller renumbers it)",
    )


def undo_offer(target: Target, watch: RolloutWatch) -> Plan:
    """After a watched rollout: the undo plan to the previous revision when it failed or timed
    out, an empty plan (nothing to undo) otherwise."""
    if not watch.failed:
        return Plan(action=f"undo {watch.namespace}/{watch.deployment}: not needed "
                           f"(rollout {watch.outcome})", target=target, changes=(),
                    perform=lambda: None)
    return undo_plan(target, watch.deployment, namespace=watch.namespace)


__all__ = ["Revision", "history_from", "owned_replicasets", "pick_revision", "revision_history",
           "undo_offer", "undo_plan"]
