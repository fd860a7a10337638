"""The sandbox's three worker nodes as Node objects, and where the scheduler puts a pod.

:func:`node_objects` gives ``sandbox-node-1..3`` shaped like EKS m5.xlarge workers of node group
``noa-general`` in eu-west-1a/b/c (4 cores, 16 GiB, 58 pods; allocatable 3920m and ~14.9 GiB),
Ready with every pressure condition False. :func:`pick_node` is the scheduler: the node with the
most requested CPU/memory still free that fits the pod, or ``None`` (the pod stays Pending).
"""

from __future__ import annotations

from collections.abc import Iterable

from noa_sandbox.kube.hooks import Obj
from noa_sandbox.kube.kubelet import NODE_IPS, NODES, rfc3339
from noa_sandbox.kube.quantity import parse_quantity

INSTANCE_TYPE = "m5.xlarge"
NODE_GROUP = "noa-general"
ZONES = ("eu-west-1a", "eu-west-1b", "eu-west-1c")
KUBELET_VERSION = "v1.30.4-eks-a737599"
CAPACITY = {"cpu": "4", "ephemeral-storage": "83873772Ki", "hugepages-1Gi": "0",
            "hugepages-2Mi": "0", "memory": "15896988Ki", "pods": "58"}
ALLOCATABLE = {"cpu": "3920m", "ephemeral-storage": "76224326324", "hugepages-1Gi": "0",
               "hugepages-2Mi": "0", "memory": "14880156Ki", "pods": "58"}
_CONDITIONS = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory",
     "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def node_object(index: int, now: float) -> Obj:
    """Node ``sandbox-node-<index+1>`` (labels, capacity, conditions, addresses, nodeInfo)."""
    name = NODES[index]
    ip = NODE_IPS[name]
    when = rfc3339(now)
    digest = f"{index + 1:02d}" * 16
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": INSTANCE_TYPE,
                "topology.kubernetes.io/region": "eu-west-1",
                "topology.kubernetes.io/zone": ZONES[index],
                "eks.amazonaws.com/nodegroup": NODE_GROUP,
                "eks.amazonaws.com/capacityType": "ON_DEMAND",
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                            "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": {"providerID": f"aws:///{ZONES[index]}/i-0{digest[:16]}"},
        "status": {
            "capacity": dict(CAPACITY),
            "allocatable": dict(ALLOCATABLE),
            "conditions": [
                {"type": t, "status": s, "reason": r, "message": m,
                 "lastHeartbeatTime": when, "lastTransitionTime": when}
                for t, s, r, m in _CONDITIONS
            ],
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "InternalDNS", "address": f"ip-{ip.replace('.', '-')}.eu-west-1"
                                                   ".compute.internal"},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": f"{digest[:8]}-{digest[:4]}-{digest[:4]}-{digest[:4]}-{digest[:12]}",
                "containerRuntimeVersion": "containerd://1.7.22",
                "kernelVersion": "5.10.226-214.880.amzn2.x86_64",
                "kubeProxyVersion": KUBELET_VERSION,
                "kubeletVersion": KUBELET_VERSION,
                "machineID": digest,
                "operatingSystem": "linux",
                "osImage": "Amazon Linux 2",
                "systemUUID": f"ec2{digest[:5]}-{digest[:4]}-{digest[:4]}-{digest[:4]}-"
                              f"{digest[:12]}",
            },
        },
    }


def node_objects(now: float) -> list[Obj]:
    """The three worker nodes."""
    return [node_object(i, now) for i in range(len(NODES))]


def pod_requests(pod: Obj) -> tuple[float, float]:
    """``(cpu cores, memory bytes)`` the pod's containers request (init containers: the max)."""
    spec = pod.get("spec") or {}
    cpu = memory = 0.0
    for c in spec.get("containers") or []:
        requests = (c.get("resources") or {}).get("requests") or {}
        cpu += parse_quantity(requests.get("cpu", 0))
        memory += parse_quantity(requests.get("memory", 0))
    for c in spec.get("initContainers") or []:
        requests = (c.get("resources") or {}).get("requests") or {}
        cpu = max(cpu, parse_quantity(requests.get("cpu", 0)))
        memory = max(memory, parse_quantity(requests.get("memory", 0)))
    return cpu, memory


def _finished(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def free_resources(nodes: Iterable[Obj], pods: Iterable[Obj]) -> dict[str, list[float]]:
    """Node name -> ``[cpu, memory, pods]`` allocatable minus what its unfinished pods request."""
    free: dict[str, list[float]] = {}
    for node in nodes:
        alloc = (node.get("status") or {}).get("allocatable") or {}
        if (node.get("spec") or {}).get("unschedulable"):
            continue
        free[node["metadata"]["name"]] = [parse_quantity(alloc.get("cpu", 0)),
                                          parse_quantity(alloc.get("memory", 0)),
                                          parse_quantity(alloc.get("pods", 0))]
    for pod in pods:
        node_name = (pod.get("spec") or {}).get("nodeName")
        if node_name in free and not _finished(pod):
            cpu, memory = pod_requests(pod)
            free[node_name][0] -= cpu
            free[node_name][1] -= memory
            free[node_name][2] -= 1
    return free


def pick_node(pod: Obj, nodes: Iterable[Obj], pods: Iterable[Obj]) -> str | None:
    """The node with the most free requested CPU (then memory) that fits ``pod``; ``None`` when
    none does. Ties go to the first node by name."""
    cpu, memory = pod_requests(pod)
    free = free_resources(nodes, pods)
    fitting = [n for n, (c, m, p) in free.items() if c >= cpu and m >= memory and p >= 1]
    if not fitting:
        return None
    allocatable_cpu = max(1e-9, max(free[n][0] for n in fitting))
    allocatable_mem = max(1.0, max(free[n][1] for n in fitting))
    return min(fitting, key=lambda n: (-(free[n][0] / allocatable_cpu + free[n][1]
                                         / allocatable_mem), n))


def unschedulable_message(nodes: Iterable[Obj]) -> str:
    """The scheduler's FailedScheduling message (``0/3 nodes are available: 3 Insufficient
    cpu or memory. …``)."""
    n = len(list(nodes))
    return (f"0/{n} nodes are available: {n} Insufficient cpu or memory. preemption: 0/{n} "
            f"nodes are available: {n} No preemption victims found for incoming pod.")


__all__ = ["ALLOCATABLE", "CAPACITY", "node_object", "node_objects", "pick_node",
           "pod_requests", "unschedulable_message"]
