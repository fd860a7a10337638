"""What the simulated cluster builds on: subscribers, the change log, events, watches by scope."""

from __future__ import annotations

import threading

import pytest
from kubernetes import client, watch

from noa_sandbox.kube.errors import ApiError
from noa_sandbox.kube.store import Store

from .conftest import NS, Kube, deployment


def test_subscribers_see_every_change_outside_the_lock(kube: Kube,
                                                       apps: client.AppsV1Api) -> None:
    seen: list[tuple[str, str, str]] = []
    reentered: list[int] = []

    def subscriber(kind: str, plural: str, obj: dict) -> None:
        seen.append((kind, plural, obj["metadata"]["name"]))
        # subscribers may read (and write) the store: called without its lock held
        worker = threading.Thread(target=lambda: reentered.append(kube.store.resource_version))
        worker.start()
        worker.join(timeout=5)

    kube.store.subscribe(subscriber)
    apps.create_namespaced_deployment(NS, deployment())
    apps.patch_namespaced_deployment("api", NS, {"spec": {"replicas": 3}})
    apps.delete_namespaced_deployment("api", NS)
    assert seen == [("ADDED", "deployments", "api"), ("MODIFIED", "deployments", "api"),
                    ("DELETED", "deployments", "api")]
    assert len(reentered) == 3


def test_events_since(kube: Kube) -> None:
    rv = kube.store.resource_version
    kube.store.create("configmaps", NS, {"metadata": {"name": "a"}})
    kube.store.mutate("configmaps", NS, "a", lambda c: c.update(data={"k": "v"}))
    kube.store.delete("configmaps", NS, "a")
    changes = kube.store.events_since(rv)
    assert [(c.type, c.plural, c.resource_version) for c in changes] == [
        ("ADDED", "configmaps", rv + 1), ("MODIFIED", "configmaps", rv + 2),
        ("DELETED", "configmaps", rv + 3)]
    assert changes[2].obj["metadata"]["resourceVersion"] == str(rv + 3)
    small = Store(window=2)
    with pytest.raises(ApiError) as err:
        small.events_since(0)
    assert err.value.status == 410


def test_record_event_counts_repeats(kube: Kube, apps: client.AppsV1Api,
                                     core: client.CoreV1Api) -> None:
    dep = kube.store.create("deployments", NS, deployment())
    kube.store.record_event(dep, "ScalingReplicaSet", "Scaled up replica set api-1 to 2",
                            component="deployment-controller")
    kube.store.record_event(dep, "ScalingReplicaSet", "Scaled up replica set api-1 to 2",
                            component="deployment-controller")
    kube.store.record_event(dep, "Unhealthy", "Readiness probe failed", "Warning")
    events = core.list_namespaced_event(NS, field_selector="involvedObject.name=api").items
    by_reason = {e.reason: e for e in events}
    assert by_reason["ScalingReplicaSet"].count == 2
    assert by_reason["ScalingReplicaSet"].source.component == "deployment-controller"
    assert by_reason["ScalingReplicaSet"].involved_object.kind == "Deployment"
    assert by_reason["ScalingReplicaSet"].involved_object.uid == dep["metadata"]["uid"]
    assert by_reason["Unhealthy"].type == "Warning"
    warnings = core.list_namespaced_event(NS, field_selector="type=Warning").items
    assert [e.reason for e in warnings] == ["Unhealthy"]


def test_watch_all_namespaces_and_cluster_scoped(kube: Kube, core: client.CoreV1Api) -> None:
    rv = core.list_namespace().metadata.resource_version
    core.create_namespace({"metadata": {"name": "other"}})
    core.create_namespaced_config_map("other", {"metadata": {"name": "x"}})
    core.create_namespaced_config_map(NS, {"metadata": {"name": "y"}})
    namespaces = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        core.list_namespace, resource_version=rv, timeout_seconds=1)]
    assert namespaces == [("ADDED", "other")]
    config_maps = [(e["object"].metadata.namespace, e["object"].metadata.name) for e in
                   watch.Watch().stream(core.list_config_map_for_all_namespaces,
                                        resource_version=rv, timeout_seconds=1)]
    assert config_maps == [("other", "x"), (NS, "y")]
