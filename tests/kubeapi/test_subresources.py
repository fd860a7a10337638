"""The ``scale`` and ``status`` subresources."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .conftest import NS, Kube, deployment


def test_scale_get_patch_replace(kube: Kube, apps: client.AppsV1Api) -> None:
    created = apps.create_namespaced_deployment(NS, deployment(replicas=2))
    kube.store.mutate("deployments", NS, "api",
                      lambda d: d.setdefault("status", {}).update(replicas=2), status_only=True)
    scale = apps.read_namespaced_deployment_scale("api", NS)
    assert scale.kind == "Scale" and scale.api_version == "autoscaling/v1"
    assert scale.spec.replicas == 2
    assert scale.status.replicas == 2
    assert scale.status.selector == "app=api"
    assert scale.metadata.uid == created.metadata.uid
    patched = apps.patch_namespaced_deployment_scale("api", NS, {"spec": {"replicas": 5}})
    assert patched.spec.replicas == 5
    deployment_now = apps.read_namespaced_deployment("api", NS)
    assert deployment_now.spec.replicas == 5
    assert deployment_now.metadata.generation == 2
    assert patched.metadata.resource_version == deployment_now.metadata.resource_version
    stale = scale
    stale.spec.replicas = 1
    with pytest.raises(ApiException) as err:
        apps.replace_namespaced_deployment_scale("api", NS, stale)
    assert err.value.status == 409
    fresh = apps.read_namespaced_deployment_scale("api", NS)
    fresh.spec.replicas = 1
    assert apps.replace_namespaced_deployment_scale("api", NS, fresh).spec.replicas == 1
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment_scale("api", NS, {"spec": {"replicas": -1}})
    assert err.value.status == 422


def test_replicaset_scale(kube: Kube, apps: client.AppsV1Api) -> None:
    body = deployment()
    body["kind"] = "ReplicaSet"
    body["metadata"]["name"] = "api-5d9f"
    apps.create_namespaced_replica_set(NS, body)
    apps.patch_namespaced_replica_set_scale("api-5d9f", NS, {"spec": {"replicas": 0}})
    assert apps.read_namespaced_replica_set("api-5d9f", NS).spec.replicas == 0


def test_status_subresource(apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment(NS, deployment())
    updated = apps.patch_namespaced_deployment_status("api", NS, {
        "status": {"replicas": 2, "readyReplicas": 2, "observedGeneration": 1,
                   "conditions": [{"type": "Available", "status": "True"}]},
        "spec": {"replicas": 9},
    })
    assert updated.status.ready_replicas == 2
    assert updated.spec.replicas == 2  # spec changes through /status are ignored
    assert updated.metadata.generation == 1
    merged = apps.patch_namespaced_deployment_status("api", NS, {"status": {"conditions": [
        {"type": "Progressing", "status": "True"}]}})
    assert {c.type for c in merged.status.conditions} == {"Available", "Progressing"}
    current = apps.read_namespaced_deployment_status("api", NS)
    current.status.ready_replicas = 1
    replaced = apps.replace_namespaced_deployment_status("api", NS, current)
    assert replaced.status.ready_replicas == 1


def test_mutate_is_a_noop_without_changes(kube: Kube, apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment(NS, deployment())
    rv = kube.store.resource_version
    kube.store.mutate("deployments", NS, "api", lambda d: None)
    assert kube.store.resource_version == rv
    after = kube.store.mutate("deployments", NS, "api",
                              lambda d: d["spec"].update(replicas=3))
    assert after["metadata"]["generation"] == 2
    assert int(after["metadata"]["resourceVersion"]) == rv + 1
    kept = kube.store.mutate("deployments", NS, "api",
                             lambda d: (d["spec"].update(replicas=8),
                                        d.setdefault("status", {}).update(replicas=3)),
                             status_only=True)
    assert kept["spec"]["replicas"] == 3 and kept["status"]["replicas"] == 3
