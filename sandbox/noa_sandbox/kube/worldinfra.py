"""What the simulator's kubelets, cAdvisor and node-exporter need from the cluster.

:func:`infrastructure` turns the store's pods, Nodes and PVCs into the world file's
``containers`` (every *running* container of NOA's pods — label ``app`` api|worker|web, outside
``kube-system`` — with its requests and limits, and whether its pod serves traffic), ``nodes``
and ``volumes`` (Bound PVCs mounted by a running pod, once per node with such a pod: each of
those kubelets reports it, as with a ReadWriteMany volume on a real cluster).
"""

from __future__ import annotations

from collections.abc import Iterable

from noa_sandbox.kube.hooks import Obj
from noa_sandbox.kube.quantity import parse_quantity
from noa_sandbox.kube.worldsync import component
from noa_sandbox.simulator import memory
from noa_sandbox.simulator.spec import Container, Node, Volume


def _quantity(resources: Obj, kind: str, name: str) -> float:
    value = (resources.get(kind) or {}).get(name)
    try:
        return 0.0 if value is None else parse_quantity(value)
    except ValueError:
        return 0.0


def _running(pod: Obj) -> bool:
    return ((pod.get("status") or {}).get("phase") == "Running"
            and not pod["metadata"].get("deletionTimestamp"))


def containers(pods: Iterable[Obj], serving: set[str]) -> tuple[Container, ...]:
    """The running containers of NOA's running pods (sorted by pod, container)."""
    out = []
    for pod in pods:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        app = component(pod)
        if app is None or meta.get("namespace") == "kube-system" or not _running(pod):
            continue
        statuses = {c.get("name"): c for c in (pod.get("status") or {}).get(
            "containerStatuses") or []}
        for c in spec.get("containers") or []:
            cs = statuses.get(c.get("name")) or {}
            if "running" not in (cs.get("state") or {}):
                continue
            res = c.get("resources") or {}
            out.append(Container(
                namespace=str(meta.get("namespace")), pod=str(meta["name"]),
                uid=str(meta.get("uid")), node=str(spec.get("nodeName") or ""),
                name=str(c.get("name")), image=str(c.get("image", "")),
                id=str(cs.get("containerID") or ""), service=app,
                serving=meta["name"] in serving,
                cpu_request=_quantity(res, "requests", "cpu"),
                cpu_limit=_quantity(res, "limits", "cpu"),
                memory_request=_quantity(res, "requests", "memory"),
                memory_limit=_quantity(res, "limits", "memory")))
    return tuple(sorted(out, key=lambda c: (c.pod, c.name)))


def memory_limit(pod: Obj) -> float | None:
    """The memory limit (bytes) of the pod's main container (named after its component)."""
    service = component(pod)
    cs = (pod.get("spec") or {}).get("containers") or []
    if service is None or not cs:
        return None
    main = next((c for c in cs if c.get("name") == service), cs[0])
    limit = ((main.get("resources") or {}).get("limits") or {}).get("memory")
    try:
        return None if limit is None else parse_quantity(limit)
    except ValueError:
        return None


def undersized(pod: Obj) -> bool:
    """The pod's main container has a memory limit too small for it: OOM-killed in a loop
    (:func:`noa_sandbox.simulator.memory.undersized`, as the simulator decides it)."""
    service, limit = component(pod), memory_limit(pod)
    return service is not None and limit is not None and memory.undersized(service, limit)


def nodes(node_objs: Iterable[Obj]) -> tuple[Node, ...]:
    """The Nodes: name, InternalIP, capacity CPU and memory."""
    out = []
    for node in node_objs:
        status = node.get("status") or {}
        ip = next((a.get("address") for a in status.get("addresses") or []
                   if a.get("type") == "InternalIP"), "")
        capacity = status.get("capacity") or {}
        out.append(Node(node["metadata"]["name"], str(ip),
                        parse_quantity(capacity.get("cpu", 0)),
                        parse_quantity(capacity.get("memory", 0))))
    return tuple(sorted(out, key=lambda n: n.name))


def volumes(pods: Iterable[Obj], pvcs: Iterable[Obj]) -> tuple[Volume, ...]:
    """Bound PVCs mounted by a running pod, once per node running such a pod."""
    mounted: dict[tuple[str, str], set[str]] = {}
    for pod in pods:
        if not _running(pod):
            continue
        spec = pod.get("spec") or {}
        for v in spec.get("volumes") or []:
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            key = (str(pod["metadata"].get("namespace")), str(claim))
            if claim:
                mounted.setdefault(key, set()).add(str(spec.get("nodeName") or ""))
    out = []
    for pvc in pvcs:
        meta, status = pvc["metadata"], pvc.get("status") or {}
        key = (str(meta.get("namespace")), str(meta["name"]))
        capacity = (status.get("capacity") or {}).get("storage")
        if key in mounted and status.get("phase") == "Bound" and capacity is not None:
            out += [Volume(key[0], key[1], parse_quantity(capacity), node)
                    for node in mounted[key]]
    return tuple(sorted(out, key=lambda v: (v.namespace, v.name, v.node)))


__all__ = ["containers", "memory_limit", "nodes", "undersized", "volumes"]
