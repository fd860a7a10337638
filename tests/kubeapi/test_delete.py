"""Deletion: cascades by ownerReferences, Orphan, namespaces, preconditions, collections."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .conftest import NS, Kube, deployment, owner_ref, pod


def make_tree(kube: Kube) -> tuple[dict, dict]:
    """Deployment -> ReplicaSet -> two pods, linked by ownerReferences."""
    dep = kube.store.create("deployments", NS, deployment())
    rs_body = deployment("api")
    rs_body.update(kind="ReplicaSet")
    rs_body["metadata"] = {"name": "api-7f9c", "labels": {"app": "api"},
                           "ownerReferences": [owner_ref(dep)]}
    rs = kube.store.create("replicasets", NS, rs_body)
    for n in range(2):
        kube.store.create("pods", NS, pod(f"api-7f9c-{n}", owner=owner_ref(rs)))
    kube.store.create("pods", NS, pod("loner"))
    return dep, rs


def pod_names(core: client.CoreV1Api) -> list[str]:
    return [p.metadata.name for p in core.list_namespaced_pod(NS).items]


@pytest.mark.parametrize("policy", ["Background", "Foreground", None])
def test_delete_cascades(kube: Kube, apps: client.AppsV1Api, core: client.CoreV1Api,
                         policy: str | None) -> None:
    make_tree(kube)
    body = client.V1DeleteOptions(propagation_policy=policy) if policy else None
    deleted = apps.delete_namespaced_deployment("api", NS, body=body)
    assert deleted["kind"] == "Deployment" and deleted["metadata"]["name"] == "api"
    assert apps.list_namespaced_replica_set(NS).items == []
    assert pod_names(core) == ["loner"]


def test_delete_orphan_strips_owner_references(kube: Kube, apps: client.AppsV1Api,
                                               core: client.CoreV1Api) -> None:
    make_tree(kube)
    apps.delete_namespaced_deployment("api", NS, propagation_policy="Orphan")
    [rs] = apps.list_namespaced_replica_set(NS).items
    assert rs.metadata.owner_references is None
    assert pod_names(core) == ["api-7f9c-0", "api-7f9c-1", "loner"]
    assert core.read_namespaced_pod("api-7f9c-0", NS).metadata.owner_references[0].kind == \
        "ReplicaSet"


def test_delete_precondition(kube: Kube, apps: client.AppsV1Api) -> None:
    dep = apps.create_namespaced_deployment(NS, deployment())
    with pytest.raises(ApiException) as err:
        apps.delete_namespaced_deployment("api", NS, body=client.V1DeleteOptions(
            preconditions=client.V1Preconditions(resource_version="1")))
    assert err.value.status == 409
    assert "Precondition failed" in json.loads(err.value.body)["message"]
    apps.delete_namespaced_deployment("api", NS, body=client.V1DeleteOptions(
        preconditions=client.V1Preconditions(resource_version=dep.metadata.resource_version)))
    with pytest.raises(ApiException) as err:
        apps.delete_namespaced_deployment("api", NS)
    assert err.value.status == 404


def test_delete_pod_returns_the_pod(kube: Kube, core: client.CoreV1Api) -> None:
    kube.store.create("pods", NS, pod("api-0"))
    deleted = core.delete_namespaced_pod("api-0", NS)
    assert isinstance(deleted, client.V1Pod)
    assert deleted.metadata.name == "api-0"


def test_deleting_a_namespace_deletes_its_objects(kube: Kube, core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "scratch"}})
    core.create_namespaced_config_map("scratch", {"metadata": {"name": "x"}})
    core.create_namespaced_config_map(NS, {"metadata": {"name": "x"}})
    core.delete_namespace("scratch")
    assert "scratch" not in [n.metadata.name for n in core.list_namespace().items]
    remaining = core.list_config_map_for_all_namespaces().items
    assert [(c.metadata.namespace, c.metadata.name) for c in remaining] == [(NS, "x")]


def test_delete_collection_with_selector(kube: Kube, core: client.CoreV1Api) -> None:
    kube.store.create("pods", NS, pod("api-0"))
    kube.store.create("pods", NS, pod("api-1"))
    kube.store.create("pods", NS, pod("web-0", labels={"app": "web"}))
    core.delete_collection_namespaced_pod(NS, label_selector="app=api")
    assert pod_names(core) == ["web-0"]
