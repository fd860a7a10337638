"""The Deployment controller (as ``pkg/controller/deployment``): Deployment -> ReplicaSets.

:func:`sync_deployment` does one sync of one Deployment: adopt orphan ReplicaSets its selector
matches; find the new ReplicaSet (the one whose template equals the Deployment's, ignoring
``pod-template-hash``) or create ``<deploy>-<hash>`` (owner reference, ``revision`` = max + 1,
``desired-replicas``, ``max-replicas``, the Deployment's annotations such as
``kubernetes.io/change-cause``); a rollback to an old template reuses that ReplicaSet and gives it
the next revision (the old number goes to ``revision-history``). Then one step of the strategy
(:mod:`.rollout`: RollingUpdate with maxSurge/maxUnavailable, Recreate, or proportional scaling
on a scaling event; nothing new while ``spec.paused``), ``ScalingReplicaSet`` events, the status
(:mod:`.deploystatus`) and cleanup beyond ``revisionHistoryLimit``.
"""

from __future__ import annotations

from noa_sandbox.kube import rollout
from noa_sandbox.kube.controlkit import (
    emit,
    owner_ref,
    owner_uid,
    pod_available,
    pod_ready,
)
from noa_sandbox.kube.deploystatus import condition, set_condition, update_status
from noa_sandbox.kube.errors import ApiError
from noa_sandbox.kube.hooks import Obj
from noa_sandbox.kube.rollout import HASH_LABEL, RSView, Strategy
from noa_sandbox.kube.selectors import matches_label_selector
from noa_sandbox.kube.store import Store

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
_NOT_COPIED = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED,
    MAX_REPLICAS,
}
COMPONENT = "deployment-controller"


def revision_of(rs: Obj) -> int:
    """The ``deployment.kubernetes.io/revision`` of a ReplicaSet (0: none or not a number)."""
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _order(rs: Obj) -> tuple[str, str]:
    return (str(rs["metadata"].get("creationTimestamp", "")), f"{revision_of(rs):09d}")


def _event(store: Store, d: Obj, reason: str, message: str) -> None:
    emit(store, d, reason, message, component=COMPONENT)


def sync_deployment(store: Store, d: Obj, now: float) -> None:
    """One sync of Deployment ``d`` (see the module docstring); nothing once it is deleting."""
    meta = d["metadata"]
    if meta.get("deletionTimestamp"):
        return
    spec = d["spec"]
    replicas = int(spec.get("replicas", 1))
    strategy = rollout.strategy_of(spec)
    paused = bool(spec.get("paused"))
    template = spec.get("template") or {}
    owned = _owned_replicasets(store, d)
    live = [rs for rs in owned if not rs["metadata"].get("deletionTimestamp")]
    matching = sorted((rs for rs in live if rollout.templates_equal(
        rs["spec"].get("template") or {}, template)), key=_order)
    new = matching[0] if matching else None
    olds = [rs for rs in live if new is None or rs["metadata"]["uid"] != new[
        "metadata"]["uid"]]
    conditions = list((d.get("status") or {}).get("conditions") or [])
    deadline = spec.get("progressDeadlineSeconds")
    # paused / resumed (checkPausedConditions)
    progressing = next((c for c in conditions if c.get("type") == "Progressing"), None)
    if deadline is not None:
        if paused and (progressing or {}).get("reason") != "DeploymentPaused":
            conditions = set_condition(conditions, condition(
                "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now))
        elif not paused and (progressing or {}).get("reason") == "DeploymentPaused":
            conditions = set_condition(conditions, condition(
                "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now))
    views = _views(store, live, now)
    old_views = [views[rs["metadata"]["name"]] for rs in olds]
    if new is None and not paused:
        if strategy.kind == "Recreate" and rollout.old_pods_running(old_views):
            pass  # Recreate: the new ReplicaSet comes once every old pod is gone
        else:
            new = _create_replicaset(store, d, olds, old_views, strategy, replicas)
            conditions = set_condition(conditions, condition(
                "Progressing", "True", "NewReplicaSetCreated",
                f'Created new replica set "{new["metadata"]["name"]}"', now))
            views = _views(store, live + [new], now)
    elif new is not None:
        new = _sync_revision(store, d, new, olds)
        if deadline is not None and not any(
            c.get("type") == "Progressing" for c in conditions
        ):
            conditions = set_condition(conditions, condition(
                "Progressing", "True", "FoundNewReplicaSet",
                f'Found new replica set "{new["metadata"]["name"]}"', now))
    new_view = views[new["metadata"]["name"]] if new is not None else None
    scaling_event = any(
        (rs["metadata"].get("annotations") or {}).get(DESIRED) not in (None, str(replicas))
        for rs in ([new] if new is not None else []) + olds
        if int(rs["spec"].get("replicas") or 0) > 0
    )
    if paused or scaling_event:
        changes = rollout.scale_step(replicas, strategy, new_view, old_views)
    elif strategy.kind == "Recreate":
        changes = rollout.recreate_step(replicas, new_view, old_views)
    else:
        assert new_view is not None
        changes = rollout.rolling_step(replicas, strategy, new_view, old_views)
    by_name = {rs["metadata"]["name"]: rs for rs in live + ([new] if new else [])}
    for rs_name, size in changes.items():
        _scale_replicaset(store, d, by_name[rs_name], size, replicas, strategy)
    if changes:
        views = _views(store, list(by_name.values()), now)
        new_view = views[new["metadata"]["name"]] if new is not None else None
    update_status(store, d, new, olds, views, conditions, strategy, replicas, paused, now)
    if not changes and not paused and new is not None:
        _cleanup(store, d, olds, views)


def _owned_replicasets(store: Store, d: Obj) -> list[Obj]:
    meta = d["metadata"]
    items = store.list("replicasets", meta["namespace"])[0]
    owned = [rs for rs in items if owner_uid(rs) == meta["uid"]]
    selector = d["spec"].get("selector")
    for rs in items:  # adopt orphans the selector matches (as the real controller does)
        if owner_uid(rs) is None and not rs["metadata"].get("deletionTimestamp") and (
            matches_label_selector(rs["metadata"].get("labels"), selector)
        ):
            def adopt(obj: Obj) -> None:
                obj["metadata"].setdefault("ownerReferences", []).append(owner_ref(d))
            owned.append(store.mutate("replicasets", meta["namespace"],
                                      rs["metadata"]["name"], adopt))
    return owned


def _views(store: Store, rss: list[Obj], now: float) -> dict[str, RSView]:
    """Per ReplicaSet name: spec size, live, Ready and available pods."""
    pods = store.list("pods", rss[0]["metadata"]["namespace"])[0] if rss else []
    views = {}
    for rs in rss:
        uid = rs["metadata"]["uid"]
        mine = [p for p in pods if owner_uid(p) == uid
                and not p["metadata"].get("deletionTimestamp")
                and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        min_ready = int(rs["spec"].get("minReadySeconds") or 0)
        views[rs["metadata"]["name"]] = RSView(
            name=rs["metadata"]["name"],
            replicas=int(rs["spec"].get("replicas") or 0),
            pods=len(mine),
            available=sum(1 for p in mine if pod_available(p, min_ready, now)),
            order=_order(rs),
            ready=sum(1 for p in mine if pod_ready(p)),
        )
    return views


def _create_replicaset(store: Store, d: Obj, olds: list[Obj], old_views: list[RSView],
                       strategy: Strategy, replicas: int) -> Obj:
    meta = d["metadata"]
    template = dict(d["spec"]["template"])
    collisions = int((d.get("status") or {}).get("collisionCount") or 0)
    while True:
        pod_hash = rollout.template_hash(template, collisions)
        rollout_template = {**template, "metadata": {
            **(template.get("metadata") or {}),
            "labels": {**((template.get("metadata") or {}).get("labels") or {}),
                       HASH_LABEL: pod_hash}}}
        selector = dict(d["spec"]["selector"])
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}),
                                   HASH_LABEL: pod_hash}
        size = rollout.new_rs_replicas(
            replicas, strategy, RSView("", 0), [*old_views, RSView("", 0)])
        annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                       if k not in _NOT_COPIED}
        annotations.update({
            REVISION: str(rollout.next_revision([revision_of(rs) for rs in olds])),
            DESIRED: str(replicas),
            MAX_REPLICAS: str(replicas + (strategy.surge if strategy.kind ==
                                          "RollingUpdate" else 0)),
        })
        body = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta['name']}-{pod_hash}",
                "namespace": meta["namespace"],
                "labels": dict(rollout_template["metadata"]["labels"]),
                "annotations": annotations,
                "ownerReferences": [owner_ref(d)],
            },
            "spec": {
                "replicas": size,
                "minReadySeconds": int(d["spec"].get("minReadySeconds") or 0),
                "selector": selector,
                "template": rollout_template,
            },
        }
        try:
            created = store.create("replicasets", meta["namespace"], body)
        except ApiError as exc:
            if exc.status != 409 or collisions > 10:
                raise
            collisions += 1

            def count(obj: Obj, n: int = collisions) -> None:
                obj.setdefault("status", {})["collisionCount"] = n
            store.mutate("deployments", meta["namespace"], meta["name"], count,
                         status_only=True)
            continue
        _set_deployment_revision(store, d, annotations[REVISION])
        if size:
            _event(store, d, "ScalingReplicaSet",
                   f"Scaled up replica set {created['metadata']['name']} to {size} from 0")
        return created


def _set_deployment_revision(store: Store, d: Obj, revision: str) -> None:
    meta = d["metadata"]

    def setrev(obj: Obj) -> None:
        obj["metadata"].setdefault("annotations", {})[REVISION] = revision
    store.mutate("deployments", meta["namespace"], meta["name"], setrev)


def _sync_revision(store: Store, d: Obj, new: Obj, olds: list[Obj]) -> Obj:
    """The new ReplicaSet gets the highest revision (a rollback reuses an old one)."""
    wanted = rollout.next_revision([revision_of(rs) for rs in olds])
    current = revision_of(new)
    annotations = {k: v for k, v in (d["metadata"].get("annotations") or {}).items()
                   if k not in _NOT_COPIED}

    def update(obj: Obj) -> None:
        ann = obj["metadata"].setdefault("annotations", {})
        ann.update(annotations)
        if current < wanted:
            if current:
                history = [h for h in (ann.get(REVISION_HISTORY) or "").split(",") if h]
                ann[REVISION_HISTORY] = ",".join([*history, str(current)])
            ann[REVISION] = str(wanted)
    meta = new["metadata"]
    new = store.mutate("replicasets", meta["namespace"], meta["name"], update)
    revision = str(revision_of(new))
    if (d["metadata"].get("annotations") or {}).get(REVISION) != revision:
        _set_deployment_revision(store, d, revision)
    return new


def _scale_replicaset(store: Store, d: Obj, rs: Obj, size: int, replicas: int,
                      strategy: Strategy) -> None:
    before = int(rs["spec"].get("replicas") or 0)
    surge = strategy.surge if strategy.kind == "RollingUpdate" else 0

    def scale(obj: Obj) -> None:
        obj["spec"]["replicas"] = size
        ann = obj["metadata"].setdefault("annotations", {})
        ann[DESIRED] = str(replicas)
        ann[MAX_REPLICAS] = str(replicas + surge)
    meta = rs["metadata"]
    store.mutate("replicasets", meta["namespace"], meta["name"], scale)
    if size != before:
        direction = "up" if size > before else "down"
        _event(store, d, "ScalingReplicaSet",
               f"Scaled {direction} replica set {meta['name']} to {size} from {before}")


def _cleanup(store: Store, d: Obj, olds: list[Obj], views: dict[str, RSView]) -> None:
    """Delete old, empty ReplicaSets beyond ``revisionHistoryLimit`` (oldest revision first)."""
    status = d.get("status") or {}
    replicas = int(d["spec"].get("replicas", 1))
    if not rollout.deployment_complete(
        replicas, int(status.get("updatedReplicas") or 0), int(status.get("replicas") or 0),
        int(status.get("availableReplicas") or 0)
    ):
        return
    limit = int(d["spec"].get("revisionHistoryLimit", 10))
    empty = sorted((rs for rs in olds
                    if int(rs["spec"].get("replicas") or 0) == 0
                    and views[rs["metadata"]["name"]].pods == 0),
                   key=lambda rs: (revision_of(rs), _order(rs)))
    for rs in empty[: max(len(empty) - limit, 0)]:
        meta = rs["metadata"]
        store.delete("replicasets", meta["namespace"], meta["name"])


__all__ = [
    "COMPONENT",
    "DESIRED",
    "MAX_REPLICAS",
    "REVISION",
    "REVISION_HISTORY",
    "revision_of",
    "sync_deployment",
]
