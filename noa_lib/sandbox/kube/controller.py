"""The sandbox cluster's controllers: Deployments, ReplicaSets, pods, Jobs, HPAs — one thread.

:class:`Controller` reconciles on every store change (:meth:`Store.subscribe`) and on a tick
(:data:`TICK_S`), writing through :meth:`Store.create`/:meth:`Store.mutate`/
:meth:`Store.delete` only. One pass (:meth:`Controller.run_once`):

1. **Deployments** (as ``pkg/controller/deployment``): find the new ReplicaSet (the one whose
   template equals the Deployment's, ignoring ``pod-template-hash``) or create
   ``<deploy>-<hash>`` (owner reference, ``revision`` = max + 1, ``desired-replicas``,
   ``max-replicas``, the Deployment's annotations such as ``kubernetes.io/change-cause``); a
   rollback to an old template reuses that ReplicaSet and gives it the next revision (the old
   number goes to ``revision-history``). Then one step of the strategy (:mod:`.rollout`:
   RollingUpdate with maxSurge/maxUnavailable, Recreate, or proportional scaling on a scaling
   event; nothing new while ``spec.paused``), ``ScalingReplicaSet`` events, cleanup beyond
   ``revisionHistoryLimit``, and the status with its ``Available``/``Progressing`` conditions
   (``ProgressDeadlineExceeded`` after ``progressDeadlineSeconds`` without progress).
2. **ReplicaSets**: create (``<rs>-<5 chars>``, spread over ``sandbox-node-1..3``) or delete
   pods (not-ready first, then the newest) to match ``spec.replicas``; status counts.
3. **Pods**: :class:`~.kubelet.Kubelet` moves them along (pull, start, Ready, crash loops,
   OOM kills during the ``oom`` scenario); events for what happened.
4. **Jobs**: one pod per Job; ``Complete`` after it succeeds (its release's migrations become
   applied when it is a migration Job) or ``Failed``/``BackoffLimitExceeded`` when its release is
   marked ``migration_fails`` or it carries ``noa.sandbox/fail: "true"``.
5. **HPAs**: ``currentReplicas``/``desiredReplicas`` follow the target (clamped), no autoscaling.
6. **World**: the pods that serve traffic go to the world file (:mod:`.worldsync`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from noa_lib.sandbox.kube import registry, rollout
from noa_lib.sandbox.kube.errors import ApiError
from noa_lib.sandbox.kube.hooks import Obj
from noa_lib.sandbox.kube.kubelet import NODES, Kubelet, parse_rfc3339, rfc3339
from noa_lib.sandbox.kube.rollout import HASH_LABEL, RSView, Strategy
from noa_lib.sandbox.kube.selectors import matches_label_selector
from noa_lib.sandbox.kube.store import Store
from noa_lib.sandbox.kube.worldsync import WorldSync, serving_pods
from noa_lib.sandbox.releases import migrations_of
from noa_lib.sandbox.simulator import catalog
from noa_lib.sandbox.simulator.scenarios import SCENARIOS
from noa_lib.sandbox.simulator.world import oom_kills

log = logging.getLogger("noa.kube.controller")

TICK_S = 0.2
MIN_PASS_S = 0.02
EVENT_TTL_S = 3600.0
"""Events older than this are deleted (the API server's default ``--event-ttl``)."""
_EVENT_SWEEP_S = 60.0
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
FAIL_ANNOTATION = "noa.sandbox/fail"
_NOT_COPIED = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED,
    MAX_REPLICAS,
}


def owner_uid(obj: Obj) -> str | None:
    """The uid of ``obj``'s controller (the ownerReference with ``controller: true``)."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def owner_ref(owner: Obj) -> Obj:
    return {
        "apiVersion": owner.get("apiVersion", "apps/v1"),
        "kind": owner.get("kind", "Deployment"),
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def revision_of(rs: Obj) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _order(rs: Obj) -> tuple[str, str]:
    return (str(rs["metadata"].get("creationTimestamp", "")), f"{revision_of(rs):09d}")


def pod_available(pod: Obj, min_ready_s: int, now: float) -> bool:
    """Ready for at least ``min_ready_s`` seconds (``IsPodAvailable``)."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "True":
            if min_ready_s <= 0:
                return True
            since = parse_rfc3339(cond.get("lastTransitionTime"))
            return since is not None and since + min_ready_s <= now
    return False


def pod_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _set_condition(conditions: list[Obj], cond: Obj) -> list[Obj]:
    """``SetDeploymentCondition``: same status and reason -> unchanged; same status keeps the
    transition time; the new condition goes last."""
    current = next((c for c in conditions if c.get("type") == cond["type"]), None)
    if current is not None and current.get("status") == cond["status"] and current.get(
        "reason"
    ) == cond.get("reason"):
        return conditions
    if current is not None and current.get("status") == cond["status"]:
        cond["lastTransitionTime"] = current.get("lastTransitionTime")
    return [c for c in conditions if c.get("type") != cond["type"]] + [cond]


def _condition(type_: str, status: str, reason: str, message: str, now: float) -> Obj:
    when = rfc3339(now)
    return {"type": type_, "status": status, "lastUpdateTime": when,
            "lastTransitionTime": when, "reason": reason, "message": message}


def _omit_zero(status: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in status.items() if v not in (0, None, [])}


class Controller:
    """Runs every controller of the sandbox cluster in one thread."""

    def __init__(
        self,
        store: Store,
        world: WorldSync,
        *,
        ready_delay: float = 1.0,
        tick: float = TICK_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.world = world
        self.kubelet = Kubelet(ready_delay)
        self.tick = tick
        self.clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pass_lock = threading.Lock()
        self._rng = random.Random()  # noqa: S311 - pod name suffixes
        self._swept = 0.0
        store.subscribe(self._on_change)

    # ------------------------------------------------------------------ loop

    def _on_change(self, type_: str, plural: str, obj: Obj) -> None:
        if plural != "events":
            self._wake.set()

    def start(self) -> None:
        """Start the controller thread (daemon)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="kube-controller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (after its current pass)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.tick)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - the controller must survive a bad pass
                log.exception("controller pass failed")
            self._stop.wait(MIN_PASS_S)

    def run_once(self) -> None:
        """One reconcile pass over everything (see the module docstring)."""
        with self._pass_lock:
            now = self.clock()
            for d in self.store.list("deployments")[0]:
                self._guard(self._sync_deployment, d, now)
            pods = self.store.list("pods")[0]
            for rs in self.store.list("replicasets")[0]:
                self._guard(self._sync_replicaset, rs, pods, now)
            jobs = self.store.list("jobs")[0]
            for job in jobs:
                self._guard(self._sync_job, job, pods, now)
            self._sync_pods(now, jobs)
            for hpa in self.store.list("horizontalpodautoscalers")[0]:
                self._guard(self._sync_hpa, hpa)
            self._sync_world()
            if now - self._swept > _EVENT_SWEEP_S:
                self._swept = now
                self._sweep_events(now)

    def _sweep_events(self, now: float) -> None:
        for event in self.store.list("events")[0]:
            last = parse_rfc3339(event.get("lastTimestamp") or event["metadata"].get(
                "creationTimestamp"))
            if last is not None and last + EVENT_TTL_S < now:
                meta = event["metadata"]
                try:
                    self.store.delete("events", meta["namespace"], meta["name"])
                except ApiError:
                    continue

    def _guard(self, fn: Callable[..., None], obj: Obj, *args: Any) -> None:
        try:
            fn(obj, *args)
        except ApiError as exc:  # raced with a client (deleted, renamed): next pass fixes it
            log.debug("%s %s: %s", obj.get("kind"), obj["metadata"].get("name"), exc.message)

    def _event(self, obj: Obj, reason: str, message: str, type_: str = "Normal",
               component: str = "deployment-controller") -> None:
        try:
            self.store.record_event(obj, reason, message, type_, component=component)
        except ApiError as exc:
            log.debug("event %s: %s", reason, exc.message)

    # ------------------------------------------------------------------ deployments

    def _owned_replicasets(self, d: Obj) -> list[Obj]:
        meta = d["metadata"]
        items = self.store.list("replicasets", meta["namespace"])[0]
        owned = [rs for rs in items if owner_uid(rs) == meta["uid"]]
        selector = d["spec"].get("selector")
        for rs in items:  # adopt orphans the selector matches (as the real controller does)
            if owner_uid(rs) is None and not rs["metadata"].get("deletionTimestamp") and (
                matches_label_selector(rs["metadata"].get("labels"), selector)
            ):
                def adopt(obj: Obj) -> None:
                    obj["metadata"].setdefault("ownerReferences", []).append(owner_ref(d))
                owned.append(self.store.mutate("replicasets", meta["namespace"],
                                               rs["metadata"]["name"], adopt))
        return owned

    def _views(self, rss: list[Obj], now: float) -> dict[str, RSView]:
        """Per ReplicaSet name: spec size, live, Ready and available pods."""
        pods = self.store.list("pods", rss[0]["metadata"]["namespace"])[0] if rss else []
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

    def _sync_deployment(self, d: Obj, now: float) -> None:
        meta = d["metadata"]
        if meta.get("deletionTimestamp"):
            return
        spec = d["spec"]
        replicas = int(spec.get("replicas", 1))
        strategy = rollout.strategy_of(spec)
        paused = bool(spec.get("paused"))
        template = spec.get("template") or {}
        owned = self._owned_replicasets(d)
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
                conditions = _set_condition(conditions, _condition(
                    "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now))
            elif not paused and (progressing or {}).get("reason") == "DeploymentPaused":
                conditions = _set_condition(conditions, _condition(
                    "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now))
        views = self._views(live, now)
        old_views = [views[rs["metadata"]["name"]] for rs in olds]
        if new is None and not paused:
            if strategy.kind == "Recreate" and rollout.old_pods_running(old_views):
                pass  # Recreate: the new ReplicaSet comes once every old pod is gone
            else:
                new = self._create_replicaset(d, olds, old_views, strategy, replicas)
                conditions = _set_condition(conditions, _condition(
                    "Progressing", "True", "NewReplicaSetCreated",
                    f'Created new replica set "{new["metadata"]["name"]}"', now))
                views = self._views(live + [new], now)
        elif new is not None:
            new = self._sync_revision(d, new, olds)
            if deadline is not None and not any(
                c.get("type") == "Progressing" for c in conditions
            ):
                conditions = _set_condition(conditions, _condition(
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
            self._scale_replicaset(d, by_name[rs_name], size, replicas, strategy)
        if changes:
            views = self._views(list(by_name.values()), now)
            new_view = views[new["metadata"]["name"]] if new is not None else None
        self._update_status(d, new, olds, views, conditions, strategy, replicas, paused, now)
        if not changes and not paused and new is not None:
            self._cleanup(d, olds, views)

    def _create_replicaset(self, d: Obj, olds: list[Obj], old_views: list[RSView],
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
                created = self.store.create("replicasets", meta["namespace"], body)
            except ApiError as exc:
                if exc.status != 409 or collisions > 10:
                    raise
                collisions += 1

                def count(obj: Obj, n: int = collisions) -> None:
                    obj.setdefault("status", {})["collisionCount"] = n
                self.store.mutate("deployments", meta["namespace"], meta["name"], count,
                                  status_only=True)
                continue
            self._set_deployment_revision(d, annotations[REVISION])
            if size:
                self._event(d, "ScalingReplicaSet",
                            f"Scaled up replica set {created['metadata']['name']} to {size} "
                            "from 0")
            return created

    def _set_deployment_revision(self, d: Obj, revision: str) -> None:
        meta = d["metadata"]

        def setrev(obj: Obj) -> None:
            obj["metadata"].setdefault("annotations", {})[REVISION] = revision
        self.store.mutate("deployments", meta["namespace"], meta["name"], setrev)

    def _sync_revision(self, d: Obj, new: Obj, olds: list[Obj]) -> Obj:
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
        new = self.store.mutate("replicasets", meta["namespace"], meta["name"], update)
        revision = str(revision_of(new))
        if (d["metadata"].get("annotations") or {}).get(REVISION) != revision:
            self._set_deployment_revision(d, revision)
        return new

    def _scale_replicaset(self, d: Obj, rs: Obj, size: int, replicas: int,
                          strategy: Strategy) -> None:
        before = int(rs["spec"].get("replicas") or 0)
        surge = strategy.surge if strategy.kind == "RollingUpdate" else 0

        def scale(obj: Obj) -> None:
            obj["spec"]["replicas"] = size
            ann = obj["metadata"].setdefault("annotations", {})
            ann[DESIRED] = str(replicas)
            ann[MAX_REPLICAS] = str(replicas + surge)
        meta = rs["metadata"]
        self.store.mutate("replicasets", meta["namespace"], meta["name"], scale)
        if size != before:
            direction = "up" if size > before else "down"
            self._event(d, "ScalingReplicaSet",
                        f"Scaled {direction} replica set {meta['name']} to {size} from {before}")

    def _update_status(self, d: Obj, new: Obj | None, olds: list[Obj],
                       views: dict[str, RSView], conditions: list[Obj], strategy: Strategy,
                       replicas: int, paused: bool, now: float) -> None:
        all_rs = ([new] if new is not None else []) + olds
        names = [rs["metadata"]["name"] for rs in all_rs]
        total_pods = sum(views[n].pods for n in names if n in views)
        updated = views[new["metadata"]["name"]].pods if new is not None else 0
        ready = sum(views[n].ready for n in names if n in views)
        available = sum(views[n].available for n in names if n in views)
        spec_total = sum(views[n].replicas for n in names if n in views)
        old_status = d.get("status") or {}
        counts = {
            "replicas": total_pods,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": max(spec_total - available, 0),
        }
        minimum = rollout.min_available(replicas, strategy)
        if available >= minimum:
            conditions = _set_condition(conditions, _condition(
                "Available", "True", "MinimumReplicasAvailable",
                "Deployment has minimum availability.", now))
        else:
            conditions = _set_condition(conditions, _condition(
                "Available", "False", "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.", now))
        deadline = d["spec"].get("progressDeadlineSeconds")
        current = next((c for c in conditions if c.get("type") == "Progressing"), None)
        complete_already = (total_pods == updated and current is not None
                            and current.get("reason") == "NewReplicaSetAvailable")
        if deadline is not None and not paused and not complete_already:
            rs_name = new["metadata"]["name"] if new is not None else d["metadata"]["name"]
            if rollout.deployment_complete(replicas, updated, total_pods, available):
                conditions = _set_condition(conditions, _condition(
                    "Progressing", "True", "NewReplicaSetAvailable",
                    f'ReplicaSet "{rs_name}" has successfully progressed.', now))
            elif self._progressed(old_status, counts):
                cond = _condition("Progressing", "True", "ReplicaSetUpdated",
                                  f'ReplicaSet "{rs_name}" is progressing.', now)
                if current is not None and current.get("status") == "True":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime")
                conditions = [c for c in conditions if c.get("type") != "Progressing"] + [cond]
            elif current is not None and current.get("reason") != "NewReplicaSetAvailable":
                since = parse_rfc3339(current.get("lastUpdateTime"))
                if current.get("reason") != "ProgressDeadlineExceeded" and since is not None \
                        and since + int(deadline) < now:
                    conditions = _set_condition(conditions, _condition(
                        "Progressing", "False", "ProgressDeadlineExceeded",
                        f'ReplicaSet "{rs_name}" has timed out progressing.', now))
        status = _omit_zero({
            "observedGeneration": d["metadata"].get("generation", 1),
            **counts,
            "conditions": conditions,
            "collisionCount": old_status.get("collisionCount"),
        })
        if status != old_status:
            meta = d["metadata"]

            def write(obj: Obj) -> None:
                obj["status"] = status
            self.store.mutate("deployments", meta["namespace"], meta["name"], write,
                              status_only=True)

    @staticmethod
    def _progressed(old: Obj, new: dict[str, int]) -> bool:
        """``DeploymentProgressing``: more updated/ready/available pods, or fewer old ones."""
        old_old = int(old.get("replicas") or 0) - int(old.get("updatedReplicas") or 0)
        new_old = new["replicas"] - new["updatedReplicas"]
        return (
            new["updatedReplicas"] > int(old.get("updatedReplicas") or 0)
            or new_old < old_old
            or new["readyReplicas"] > int(old.get("readyReplicas") or 0)
            or new["availableReplicas"] > int(old.get("availableReplicas") or 0)
        )

    def _cleanup(self, d: Obj, olds: list[Obj], views: dict[str, RSView]) -> None:
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
            self.store.delete("replicasets", meta["namespace"], meta["name"])

    # ------------------------------------------------------------------ replicasets

    def _sync_replicaset(self, rs: Obj, all_pods: list[Obj], now: float) -> None:
        meta = rs["metadata"]
        if meta.get("deletionTimestamp"):
            return
        ns = meta["namespace"]
        pods = [p for p in all_pods if p["metadata"].get("namespace") == ns
                and owner_uid(p) == meta["uid"] and not p["metadata"].get("deletionTimestamp")
                and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        wanted = int(rs["spec"].get("replicas") or 0)
        if len(pods) < wanted:
            for _ in range(wanted - len(pods)):
                pod = self._create_pod(rs, all_pods)
                pods.append(pod)
                all_pods.append(pod)
                self._event(rs, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}",
                            component="replicaset-controller")
        elif len(pods) > wanted:
            for pod in self._deletion_order(pods)[: len(pods) - wanted]:
                try:
                    self.store.delete("pods", ns, pod["metadata"]["name"])
                except ApiError:
                    continue
                pods.remove(pod)
                self._event(rs, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}",
                            component="replicaset-controller")
        min_ready = int(rs["spec"].get("minReadySeconds") or 0)
        template_labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get(
            "labels") or {}
        status = _omit_zero({
            "replicas": len(pods),
            "fullyLabeledReplicas": sum(
                1 for p in pods
                if all((p["metadata"].get("labels") or {}).get(k) == v
                       for k, v in template_labels.items())),
            "readyReplicas": sum(1 for p in pods if pod_ready(p)),
            "availableReplicas": sum(1 for p in pods if pod_available(p, min_ready, now)),
            "observedGeneration": meta.get("generation", 1),
        })
        status["replicas"] = len(pods)  # replicas is not omitempty
        if status != (rs.get("status") or {}):
            def write(obj: Obj) -> None:
                obj["status"] = status
            self.store.mutate("replicasets", ns, meta["name"], write, status_only=True)

    @staticmethod
    def _deletion_order(pods: list[Obj]) -> list[Obj]:
        """Pods to delete first: unscheduled/pending, then not ready, then the newest."""
        def rank(p: Obj) -> tuple[int, int, str, str]:
            phase = (p.get("status") or {}).get("phase")
            return (
                0 if phase == "Pending" else 1,
                0 if not pod_ready(p) else 1,
                # newest first: invert the creation time ordering
                "".join(chr(0x10FFFF - ord(ch)) for ch in str(
                    p["metadata"].get("creationTimestamp", ""))),
                p["metadata"]["name"],
            )
        return sorted(pods, key=rank)

    def _pick_node(self, all_pods: list[Obj]) -> str:
        load = {n: 0 for n in NODES}
        for p in all_pods:
            node = (p.get("spec") or {}).get("nodeName")
            if node in load and (p.get("status") or {}).get("phase") not in (
                "Succeeded", "Failed"
            ):
                load[node] += 1
        return min(NODES, key=lambda n: (load[n], n))

    def _create_pod(self, owner: Obj, all_pods: list[Obj], *,
                    extra_labels: dict[str, str] | None = None) -> Obj:
        meta = owner["metadata"]
        template = owner["spec"].get("template") or {}
        tmeta = template.get("metadata") or {}
        spec = dict(template.get("spec") or {})
        spec["nodeName"] = self._pick_node(all_pods)
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        spec.setdefault("tolerations", [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300},
        ])
        labels = {**(tmeta.get("labels") or {}), **(extra_labels or {})}
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "generateName": f"{meta['name']}-",
                "namespace": meta["namespace"],
                "labels": labels,
                "ownerReferences": [owner_ref(owner)],
            },
            "spec": spec,
        }
        if tmeta.get("annotations"):
            body["metadata"]["annotations"] = dict(tmeta["annotations"])
        for _ in range(5):
            suffix = "".join(self._rng.choices(rollout.ALPHABET, k=5))
            body["metadata"]["name"] = f"{meta['name']}-{suffix}"
            try:
                return self.store.create("pods", meta["namespace"], body)
            except ApiError as exc:
                if exc.status != 409:
                    raise
        raise ApiError(409, "AlreadyExists", f"no free pod name for {meta['name']}")

    # ------------------------------------------------------------------ pods

    def _sync_pods(self, now: float, jobs: list[Obj]) -> None:
        pods = self.store.list("pods")[0]
        self.kubelet.forget({str(p["metadata"]["uid"]) for p in pods})
        spec = self.world.spec()
        scenario = SCENARIOS[spec.scenario].effects
        oom_pod = catalog.resolve_pod(scenario.oom_pod, spec.pods)
        kills = oom_kills(max(0.0, now - spec.since))
        job_by_uid = {j["metadata"]["uid"]: j for j in jobs}
        for pod in pods:
            meta = pod["metadata"]
            job = job_by_uid.get(owner_uid(pod) or "")
            job_fails = None if job is None else self._job_fails(job)
            try:
                status, events = self.kubelet.sync(
                    pod, now=now, world=spec,
                    oom_kills=kills if meta["name"] == oom_pod else None,
                    job_fails=job_fails,
                )
                if status is not None:
                    def write(obj: Obj, new: Obj = status) -> None:
                        obj["status"] = new
                    pod = self.store.mutate("pods", meta["namespace"], meta["name"], write,
                                            status_only=True)
                for ev in events:
                    self._event(pod, ev.reason, ev.message, ev.type, component="kubelet")
            except ApiError as exc:
                log.debug("pod %s: %s", meta["name"], exc.message)

    # ------------------------------------------------------------------ jobs

    def _job_fails(self, job: Obj) -> bool:
        if (job["metadata"].get("annotations") or {}).get(FAIL_ANNOTATION) == "true":
            return True
        spec = self.world.spec()
        for c in (((job.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
            "containers"
        ) or []:
            ref = registry.parse_image(str(c.get("image", "")))
            if ref.ours and spec.info(ref.tag).migration_fails:
                return True
        return False

    @staticmethod
    def _migration_version(job: Obj) -> str | None:
        """The NOA Server release whose migrations a Job runs (``None``: not a migration)."""
        containers = (((job.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
            "containers") or []
        for c in containers:
            ref = registry.parse_image(str(c.get("image", "")))
            words = " ".join([job["metadata"]["name"], *map(str, c.get("command") or []),
                              *map(str, c.get("args") or [])])
            if ref.ours and "migrat" in words.lower():
                return ref.tag
        return None

    def _sync_job(self, job: Obj, all_pods: list[Obj], now: float) -> None:
        meta = job["metadata"]
        ns = meta["namespace"]
        spec = job.get("spec") or {}
        status = dict(job.get("status") or {})
        conditions = list(status.get("conditions") or [])
        if any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in conditions) or spec.get("suspend"):
            return
        pods = [p for p in all_pods if p["metadata"].get("namespace") == ns
                and owner_uid(p) == meta["uid"]]
        if not pods:
            labels = {"batch.kubernetes.io/controller-uid": meta["uid"],
                      "batch.kubernetes.io/job-name": meta["name"],
                      "controller-uid": meta["uid"], "job-name": meta["name"]}
            pod = self._create_pod(job, all_pods, extra_labels=labels)
            all_pods.append(pod)
            pods = [pod]
            self._event(job, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}",
                        component="job-controller")
        phases = [(p.get("status") or {}).get("phase", "Pending") for p in pods]
        new = dict(status)
        new["startTime"] = status.get("startTime") or rfc3339(now)
        new["active"] = sum(1 for ph in phases if ph in ("Pending", "Running"))
        new["ready"] = sum(1 for p in pods if pod_ready(p))
        new["succeeded"] = phases.count("Succeeded")
        new["failed"] = phases.count("Failed")
        new["uncountedTerminatedPods"] = {}
        when = rfc3339(now)
        if new["succeeded"]:
            new["completionTime"] = when
            new["conditions"] = [*conditions, {
                "type": "Complete", "status": "True", "lastProbeTime": when,
                "lastTransitionTime": when}]
            version = self._migration_version(job)
            if version is not None:
                self.world.apply_migrations(migrations_of(self.world.spec(), version))
            self._event(job, "Completed", "Job completed", component="job-controller")
        elif new["failed"]:
            new["conditions"] = [*conditions, {
                "type": "Failed", "status": "True", "lastProbeTime": when,
                "lastTransitionTime": when, "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit"}]
            self._event(job, "BackoffLimitExceeded", "Job has reached the specified backoff "
                        "limit", "Warning", component="job-controller")
        new = _omit_zero(new)
        new["uncountedTerminatedPods"] = {}
        if new != status:
            def write(obj: Obj) -> None:
                obj["status"] = new
            self.store.mutate("jobs", ns, meta["name"], write, status_only=True)

    # ------------------------------------------------------------------ HPAs, world

    def _sync_hpa(self, hpa: Obj) -> None:
        meta = hpa["metadata"]
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        if ref.get("kind") != "Deployment":
            return
        target = self.store.try_get("deployments", meta["namespace"], str(ref.get("name")))
        if target is None:
            return
        replicas = int(target["spec"].get("replicas", 1))
        low = int(spec.get("minReplicas") or 1)
        high = int(spec.get("maxReplicas") or replicas)
        desired = min(max(replicas, low), high)
        old = hpa.get("status") or {}
        old_conditions = {c.get("type"): c for c in old.get("conditions") or []}
        now = rfc3339(self.clock())

        def cond(type_: str, status: str, reason: str, message: str) -> Obj:
            prev = old_conditions.get(type_)
            when = prev.get("lastTransitionTime") if prev and prev.get(
                "status") == status else now
            return {"type": type_, "status": status, "lastTransitionTime": when,
                    "reason": reason, "message": message}

        limited = replicas != desired
        status: Obj = {
            "currentReplicas": replicas,
            "desiredReplicas": desired,
            "conditions": [
                cond("AbleToScale", "True", "ReadyForNewScale",
                     "recommended size matches current size"),
                cond("ScalingActive", "True", "ValidMetricFound",
                     "the HPA was able to successfully calculate a replica count from cpu "
                     "resource utilization (percentage of request)"),
                cond("ScalingLimited", "True" if limited else "False",
                     "TooFewReplicas" if replicas < low else (
                         "TooManyReplicas" if limited else "DesiredWithinRange"),
                     "the desired replica count is outside the acceptable range" if limited
                     else "the desired count is within the acceptable range"),
            ],
        }
        if old.get("lastScaleTime"):
            status["lastScaleTime"] = old["lastScaleTime"]
        if status != old:
            def write(obj: Obj) -> None:
                obj["status"] = status
            self.store.mutate("horizontalpodautoscalers", meta["namespace"], meta["name"], write,
                              status_only=True)

    def _sync_world(self) -> None:
        pods = self.store.list("pods")[0]
        services = self.store.list("services")[0]
        self.world.publish_pods(serving_pods(pods, services))


__all__ = ["Controller", "TICK_S", "owner_uid", "pod_available", "revision_of"]
