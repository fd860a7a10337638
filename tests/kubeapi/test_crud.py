"""CRUD through the official client: several kinds, errors as the real server reports them."""

from __future__ import annotations

import re

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .conftest import NS, VIEWER, VIEWER_USER, Kube, deployment, pod


def status_of(err: ApiException) -> dict:
    import json

    return json.loads(err.body)


def test_create_sets_server_fields(apps: client.AppsV1Api) -> None:
    created = apps.create_namespaced_deployment(NS, deployment())
    meta = created.metadata
    assert re.fullmatch(r"[0-9a-f-]{36}", meta.uid)
    assert int(meta.resource_version) > 0
    assert meta.creation_timestamp is not None
    assert meta.generation == 1
    assert created.spec.strategy.type == "RollingUpdate"  # defaulted like the real server
    again = apps.read_namespaced_deployment("api", NS)
    assert again.metadata.uid == meta.uid
    assert again.metadata.resource_version == meta.resource_version


def test_resource_versions_increase_globally(core: client.CoreV1Api) -> None:
    first = core.create_namespaced_config_map(NS, {"metadata": {"name": "a"}, "data": {"k": "v"}})
    second = core.create_namespaced_secret(NS, {"metadata": {"name": "b"},
                                                "stringData": {"password": "x"}})
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    assert second.data == {"password": "eA=="}  # stringData folded into data, base64
    assert second.type == "Opaque"


def test_crud_several_kinds(kube: Kube, core: client.CoreV1Api) -> None:
    api = kube.api_client()
    batch = client.BatchV1Api(api)
    net = client.NetworkingV1Api(api)
    hpa = client.AutoscalingV2Api(api)
    custom = client.CustomObjectsApi(api)
    svc = core.create_namespaced_service(NS, {
        "metadata": {"name": "api"},
        "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": 8080}]},
    })
    assert svc.spec.cluster_ip.startswith("10.96.")
    assert svc.spec.type == "ClusterIP"
    core.create_namespaced_pod(NS, {"metadata": {"name": "p"},
                                    "spec": {"containers": [{"name": "c", "image": "i:1"}]}})
    assert core.read_namespaced_pod("p", NS).status.phase == "Pending"
    core.create_namespaced_persistent_volume_claim(NS, {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    })
    core.create_namespaced_service_account(NS, {"metadata": {"name": "viewer"}})
    batch.create_namespaced_cron_job(NS, {
        "metadata": {"name": "nightly"},
        "spec": {"schedule": "0 2 * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "dump", "image": "pg:16"}]}}}}},
    })
    assert batch.read_namespaced_cron_job("nightly", NS).spec.concurrency_policy == "Allow"
    net.create_namespaced_ingress(NS, {"metadata": {"name": "web"}, "spec": {"rules": []}})
    hpa.create_namespaced_horizontal_pod_autoscaler(NS, {
        "metadata": {"name": "api"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
                 "minReplicas": 2, "maxReplicas": 6},
    })
    custom.create_namespaced_custom_object("snapshot.storage.k8s.io", "v1", NS,
                                           "volumesnapshots", {
        "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
        "metadata": {"name": "snap-1"},
        "spec": {"source": {"persistentVolumeClaimName": "data"}},
    })
    snap = custom.get_namespaced_custom_object("snapshot.storage.k8s.io", "v1", NS,
                                               "volumesnapshots", "snap-1")
    assert snap["kind"] == "VolumeSnapshot"
    crds = client.ApiextensionsV1Api(api)
    crds.create_custom_resource_definition({
        "metadata": {"name": "verticalpodautoscalers.autoscaling.k8s.io"},
        "spec": {"group": "autoscaling.k8s.io", "scope": "Namespaced",
                 "names": {"plural": "verticalpodautoscalers", "kind": "VerticalPodAutoscaler"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object"}}}]},
    })
    assert [c.metadata.name for c in crds.list_custom_resource_definition().items] == [
        "verticalpodautoscalers.autoscaling.k8s.io"]
    custom.create_namespaced_custom_object("autoscaling.k8s.io", "v1", NS,
                                           "verticalpodautoscalers", {
        "apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler",
        "metadata": {"name": "api"}, "spec": {"targetRef": {"kind": "Deployment", "name": "api"}},
    })
    cm = core.create_namespaced_config_map(NS, {"metadata": {"name": "cfg"}, "data": {"a": "1"}})
    cm.data["a"] = "2"
    updated = core.replace_namespaced_config_map("cfg", NS, cm)
    assert updated.data == {"a": "2"}
    assert int(updated.metadata.resource_version) > int(cm.metadata.resource_version)
    core.delete_namespaced_config_map("cfg", NS)
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("cfg", NS)
    assert err.value.status == 404


def test_not_found_is_the_real_status(apps: client.AppsV1Api) -> None:
    with pytest.raises(ApiException) as err:
        apps.read_namespaced_deployment("nope", NS)
    assert err.value.status == 404
    body = status_of(err.value)
    assert body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'deployments.apps "nope" not found', "reason": "NotFound",
        "details": {"name": "nope", "group": "apps", "kind": "deployments"}, "code": 404,
    }


def test_already_exists(apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment(NS, deployment())
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment(NS, deployment())
    assert err.value.status == 409
    assert status_of(err.value)["reason"] == "AlreadyExists"
    assert status_of(err.value)["message"] == 'deployments.apps "api" already exists'


def test_missing_namespace(apps: client.AppsV1Api) -> None:
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment("ghost", deployment())
    assert err.value.status == 404
    assert status_of(err.value)["message"] == 'namespaces "ghost" not found'


@pytest.mark.parametrize("name", ["Bad_Name", "-api", "x" * 254])
def test_invalid_names(apps: client.AppsV1Api, name: str) -> None:
    body = deployment()
    body["metadata"]["name"] = name
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment(NS, body)
    assert err.value.status == 422
    status = status_of(err.value)
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "metadata.name"


def test_service_names_are_dns_labels(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service(NS, {"metadata": {"name": "a.b"},
                                            "spec": {"ports": [{"port": 80}]}})
    assert err.value.status == 422
    core.create_namespaced_config_map(NS, {"metadata": {"name": "a.b"}})  # subdomain is fine


def test_selector_must_match_template(apps: client.AppsV1Api) -> None:
    body = deployment()
    body["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment(NS, body)
    assert err.value.status == 422
    assert "`selector` does not match template `labels`" in status_of(err.value)["message"]


def test_selector_is_immutable(apps: client.AppsV1Api) -> None:
    current = apps.create_namespaced_deployment(NS, deployment()).to_dict(serialize=True)
    current["spec"]["selector"] = {"matchLabels": {"app": "api", "tier": "x"}}
    current["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    with pytest.raises(ApiException) as err:
        apps.replace_namespaced_deployment("api", NS, current)
    assert err.value.status == 422
    assert "field is immutable" in status_of(err.value)["message"]


def test_generate_name(core: client.CoreV1Api) -> None:
    made = core.create_namespaced_config_map(NS, {"metadata": {"generateName": "run-"}})
    assert re.fullmatch(r"run-[a-z0-9]{5}", made.metadata.name)


def test_kind_mismatch_is_bad_request(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(NS, {"apiVersion": "v1", "kind": "Secret",
                                               "metadata": {"name": "x"}})
    assert err.value.status == 400


def test_replace_with_stale_resource_version_conflicts(apps: client.AppsV1Api) -> None:
    stale = apps.create_namespaced_deployment(NS, deployment())
    apps.patch_namespaced_deployment("api", NS, {"metadata": {"labels": {"touched": "yes"}}})
    stale.spec.replicas = 5
    with pytest.raises(ApiException) as err:
        apps.replace_namespaced_deployment("api", NS, stale)
    assert err.value.status == 409
    assert status_of(err.value)["message"] == (
        'Operation cannot be fulfilled on deployments.apps "api": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    fresh = apps.read_namespaced_deployment("api", NS)
    fresh.spec.replicas = 5
    replaced = apps.replace_namespaced_deployment("api", NS, fresh)
    assert replaced.spec.replicas == 5
    assert replaced.metadata.generation == 2
    assert replaced.metadata.uid == stale.metadata.uid


def test_replace_without_resource_version_is_unconditional(apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment(NS, deployment())
    body = deployment(replicas=4)
    replaced = apps.replace_namespaced_deployment("api", NS, body)
    assert replaced.spec.replicas == 4


def test_noop_update_keeps_resource_version(apps: client.AppsV1Api) -> None:
    created = apps.create_namespaced_deployment(NS, deployment())
    same = apps.replace_namespaced_deployment("api", NS, created)
    assert same.metadata.resource_version == created.metadata.resource_version
    assert same.metadata.generation == 1


def test_status_in_main_resource_update_is_ignored(apps: client.AppsV1Api) -> None:
    created = apps.create_namespaced_deployment(NS, deployment()).to_dict(serialize=True)
    created["status"] = {"replicas": 9, "readyReplicas": 9}
    created["spec"]["replicas"] = 3
    updated = apps.replace_namespaced_deployment("api", NS, created)
    assert updated.spec.replicas == 3
    assert updated.status is None or updated.status.replicas in (None, 0)


def test_list_with_label_and_field_selectors(kube: Kube, core: client.CoreV1Api) -> None:
    kube.store.create("pods", NS, pod("api-0", labels={"app": "api", "tier": "backend"}))
    kube.store.create("pods", NS, pod("api-1", labels={"app": "api", "tier": "backend"},
                                      ready=False))
    kube.store.create("pods", NS, pod("web-0", labels={"app": "web"}))

    def names(**kwargs: str) -> list[str]:
        return [p.metadata.name for p in core.list_namespaced_pod(NS, **kwargs).items]

    assert names() == ["api-0", "api-1", "web-0"]
    assert names(label_selector="app=api") == ["api-0", "api-1"]
    assert names(label_selector="app==api,tier=backend") == ["api-0", "api-1"]
    assert names(label_selector="app!=api") == ["web-0"]
    assert names(label_selector="app in (web, other)") == ["web-0"]
    assert names(label_selector="app notin (web)") == ["api-0", "api-1"]
    assert names(label_selector="tier") == ["api-0", "api-1"]
    assert names(label_selector="!tier") == ["web-0"]
    assert names(field_selector="status.phase=Running") == ["api-0", "web-0"]
    assert names(field_selector="metadata.name!=api-0,status.phase==Running") == ["web-0"]
    assert names(field_selector="metadata.name=web-0", label_selector="app") == ["web-0"]
    everywhere = core.list_pod_for_all_namespaces(label_selector="app=web")
    assert [p.metadata.name for p in everywhere.items] == ["web-0"]
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod(NS, label_selector="app in (a")
    assert err.value.status == 400
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod(NS, field_selector="spec.bogus=1")
    assert err.value.status == 400
    assert status_of(err.value)["message"] == "field label not supported: spec.bogus"


def test_list_pages_with_limit_and_continue(core: client.CoreV1Api) -> None:
    for n in range(5):
        core.create_namespaced_config_map(NS, {"metadata": {"name": f"cm-{n}"}})
    first = core.list_namespaced_config_map(NS, limit=2)
    assert [c.metadata.name for c in first.items] == ["cm-0", "cm-1"]
    assert first.metadata.remaining_item_count == 3
    rest = core.list_namespaced_config_map(NS, limit=10, _continue=first.metadata._continue)
    assert [c.metadata.name for c in rest.items] == ["cm-2", "cm-3", "cm-4"]


def test_namespaces_are_served(core: client.CoreV1Api) -> None:
    created = core.create_namespace({"metadata": {"name": "scratch"}})
    assert created.status.phase == "Active"
    names = [n.metadata.name for n in core.list_namespace().items]
    assert {"default", "kube-system", NS, "scratch"} <= set(names)
    assert core.read_namespace("scratch").metadata.labels == {
        "kubernetes.io/metadata.name": "scratch"}
    listed = core.list_namespace(label_selector="kubernetes.io/metadata.name=scratch")
    assert [n.metadata.name for n in listed.items] == ["scratch"]


def test_dry_run_stores_nothing(kube: Kube, apps: client.AppsV1Api,
                                core: client.CoreV1Api) -> None:
    rv = kube.store.resource_version
    dry = apps.create_namespaced_deployment(NS, deployment(), dry_run="All")
    assert dry.metadata.uid and dry.metadata.name == "api"
    with pytest.raises(ApiException):
        apps.read_namespaced_deployment("api", NS)
    apps.create_namespaced_deployment(NS, deployment())
    rv = kube.store.resource_version
    patched = apps.patch_namespaced_deployment("api", NS, {"spec": {"replicas": 7}},
                                               dry_run="All")
    assert patched.spec.replicas == 7
    scaled = apps.patch_namespaced_deployment_scale("api", NS, {"spec": {"replicas": 9}},
                                                    dry_run="All")
    assert scaled.spec.replicas == 9
    apps.delete_namespaced_deployment("api", NS, dry_run="All")
    core.delete_collection_namespaced_config_map(NS, dry_run="All")
    assert kube.store.resource_version == rv
    assert apps.read_namespaced_deployment("api", NS).spec.replicas == 2


def test_unauthenticated_and_forbidden(kube: Kube, apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment(NS, deployment())
    anonymous = client.AppsV1Api(kube.api_client("wrong-token"))
    with pytest.raises(ApiException) as err:
        anonymous.read_namespaced_deployment("api", NS)
    assert err.value.status == 401
    assert status_of(err.value)["reason"] == "Unauthorized"
    viewer_api = kube.api_client(VIEWER)
    viewer = client.AppsV1Api(viewer_api)
    assert viewer.read_namespaced_deployment("api", NS).metadata.name == "api"
    assert len(viewer.list_deployment_for_all_namespaces().items) == 1
    with pytest.raises(ApiException) as err:
        viewer.patch_namespaced_deployment("api", NS, {"spec": {"replicas": 1}})
    assert err.value.status == 403
    assert status_of(err.value)["message"] == (
        f'deployments.apps "api" is forbidden: User "{VIEWER_USER}" cannot patch resource '
        '"deployments" in API group "apps" in the namespace "noa"'
    )
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(viewer_api).list_namespaced_secret(NS)
    assert err.value.status == 403
    assert status_of(err.value)["message"] == (
        f'secrets is forbidden: User "{VIEWER_USER}" cannot list resource "secrets" in API '
        'group "" in the namespace "noa"'
    )
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(viewer_api).create_namespace({"metadata": {"name": "x"}})
    assert status_of(err.value)["message"].endswith("at the cluster scope")
