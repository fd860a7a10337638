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
   OOM kills of a container whose memory limit is too small for it — :func:`.worldinfra.undersized`
   — or of the pod an ``oom_pod`` effect names); events for what happened.
4. **Jobs**: one pod per Job; ``Complete`` after it succeeds (its release's migrations become
   applied when it is a migration Job) or ``Failed``/``BackoffLimitExceeded`` when its release is
   marked ``migration_fails`` or it carries ``noa.sandbox/fail: "true"``.
5. **HPAs**: ``currentReplicas``/``desiredReplicas`` follow the target (clamped), no autoscaling.
6. **World**: the pods that serve traffic go to the world file (:mod:`.worldsync`).

Steps 1, 2, 4 and 5 live in :mod:`.deployments` (status in :mod:`.deploystatus`),
:mod:`.replicasets` (pods made by :mod:`.pods`), :mod:`.jobs` and :mod:`.autoscalers`; this module
runs the loop, drives the kubelet, publishes the world and expires old events. Helpers they share
are in :mod:`.controlkit`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from noa_sandbox.kube import worldinfra
from noa_sandbox.kube.autoscalers import sync_hpa
from noa_sandbox.kube.controlkit import emit, owner_uid
from noa_sandbox.kube.deployments import sync_deployment
from noa_sandbox.kube.errors import ApiError
from noa_sandbox.kube.hooks import Obj
from noa_sandbox.kube.jobs import job_fails, sync_job
from noa_sandbox.kube.kubelet import Kubelet, parse_rfc3339, rfc3339
from noa_sandbox.kube.pods import mark_unschedulable, schedule
from noa_sandbox.kube.replicasets import sync_replicaset
from noa_sandbox.kube.resizer import sync_pvc
from noa_sandbox.kube.store import Store
from noa_sandbox.kube.worldsync import WorldSync, serving_pods
from noa_sandbox.simulator import catalog
from noa_sandbox.simulator.world import oom_kills

log = logging.getLogger("noa.kube.controller")

TICK_S = 0.2
MIN_PASS_S = 0.02
EVENT_TTL_S = 3600.0
"""Events older than this are deleted (the API server's default ``--event-ttl``)."""
_EVENT_SWEEP_S = 60.0


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
                self._guard(d, sync_deployment, self.store, d, now)
            pods = self.store.list("pods")[0]
            for rs in self.store.list("replicasets")[0]:
                self._guard(rs, sync_replicaset, self.store, self._rng, rs, pods, now)
            jobs = self.store.list("jobs")[0]
            for job in jobs:
                self._guard(job, sync_job, self.store, self.world, self._rng, job, pods, now)
            self._sync_pods(now, jobs)
            classes = {str(sc["metadata"]["name"]): sc
                       for sc in self.store.list("storageclasses")[0]}
            for pvc in self.store.list("persistentvolumeclaims")[0]:
                self._guard(pvc, sync_pvc, self.store, pvc, classes)
            for hpa in self.store.list("horizontalpodautoscalers")[0]:
                self._guard(hpa, sync_hpa, self.store, hpa, self.clock,
                            self.world.spec().epoch)
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

    def _guard(self, obj: Obj, fn: Callable[..., None], *args: Any) -> None:
        """``fn(*args)`` for ``obj``; an :class:`ApiError` is logged (debug) and swallowed."""
        try:
            fn(*args)
        except ApiError as exc:  # raced with a client (deleted, renamed): next pass fixes it
            log.debug("%s %s: %s", obj.get("kind"), obj["metadata"].get("name"), exc.message)

    # ------------------------------------------------------------------ pods, world

    def _sync_pods(self, now: float, jobs: list[Obj]) -> None:
        pods = self.store.list("pods")[0]
        self.kubelet.forget({str(p["metadata"]["uid"]) for p in pods})
        spec = self.world.spec()
        scenario = spec.effects
        oom_pod = catalog.resolve_pod(scenario.oom_pod, spec.pods)
        kills = oom_kills(max(0.0, now - spec.since))
        job_by_uid = {j["metadata"]["uid"]: j for j in jobs}
        for pod in pods:
            meta = pod["metadata"]
            if not (pod.get("spec") or {}).get("nodeName"):
                self._guard(pod, self._bind, pod, pods, now)
                continue
            job = job_by_uid.get(owner_uid(pod) or "")
            fails = None if job is None else job_fails(self.world, job)
            try:
                status, events = self.kubelet.sync(
                    pod, now=now, world=spec,
                    oom_kills=kills if meta["name"] == oom_pod or worldinfra.undersized(pod)
                    else None,
                    job_fails=fails,
                )
                if status is not None:
                    def write(obj: Obj, new: Obj = status) -> None:
                        obj["status"] = new
                    pod = self.store.mutate("pods", meta["namespace"], meta["name"], write,
                                            status_only=True)
                for ev in events:
                    emit(self.store, pod, ev.reason, ev.message, ev.type, component="kubelet")
            except ApiError as exc:
                log.debug("pod %s: %s", meta["name"], exc.message)

    def _bind(self, pod: Obj, pods: list[Obj], now: float) -> None:
        """Schedule a pod that found no node before: bind it, or keep it Unschedulable."""
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            return
        node = schedule(self.store, pod, pods)
        if node is None:
            mark_unschedulable(self.store, pod, rfc3339(now))
            return

        def bind(obj: Obj, name: str = node) -> None:
            obj["spec"]["nodeName"] = name

        bound = self.store.mutate("pods", meta["namespace"], meta["name"], bind)
        emit(self.store, bound, "Scheduled",
             f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}",
             component="default-scheduler")

    def _sync_world(self) -> None:
        pods = self.store.list("pods")[0]
        services = self.store.list("services")[0]
        serving = serving_pods(pods, services)
        infra = (worldinfra.containers(pods, {p.name for p in serving}),
                 worldinfra.nodes(self.store.list("nodes")[0]),
                 worldinfra.volumes(pods, self.store.list("persistentvolumeclaims")[0]))
        self.world.publish_pods(serving, infra)


__all__ = ["EVENT_TTL_S", "TICK_S", "Controller"]
