"""PATCH: what the official client sends, and the three patch flavours."""

from __future__ import annotations

import json

import pytest
import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from noa_sandbox.kube.requestlog import log_offset, read_requests

from .conftest import NS, Kube, auth, deployment

DEPLOY = f"/apis/apps/v1/namespaces/{NS}/deployments/api"


def containers(dep: client.V1Deployment) -> dict[str, str]:
    return {c.name: c.image for c in dep.spec.template.spec.containers}


def test_strategic_merge_keeps_sidecars(apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment(NS, deployment())
    patched = apps.patch_namespaced_deployment("api", NS, {"spec": {"template": {"spec": {
        "containers": [{"name": "api", "image": "registry.noa.local/noa/api:1.5.0",
                        "env": [{"name": "FEATURE_X", "value": "on"}]}]}}}})
    assert containers(patched) == {
        "api": "registry.noa.local/noa/api:1.5.0",
        "envoy": "envoyproxy/envoy:v1.30.1",
    }
    api = patched.spec.template.spec.containers[0]
    assert [(e.name, e.value) for e in api.env] == [("LOG_LEVEL", "info"), ("FEATURE_X", "on")]
    assert [p.container_port for p in api.ports] == [8080]
    assert patched.metadata.generation == 2


def test_strategic_merge_directives(apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment(NS, deployment())
    patched = apps.patch_namespaced_deployment("api", NS, {
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "api"}],
            "containers": [{"name": "envoy", "$patch": "delete"},
                           {"name": "api", "env": [{"name": "LOG_LEVEL", "$patch": "delete"}]}],
        }}},
        "metadata": {"labels": {"app": None, "team": "sre"}},
    })
    assert containers(patched) == {"api": "registry.noa.local/noa/api:1.4.0"}
    assert not patched.spec.template.spec.containers[0].env
    assert patched.metadata.labels == {"team": "sre"}
    replaced = apps.patch_namespaced_deployment("api", NS, {"spec": {"template": {"spec": {
        "containers": [{"$patch": "replace"}, {"name": "solo", "image": "solo:1"}]}}}})
    assert containers(replaced) == {"solo": "solo:1"}


def test_client_sends_strategic_for_dicts_and_json_patch_for_lists(
    kube: Kube, apps: client.AppsV1Api
) -> None:
    apps.create_namespaced_deployment(NS, deployment())
    calls: list[str] = []
    api = kube.api_client()
    original = api.rest_client.request

    def recording(method: str, url: str, headers: dict | None = None, **kwargs: object) -> object:
        result = original(method, url, headers=headers, **kwargs)
        if method == "PATCH":  # rest.py rewrites the header in place: read it afterwards
            calls.append((headers or {}).get("Content-Type", ""))
        return result

    api.rest_client.request = recording  # type: ignore[method-assign]
    patcher = client.AppsV1Api(api)
    patcher.patch_namespaced_deployment("api", NS, {"spec": {"replicas": 3}})
    patcher.patch_namespaced_deployment(
        "api", NS, [{"op": "replace", "path": "/spec/replicas", "value": 4}])
    assert calls == ["application/strategic-merge-patch+json", "application/json-patch+json"]
    assert apps.read_namespaced_deployment("api", NS).spec.replicas == 4


def test_json_patch_and_test_op(apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment(NS, deployment())
    patched = apps.patch_namespaced_deployment("api", NS, [
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "a:2"},
        {"op": "add", "path": "/metadata/annotations", "value": {"noa/reason": "drill"}},
        {"op": "add", "path": "/metadata/labels/x~1y", "value": "z"},
        {"op": "add", "path": "/spec/template/spec/containers/0/args", "value": []},
        {"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": "--x"},
        {"op": "remove", "path": "/spec/template/spec/containers/1"},
    ])
    assert containers(patched) == {"api": "a:2"}
    assert patched.metadata.annotations == {"noa/reason": "drill"}
    assert patched.metadata.labels["x/y"] == "z"
    assert patched.spec.template.spec.containers[0].args == ["--x"]
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("api", NS, [
            {"op": "test", "path": "/spec/replicas", "value": 99},
            {"op": "replace", "path": "/spec/replicas", "value": 5},
        ])
    assert err.value.status == 422
    assert apps.read_namespaced_deployment("api", NS).spec.replicas == 2
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("api", NS, [{"op": "remove", "path": "/spec/nope"}])
    assert err.value.status == 422


def test_merge_patch_replaces_lists(apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment(NS, deployment())
    patched = apps.patch_namespaced_deployment(
        "api", NS,
        {"spec": {"template": {"spec": {"containers": [{"name": "api", "image": "m:1"}]}}},
         "metadata": {"labels": {"app": None}}},
        _content_type="application/merge-patch+json",
    )
    assert containers(patched) == {"api": "m:1"}
    assert "app" not in (patched.metadata.labels or {})


def test_patch_with_stale_resource_version_conflicts(apps: client.AppsV1Api) -> None:
    created = apps.create_namespaced_deployment(NS, deployment())
    rv = created.metadata.resource_version
    apps.patch_namespaced_deployment("api", NS, {"spec": {"replicas": 3},
                                                 "metadata": {"resourceVersion": rv}})
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("api", NS, {"spec": {"replicas": 4},
                                                     "metadata": {"resourceVersion": rv}})
    assert err.value.status == 409
    assert json.loads(err.value.body)["reason"] == "Conflict"


def test_apply_patch_is_unsupported_and_unknown_types_too(
    kube: Kube, apps: client.AppsV1Api, http: urllib3.PoolManager
) -> None:
    apps.create_namespaced_deployment(NS, deployment())
    for content_type in ("application/apply-patch+yaml", "text/plain"):
        answer = http.request("PATCH", kube.url + DEPLOY, body=b'{"spec": {}}',
                              headers={**auth(), "Content-Type": content_type})
        assert answer.status == 415
        assert json.loads(answer.data)["reason"] == "UnsupportedMediaType"
    answer = http.request("PATCH", kube.url + DEPLOY, body=b"{not json",
                          headers={**auth(), "Content-Type": "application/merge-patch+json"})
    assert answer.status == 400


def test_status_changes_through_main_resource_patch_are_ignored(
    kube: Kube, apps: client.AppsV1Api
) -> None:
    apps.create_namespaced_deployment(NS, deployment())
    offset = log_offset(kube.request_log)
    patched = apps.patch_namespaced_deployment("api", NS, {"status": {"replicas": 7}})
    assert patched.status is None or patched.status.replicas in (None, 0)
    [entry] = read_requests(kube.request_log, offset)
    assert entry["verb"] == "patch" and entry["mutating"] is True
