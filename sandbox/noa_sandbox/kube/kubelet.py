"""What the sandbox's three nodes do with a pod: pull, start, probe, crash, restart, finish.

:class:`Kubelet` computes a pod's next ``status`` from its current one, its age and the world
(which images the sandbox registry publishes, which releases crash, whether the ``oom`` scenario
kills this pod). It is incremental — times already in the status are kept — so the status of a
pod that has nothing new to report comes out unchanged and the store sees no write.

A pod is scheduled at once (``PodScheduled``), its images are "pulled" after half the ready
delay — an unpublished ``registry.noa.example`` tag ends in ``ErrImagePull``/``ImagePullBackOff``
and the pod stays ``Pending`` — and after the ready delay it is ``Running`` and ``Ready``. A
release marked ``crash`` runs a second and exits 1, then again every :data:`CRASH_PERIOD_S`
seconds (``CrashLoopBackOff``, never Ready). The pod the ``oom`` scenario names is OOM-killed
(exit 137) on the simulator's cycle. Job pods finish :data:`JOB_RUN_S` after they start.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from noa_sandbox.kube import registry
from noa_sandbox.kube.hooks import Obj
from noa_sandbox.simulator import catalog
from noa_sandbox.simulator.spec import WorldSpec

NODES = catalog.NODES
NODE_IPS = catalog.NODE_IPS
CRASH_PERIOD_S = 5.0
"""A crash-looping container is restarted this often (the real back-off grows to 5 minutes)."""
CRASH_RUN_S = 1.0
JOB_RUN_S = 1.0


@dataclass(frozen=True)
class Event:
    """An event the kubelet reports about a pod."""

    reason: str
    message: str
    type: str = "Normal"


def rfc3339(t: float) -> str:
    """``2026-11-27T01:02:03Z`` for unix time ``t``."""
    return datetime.fromtimestamp(math.floor(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def pod_ip(pod: Obj) -> str:
    """A stable pod IP in ``10.244.<node>.<n>``."""
    node = (pod.get("spec") or {}).get("nodeName") or NODES[0]
    index = NODES.index(node) if node in NODES else 0
    digest = zlib.crc32(str(pod["metadata"].get("uid", "")).encode())
    return f"10.244.{index + 1}.{digest % 250 + 2}"


def qos_class(pod: Obj) -> str:
    """``Guaranteed`` (requests == limits for cpu and memory everywhere), ``Burstable``, or
    ``BestEffort`` (no requests or limits at all)."""
    containers = (pod.get("spec") or {}).get("containers") or []
    any_set = False
    guaranteed = bool(containers)
    for c in containers:
        res = c.get("resources") or {}
        requests, limits = res.get("requests") or {}, res.get("limits") or {}
        if requests or limits:
            any_set = True
        for key in ("cpu", "memory"):
            if key not in limits or requests.get(key, limits[key]) != limits[key]:
                guaranteed = False
    if guaranteed:
        return "Guaranteed"
    return "Burstable" if any_set else "BestEffort"


def _condition(old: list[Obj], type_: str, status: str, now: float, reason: str | None = None,
               message: str | None = None) -> Obj:
    previous = next((c for c in old if c.get("type") == type_), None)
    when = previous.get("lastTransitionTime") if previous and previous.get(
        "status") == status else rfc3339(now)
    cond: Obj = {"type": type_, "status": status, "lastProbeTime": None,
                 "lastTransitionTime": when}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def _container_id(uid: str, name: str, restarts: int) -> str:
    return "containerd://" + hashlib.sha256(f"{uid}/{name}/{restarts}".encode()).hexdigest()


class Kubelet:
    """Pod status transitions; remembers when it first saw each pod and OOM kills it applied."""

    def __init__(self, ready_delay: float = 1.0) -> None:
        self.ready_delay = ready_delay
        self._born: dict[str, float] = {}
        self._oom_seen: dict[str, int] = {}

    def forget(self, alive_uids: set[str]) -> None:
        """Drop what is remembered about pods that no longer exist."""
        for uid in [u for u in self._born if u not in alive_uids]:
            del self._born[uid]
            self._oom_seen.pop(uid, None)

    def born(self, pod: Obj, now: float) -> float:
        uid = str(pod["metadata"]["uid"])
        if uid not in self._born:
            created = parse_rfc3339(pod["metadata"].get("creationTimestamp"))
            status = pod.get("status") or {}
            # a pod from before a restart of the API server is as old as it says; a new one
            # starts its clock now (creationTimestamp has whole seconds only)
            self._born[uid] = created if status.get("containerStatuses") and created else now
        return self._born[uid]

    def sync(
        self,
        pod: Obj,
        *,
        now: float,
        world: WorldSpec,
        oom_kills: int | None = None,
        job_fails: bool | None = None,
    ) -> tuple[Obj | None, list[Event]]:
        """The pod's next status (``None``: nothing to do) and the events to record.

        ``oom_kills`` counts the OOM kills the scenario has dealt this pod so far (``None``: it
        is not the OOM pod); ``job_fails`` is set for a Job's pod (``True``: it exits 1).
        """
        meta = pod["metadata"]
        status: Obj = dict(pod.get("status") or {})
        if meta.get("deletionTimestamp") or status.get("phase") in ("Succeeded", "Failed"):
            return None, []
        uid = str(meta["uid"])
        born = self.born(pod, now)
        age = now - born
        spec = pod.get("spec") or {}
        node = spec.get("nodeName") or NODES[0]
        old_conditions = list(status.get("conditions") or [])
        old_cs = {c.get("name"): c for c in status.get("containerStatuses") or []}
        events: list[Event] = []
        new: Obj = {
            "phase": status.get("phase", "Pending"),
            "hostIP": NODE_IPS.get(node, NODE_IPS[NODES[0]]),
            "hostIPs": [{"ip": NODE_IPS.get(node, NODE_IPS[NODES[0]])}],
            "podIP": pod_ip(pod),
            "podIPs": [{"ip": pod_ip(pod)}],
            "startTime": status.get("startTime") or rfc3339(born),
            "qosClass": qos_class(pod),
        }
        containers = spec.get("containers") or []
        statuses: list[Obj] = []
        sandbox_ready = age >= self.ready_delay * 0.5
        phase = "Pending"
        all_ready = True
        all_started = True
        finished: list[bool] = []
        for c in containers:
            cs, ev, state = self._container(
                pod, c, old_cs.get(c.get("name")), now=now, born=born, world=world,
                oom_kills=oom_kills if c is self._main(pod, containers) else None,
                job_fails=job_fails,
            )
            statuses.append(cs)
            events.extend(ev)
            all_ready = all_ready and cs["ready"]
            all_started = all_started and state in ("running", "crashing", "terminated")
            if state == "terminated":
                finished.append(cs["state"]["terminated"].get("exitCode", 0) == 0)
        if job_fails is not None and finished and len(finished) == len(containers):
            phase = "Succeeded" if all(finished) else "Failed"
        elif all_started:
            phase = "Running"
        new["phase"] = phase
        not_ready = [c["name"] for c in statuses if not c["ready"]]
        done = phase in ("Succeeded", "Failed")
        unready_msg = f"containers with unready status: [{' '.join(not_ready)}]"
        new["conditions"] = [
            _condition(old_conditions, "PodReadyToStartContainers",
                       "True" if sandbox_ready and not done else "False", now),
            _condition(old_conditions, "Initialized", "True", now,
                       "PodCompleted" if done else None),
            _condition(old_conditions, "Ready", "True" if all_ready and not done else "False",
                       now, None if all_ready and not done else (
                           "PodCompleted" if done else "ContainersNotReady"),
                       None if all_ready or done else unready_msg),
            _condition(old_conditions, "ContainersReady",
                       "True" if all_ready and not done else "False", now,
                       None if all_ready and not done else (
                           "PodCompleted" if done else "ContainersNotReady"),
                       None if all_ready or done else unready_msg),
            _condition(old_conditions, "PodScheduled", "True", now),
        ]
        new["containerStatuses"] = statuses
        if not status.get("containerStatuses"):
            events.insert(0, Event("Scheduled", f"Successfully assigned "
                                   f"{meta.get('namespace')}/{meta['name']} to {node}"))
        if new == status:
            return None, events
        self._born.setdefault(uid, born)
        return new, events

    @staticmethod
    def _main(pod: Obj, containers: list[Obj]) -> Obj | None:
        app = (pod["metadata"].get("labels") or {}).get("app")
        return next((c for c in containers if c.get("name") == app),
                    containers[0] if containers else None)

    def _container(
        self,
        pod: Obj,
        c: Obj,
        old: Obj | None,
        *,
        now: float,
        born: float,
        world: WorldSpec,
        oom_kills: int | None,
        job_fails: bool | None,
    ) -> tuple[Obj, list[Event], str]:
        """``(containerStatus, events, state)`` with state waiting|running|crashing|terminated."""
        meta = pod["metadata"]
        uid = str(meta["uid"])
        name = str(c.get("name", ""))
        image = str(c.get("image", ""))
        age = now - born
        old = old or {}
        old_state = old.get("state") or {}
        restarts = int(old.get("restartCount") or 0)
        base: Obj = {"name": name, "image": image, "imageID": "", "ready": False,
                     "restartCount": restarts, "started": False, "lastState": old.get(
                         "lastState") or {}}
        events: list[Event] = []
        pod_ref = f"{meta['name']}_{meta.get('namespace')}({uid})"
        if age < self.ready_delay * 0.5:
            base["state"] = {"waiting": {"reason": "ContainerCreating"}}
            return base, events, "waiting"
        if not registry.pullable(world, image):
            waiting = old_state.get("waiting") or {}
            if waiting.get("reason") != "ImagePullBackOff":
                events += [
                    Event("Pulling", f'Pulling image "{image}"'),
                    Event("Failed", f'Failed to pull image "{image}": rpc error: code = NotFound '
                                    f'desc = failed to pull and unpack image "{image}": failed '
                                    f'to resolve reference "{image}": {image}: not found',
                          "Warning"),
                    Event("Failed", "Error: ErrImagePull", "Warning"),
                    Event("BackOff", f'Back-off pulling image "{image}"'),
                    Event("Failed", "Error: ImagePullBackOff", "Warning"),
                ]
            base["state"] = {"waiting": {"reason": "ImagePullBackOff",
                                         "message": f'Back-off pulling image "{image}"'}}
            return base, events, "waiting"
        if age < self.ready_delay:
            base["state"] = {"waiting": {"reason": "ContainerCreating"}}
            return base, events, "waiting"
        base["imageID"] = registry.image_id(image)
        ref = registry.parse_image(image)
        started_at = born + self.ready_delay
        if "terminated" in old_state:
            base.update(state=old_state, containerID=old.get("containerID", ""))
            return base, events, "terminated"
        if "running" not in old_state and "waiting" in old_state and restarts == 0:
            events += [
                Event("Pulled", f'Successfully pulled image "{image}" in 412ms (412ms including '
                                f'waiting)' if c.get("imagePullPolicy") == "Always" else
                      f'Container image "{image}" already present on machine'),
                Event("Created", f"Created container {name}"),
                Event("Started", f"Started container {name}"),
            ]
        elif not old_state:
            events += [Event("Created", f"Created container {name}"),
                       Event("Started", f"Started container {name}")]
        if job_fails is not None and age >= self.ready_delay + JOB_RUN_S:
            running = old_state.get("running") or {"startedAt": rfc3339(started_at)}
            code = 1 if job_fails else 0
            base.update(containerID=_container_id(uid, name, restarts), state={"terminated": {
                "exitCode": code, "reason": "Error" if code else "Completed",
                "startedAt": running.get("startedAt"), "finishedAt": rfc3339(now),
                "containerID": _container_id(uid, name, restarts)}})
            return base, events, "terminated"
        if ref.ours and world.info(ref.tag).crash and job_fails is None:
            return self._crashing(base, events, uid, name, pod_ref, started_at, now)
        running = old_state.get("running")
        if oom_kills is not None:
            seen = self._oom_seen.setdefault(uid, oom_kills)
            if oom_kills < seen:
                self._oom_seen[uid] = seen = oom_kills
            if oom_kills > seen and running:
                restarts += oom_kills - seen
                self._oom_seen[uid] = oom_kills
                base["restartCount"] = restarts
                base["lastState"] = {"terminated": {
                    "exitCode": 137, "reason": "OOMKilled", "startedAt": running.get("startedAt"),
                    "finishedAt": rfc3339(now), "containerID": old.get("containerID", "")}}
                running = None
                events += [
                    Event("Pulled", f'Container image "{image}" already present on machine'),
                    Event("Created", f"Created container {name}"),
                    Event("Started", f"Started container {name}"),
                ]
        if not running:
            running = {"startedAt": rfc3339(now if restarts else started_at)}
        base.update(ready=True, started=True, state={"running": running},
                    containerID=_container_id(uid, name, restarts))
        return base, events, "running"

    @staticmethod
    def _crashing(base: Obj, events: list[Event], uid: str, name: str, pod_ref: str,
                  started_at: float, now: float) -> tuple[Obj, list[Event], str]:
        runs_done = 0 if now < started_at + CRASH_RUN_S else int(
            (now - started_at - CRASH_RUN_S) // CRASH_PERIOD_S) + 1
        if runs_done == 0:
            base.update(started=True, state={"running": {"startedAt": rfc3339(started_at)}},
                        containerID=_container_id(uid, name, 0))
            return base, events, "crashing"
        last_start = started_at + (runs_done - 1) * CRASH_PERIOD_S
        if base["restartCount"] != runs_done:
            events.append(Event("BackOff", f"Back-off restarting failed container {name} in pod "
                                           f"{pod_ref}", "Warning"))
        backoff = min(10 * 2 ** max(runs_done - 1, 0), 300)
        base.update(
            restartCount=runs_done,
            containerID=_container_id(uid, name, runs_done - 1),
            state={"waiting": {"reason": "CrashLoopBackOff",
                               "message": f"back-off {backoff}s restarting failed container="
                                          f"{name} pod={pod_ref}"}},
            lastState={"terminated": {
                "exitCode": 1, "reason": "Error", "startedAt": rfc3339(last_start),
                "finishedAt": rfc3339(last_start + CRASH_RUN_S),
                "containerID": _container_id(uid, name, runs_done - 1)}},
        )
        return base, events, "crashing"


__all__ = ["CRASH_PERIOD_S", "JOB_RUN_S", "NODES", "Event", "Kubelet", "parse_rfc3339",
           "pod_ip", "qos_class", "rfc3339"]
