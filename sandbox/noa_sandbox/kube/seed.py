"""What a fresh sandbox cluster holds: NOA Server in namespace ``noa``, with a little history.

:func:`seed_objects` creates (into an empty store, see :func:`is_empty`):

- Nodes ``sandbox-node-1..3`` (:mod:`.nodes`: EKS m5.xlarge workers) and StorageClasses
  ``gp3`` (the default: EBS CSI, expandable, WaitForFirstConsumer) and ``efs-sc`` (EFS CSI);
- namespaces ``default``, ``kube-system``, ``noa`` (and a ``default`` ServiceAccount in each),
  ServiceAccount ``noa-server``;
- Deployments ``api`` (3 replicas), ``worker`` (2), ``web`` (1) running
  ``registry.noa.example/noa-server:<version>`` — the simulator models one release across the
  services — with labels ``app.kubernetes.io/name: noa-server``, ``app.kubernetes.io/part-of:
  noa``, ``app: <service>``, ``track: stable``, selector ``{app, track: stable}``, ports, env,
  requests/limits, probes on ``/healthz``/``/readyz``, RollingUpdate maxSurge 1 maxUnavailable 0;
- Services ``api`` and ``web`` (ClusterIP, selector ``{app}`` — no ``track``, so canary pods get
  traffic too — port 80 -> 8080 ``http``);
- ConfigMap ``noa-config``, Secret ``noa-db-credentials`` (a random password), HPA ``api`` (3..10,
  CPU 70 %), the VPA CRD and VerticalPodAutoscaler ``worker`` (updateMode Off), PVCs
  ``noa-uploads`` (gp3, 20Gi, mounted by ``web`` at ``/data/uploads``) and ``noa-worker-data``
  (efs-sc, ReadWriteMany, 50Gi, mounted by ``worker`` at ``/data``), both Bound, and a
  VolumeSnapshot of ``noa-uploads``;
- what ``deploy/kubernetes`` deploys for the runbooks themselves (CronJobs ``noa-full-backup``
  02:00, ``noa-validate-backup`` 04:15, …, their ServiceAccount, ConfigMap and PVC) when the
  repository is at hand, else the two backup CronJobs written here.

The Deployments start at :data:`FIRST_VERSION`; :func:`upgrade` then moves them to
:data:`SECOND_VERSION` (the cluster lets its controller create revision 1 in between), so each
Deployment has revisions 1 and 2 and "undo to the previous revision" works on a fresh sandbox.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

from noa_sandbox.kube import nodes, registry
from noa_sandbox.kube.errors import ApiError
from noa_sandbox.kube.hooks import Obj
from noa_sandbox.kube.resources import by_kind
from noa_sandbox.kube.store import Store
from noa_sandbox.simulator import catalog

log = logging.getLogger("noa.kube.seed")

NAMESPACE = "noa"
FIRST_VERSION = "2.13.0"
SECOND_VERSION = catalog.DEFAULT_VERSION
REPLICAS = {"api": 3, "worker": 2, "web": 1}
CHANGE_CAUSE = "kubernetes.io/change-cause"
RESOURCES = {
    "api": ({"cpu": "250m", "memory": "512Mi"}, {"cpu": "1", "memory": "1Gi"}),
    "worker": ({"cpu": "500m", "memory": "1Gi"}, {"cpu": "2", "memory": "2Gi"}),
    "web": ({"cpu": "100m", "memory": "128Mi"}, {"cpu": "500m", "memory": "512Mi"}),
}
"""Requests and limits per service (the same numbers as ``catalog.CPU_LIMIT`` … , tested)."""
VOLUMES = {service: (claim, path) for service, (claim, path, _) in catalog.VOLUMES.items()}
"""Service -> (PVC it mounts, mount path)."""
PVCS = {"noa-uploads": ("gp3", "ReadWriteOnce", "20Gi"),
        "noa-worker-data": ("efs-sc", "ReadWriteMany", "50Gi")}
"""PVC -> (storage class, access mode, size)."""
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
DEPLOY_DIR = Path(__file__).resolve().parents[3] / "deploy" / "kubernetes"


def is_empty(store: Store) -> bool:
    """True for a store that was never seeded (no namespace ``noa``, no Deployment)."""
    namespaces = {n["metadata"]["name"] for n in store.list("namespaces")[0]}
    return NAMESPACE not in namespaces and not store.list("deployments")[0]


def labels(service: str, *, track: bool = True) -> dict[str, str]:
    out = {
        "app.kubernetes.io/name": "noa-server",
        "app.kubernetes.io/part-of": "noa",
        "app.kubernetes.io/component": service,
        "app": service,
    }
    if track:
        out["track"] = "stable"
    return out


def container(service: str, version: str) -> Obj:
    """The NOA Server container of ``service`` at ``version``."""
    requests, limits = RESOURCES[service]
    ports = [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    if service == "api":
        ports.append({"name": "metrics", "containerPort": 9090, "protocol": "TCP"})
    out: Obj = {
        "name": service,
        "image": f"{registry.IMAGE}:{version}",
        "imagePullPolicy": "IfNotPresent",
        "args": ["serve", "--component", service],
        "ports": ports,
        "env": [
            {"name": "NOA_COMPONENT", "value": service},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "DATABASE_PASSWORD", "valueFrom": {
                "secretKeyRef": {"name": "noa-db-credentials", "key": "password"}}},
        ],
        "envFrom": [{"configMapRef": {"name": "noa-config"}}],
        "resources": {"requests": dict(requests), "limits": dict(limits)},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"},
                           "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                          "initialDelaySeconds": 10, "periodSeconds": 10},
    }
    if service in VOLUMES:
        out["volumeMounts"] = [{"name": "data", "mountPath": VOLUMES[service][1]}]
    return out


def deployment(service: str, version: str) -> Obj:
    """Deployment ``service`` of NOA Server at ``version``."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": service,
            "namespace": NAMESPACE,
            "labels": labels(service, track=False),
            "annotations": {CHANGE_CAUSE: f"initial install of NOA Server {version}"},
        },
        "spec": {
            "replicas": REPLICAS[service],
            "selector": {"matchLabels": {"app": service, "track": "stable"}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "progressDeadlineSeconds": 600,
            "revisionHistoryLimit": 10,
            "minReadySeconds": 0,
            "template": {
                "metadata": {"labels": labels(service),
                             "annotations": {"prometheus.io/scrape": "true"}},
                "spec": {
                    "serviceAccountName": "noa-server",
                    "containers": [container(service, version)],
                    "terminationGracePeriodSeconds": 30,
                    **({"volumes": [{"name": "data", "persistentVolumeClaim": {
                        "claimName": VOLUMES[service][0]}}]} if service in VOLUMES else {}),
                },
            },
        },
    }


def _base_objects(version: str) -> list[tuple[str, Obj]]:
    password = base64.b64encode(secrets.token_urlsafe(24).encode()).decode()
    out: list[tuple[str, Obj]] = [
        ("serviceaccounts", {"metadata": {"name": "noa-server", "namespace": NAMESPACE,
                                          "labels": labels("api", track=False) | {
                                              "app": "noa-server"}}}),
        ("configmaps", {"metadata": {"name": "noa-config", "namespace": NAMESPACE,
                                     "labels": {"app.kubernetes.io/part-of": "noa"}},
                        "data": {"LOG_LEVEL": "info", "LOG_FORMAT": "json",
                                 "FEATURE_FLAGS": "chat_v2,usage_dashboard",
                                 "AI_PROVIDER_PRIMARY": "openai",
                                 "AI_PROVIDER_FALLBACK": "anthropic",
                                 "DB_POOL_SIZE": "20", "DB_MAX_OVERFLOW": "10",
                                 "REDIS_URL": "redis://redis.noa.svc.cluster.local:6379/0"}}),
        ("secrets", {"metadata": {"name": "noa-db-credentials", "namespace": NAMESPACE,
                                  "labels": {"app.kubernetes.io/part-of": "noa"}},
                     "type": "Opaque",
                     "data": {"username": base64.b64encode(b"noa_app").decode(),
                              "password": password}}),
    ]
    out += [("deployments", deployment(s, version)) for s in catalog.SERVICES]
    for service in ("api", "web"):
        out.append(("services", {
            "metadata": {"name": service, "namespace": NAMESPACE,
                         "labels": labels(service, track=False)},
            "spec": {"type": "ClusterIP", "selector": {"app": service},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080,
                                "protocol": "TCP"}]},
        }))
    out += [
        ("horizontalpodautoscalers", {
            "metadata": {"name": "api", "namespace": NAMESPACE,
                         "labels": labels("api", track=False)},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": "api"},
                     "minReplicas": 3, "maxReplicas": 10,
                     "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu",
                         "target": {"type": "Utilization", "averageUtilization": 70}}}]},
        }),
        ("customresourcedefinitions", _vpa_crd()),
        ("verticalpodautoscalers", {
            "apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler",
            "metadata": {"name": "worker", "namespace": NAMESPACE,
                         "labels": labels("worker", track=False)},
            "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                   "name": "worker"},
                     "updatePolicy": {"updateMode": "Off"},
                     "resourcePolicy": {"containerPolicies": [{
                         "containerName": "worker",
                         "minAllowed": {"cpu": "250m", "memory": "512Mi"},
                         "maxAllowed": {"cpu": "4", "memory": "8Gi"}}]}},
        }),
        *(("persistentvolumeclaims", pvc(name)) for name in PVCS),
        ("volumesnapshots", {
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
            "metadata": {"name": "noa-uploads-nightly", "namespace": NAMESPACE,
                         "labels": {"app.kubernetes.io/part-of": "noa"}},
            "spec": {"volumeSnapshotClassName": "csi-snapclass",
                     "source": {"persistentVolumeClaimName": "noa-uploads"}},
        }),
    ]
    return out


def pvc(name: str) -> Obj:
    """PVC ``name`` of :data:`PVCS` (spec only; the seed binds it)."""
    storage_class, mode, size = PVCS[name]
    return {
        "metadata": {"name": name, "namespace": NAMESPACE,
                     "labels": {"app.kubernetes.io/part-of": "noa"},
                     "annotations": {"volume.kubernetes.io/storage-provisioner":
                                     _PROVISIONERS[storage_class]}},
        "spec": {"accessModes": [mode], "storageClassName": storage_class,
                 "volumeMode": "Filesystem",
                 "volumeName": volume_name(name),
                 "resources": {"requests": {"storage": size}}},
    }


def volume_name(claim: str) -> str:
    """The PersistentVolume bound to seeded PVC ``claim`` (``pvc-<uuid>``, stable)."""
    return f"pvc-{uuid.uuid5(uuid.NAMESPACE_URL, 'noa-sandbox/' + claim)}"


_PROVISIONERS = {"gp3": "ebs.csi.aws.com", "efs-sc": "efs.csi.aws.com"}


def storage_classes() -> list[Obj]:
    """``gp3`` (default, EBS, expandable, WaitForFirstConsumer) and ``efs-sc`` (EFS)."""
    return [
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
         "metadata": {"name": "gp3", "annotations": {DEFAULT_CLASS: "true"}},
         "provisioner": "ebs.csi.aws.com", "parameters": {"type": "gp3", "fsType": "ext4"},
         "reclaimPolicy": "Delete", "allowVolumeExpansion": True,
         "volumeBindingMode": "WaitForFirstConsumer"},
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
         "metadata": {"name": "efs-sc"},
         "provisioner": "efs.csi.aws.com",
         "parameters": {"provisioningMode": "efs-ap", "fileSystemId": "fs-0a1b2c3d4e5f60718",
                        "directoryPerms": "700"},
         "reclaimPolicy": "Delete", "allowVolumeExpansion": False,
         "volumeBindingMode": "Immediate"},
    ]


def ensure_infrastructure(store: Store, now: float | None = None) -> int:
    """Create the Nodes and StorageClasses that are missing (also in a store seeded before they
    existed); returns how many were created."""
    created = 0
    for node in nodes.node_objects(time.time() if now is None else now):
        status = node.pop("status")
        try:
            store.create("nodes", None, node)
        except ApiError as exc:
            if exc.status != 409:
                log.warning("seed: node %s: %s", node["metadata"]["name"], exc.message)
            continue

        def write(o: Obj, s: dict[str, Any] = status) -> None:
            o["status"] = s

        store.mutate("nodes", None, node["metadata"]["name"], write, status_only=True)
        created += 1
    for sc in storage_classes():
        try:
            store.create("storageclasses", None, sc)
            created += 1
        except ApiError as exc:
            if exc.status != 409:
                log.warning("seed: storageclass %s: %s", sc["metadata"]["name"], exc.message)
    return created


def _vpa_crd() -> Obj:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "verticalpodautoscalers.autoscaling.k8s.io"},
        "spec": {
            "group": "autoscaling.k8s.io",
            "names": {"plural": "verticalpodautoscalers", "singular": "verticalpodautoscaler",
                      "kind": "VerticalPodAutoscaler", "listKind": "VerticalPodAutoscalerList",
                      "shortNames": ["vpa"]},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": True, "storage": True,
                          "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {
                              "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }


_FALLBACK_CRONJOBS = (("noa-full-backup", "0 2 * * *", "backup/full_backup"),
                      ("noa-validate-backup", "15 4 * * *", "backup/validate_backup"))


def _runbook_objects() -> list[tuple[str, Obj]]:
    """What ``deploy/kubernetes`` deploys into ``noa`` (the served kinds), or two CronJobs."""
    out: list[tuple[str, Obj]] = []
    if DEPLOY_DIR.is_dir():
        for path in sorted(DEPLOY_DIR.glob("*.yaml")):
            try:
                docs = list(yaml.safe_load_all(path.read_text()))
            except (OSError, yaml.YAMLError) as exc:
                log.warning("skipping %s: %s", path, exc)
                continue
            for doc in docs:
                if not isinstance(doc, dict):
                    continue
                rt = by_kind(str(doc.get("kind")))
                if rt is None or rt.api_version != doc.get("apiVersion"):
                    continue
                doc.setdefault("metadata", {})["namespace"] = NAMESPACE
                out.append((rt.plural, doc))
    if any(plural == "cronjobs" for plural, _ in out):
        return out
    for name, schedule, runbook in _FALLBACK_CRONJOBS:
        out.append(("cronjobs", {
            "metadata": {"name": name, "namespace": NAMESPACE,
                         "labels": {"app.kubernetes.io/name": "noa-runbooks"}},
            "spec": {"schedule": schedule, "timeZone": "Etc/UTC", "concurrencyPolicy": "Forbid",
                     "jobTemplate": {"spec": {"backoffLimit": 0, "template": {"spec": {
                         "restartPolicy": "Never",
                         "containers": [{"name": "noa", "image": "noa-runbooks:0.1.0",
                                         "args": ["run", runbook, "--target", "prod"]}]}}}}},
        }))
    return out


def _status(plural: str, obj: Obj) -> dict[str, Any] | None:
    if plural == "persistentvolumeclaims":
        size = obj["spec"]["resources"]["requests"]["storage"]
        return {"phase": "Bound", "accessModes": obj["spec"]["accessModes"],
                "capacity": {"storage": size}}
    if plural == "volumesnapshots":
        return {"readyToUse": True, "restoreSize": "20Gi",
                "creationTime": obj["metadata"]["creationTimestamp"],
                "boundVolumeSnapshotContentName": f"snapcontent-{obj['metadata']['uid']}"}
    return None


def seed_objects(store: Store, version: str = FIRST_VERSION) -> int:
    """Create the sandbox's objects (existing ones are kept); returns how many were created."""
    created = ensure_infrastructure(store)
    present = {n["metadata"]["name"] for n in store.list("namespaces")[0]}
    for ns in ("default", "kube-system", NAMESPACE):
        if ns not in present:
            store.create("namespaces", None, {"metadata": {"name": ns}})
            created += 1
    namespaces = [n["metadata"]["name"] for n in store.list("namespaces")[0]]
    objects: list[tuple[str, Obj]] = [
        ("serviceaccounts", {"metadata": {"name": "default", "namespace": ns}})
        for ns in namespaces
    ]
    objects += _base_objects(version) + _runbook_objects()
    for plural, obj in objects:
        namespace = obj["metadata"].get("namespace")
        try:
            stored = store.create(plural, namespace, obj)
        except ApiError as exc:
            if exc.status != 409:
                log.warning("seed: %s %s: %s", plural, obj["metadata"].get("name"), exc.message)
            continue
        created += 1
        status = _status(plural, stored)
        if status is not None:
            def write(o: Obj, s: dict[str, Any] = status) -> None:
                o["status"] = s
            store.mutate(plural, namespace, stored["metadata"]["name"], write, status_only=True)
    return created


def upgrade(store: Store, version: str = SECOND_VERSION) -> None:
    """Move NOA Server's Deployments to ``version`` (what a release does: a new pod template)."""
    for service in catalog.SERVICES:
        def change(obj: Obj, svc: str = service) -> None:
            for c in obj["spec"]["template"]["spec"]["containers"]:
                if c.get("name") == svc:
                    c["image"] = f"{registry.IMAGE}:{version}"
            obj["metadata"].setdefault("annotations", {})[CHANGE_CAUSE] = (
                f"release NOA Server {version}"
            )
        try:
            store.mutate("deployments", NAMESPACE, service, change)
        except ApiError as exc:
            log.warning("seed: upgrading %s: %s", service, exc.message)


__all__ = [
    "FIRST_VERSION",
    "NAMESPACE",
    "SECOND_VERSION",
    "container",
    "deployment",
    "ensure_infrastructure",
    "is_empty",
    "pvc",
    "seed_objects",
    "storage_classes",
    "upgrade",
    "volume_name",
]
