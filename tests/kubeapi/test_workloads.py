"""Pod logs, the service/pod proxy and the registry endpoints, answered through the hooks."""

from __future__ import annotations

import json

import pytest
import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .conftest import NS, VIEWER, Kube, auth, pod


def test_pod_logs(kube: Kube, core: client.CoreV1Api) -> None:
    kube.store.create("pods", NS, pod("api-0"))
    kube.stub.logs["api"] = "".join(f"line {n}\n" for n in range(10))
    assert core.read_namespaced_pod_log("api-0", NS) == kube.stub.logs["api"]
    tail = core.read_namespaced_pod_log("api-0", NS, container="api", tail_lines=2,
                                        timestamps=True, since_seconds=60)
    assert tail == "line 8\nline 9\n"
    query = kube.stub.log_queries[-1]
    assert (query.container, query.tail_lines, query.timestamps, query.since_seconds) == (
        "api", 2, True, 60)
    assert core.read_namespaced_pod_log("api-0", NS, limit_bytes=4) == "line"
    viewer = client.CoreV1Api(kube.api_client(VIEWER))
    assert viewer.read_namespaced_pod_log("api-0", NS, tail_lines=1) == "line 9\n"


def test_pod_log_errors_like_the_real_server(kube: Kube, core: client.CoreV1Api) -> None:
    kube.store.create("pods", NS, pod("two", containers=("api", "envoy")))

    def message(**kwargs: object) -> str:
        with pytest.raises(ApiException) as err:
            core.read_namespaced_pod_log("two", NS, **kwargs)
        assert err.value.status == 400
        return json.loads(err.value.body)["message"]

    assert message() == ("a container name must be specified for pod two, choose one of: "
                         "[api envoy]")
    assert message(container="nope") == "container nope is not valid for pod two"
    assert message(container="api", previous=True) == (
        'previous terminated container "api" in pod "two" not found')
    kube.store.mutate("pods", NS, "two", lambda p: p["status"].update(containerStatuses=[
        {"name": "api", "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]))
    kube.stub.logs["api"] = "before the crash\n"
    assert core.read_namespaced_pod_log("two", NS, container="api", previous=True) == \
        "before the crash\n"
    assert kube.stub.log_queries[-1].previous is True
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("ghost", NS)
    assert err.value.status == 404


def test_service_proxy_picks_ready_pods(kube: Kube, core: client.CoreV1Api) -> None:
    core.create_namespaced_service(NS, {"metadata": {"name": "api"}, "spec": {
        "selector": {"app": "api"}, "ports": [{"name": "http", "port": 80}]}})
    with pytest.raises(ApiException) as err:
        core.connect_get_namespaced_service_proxy_with_path("api", NS, "healthz")
    assert err.value.status == 503
    assert json.loads(err.value.body)["message"] == 'no endpoints available for service "api"'
    kube.store.create("pods", NS, pod("api-0"))
    kube.store.create("pods", NS, pod("api-1", ready=False))
    kube.store.create("pods", NS, pod("web-0", labels={"app": "web"}))
    raw = core.connect_get_namespaced_service_proxy_with_path(
        "api:http", NS, "healthz/ready", _preload_content=False)
    answer = json.loads(raw.data)
    assert answer == {"path": "/healthz/ready", "method": "GET", "pods": ["api-0"]}
    request = kube.stub.proxied[-1]
    assert "authorization" not in {k.lower() for k in request.headers}


def test_pod_proxy(kube: Kube, core: client.CoreV1Api, http: urllib3.PoolManager) -> None:
    kube.store.create("pods", NS, pod("api-0"))
    kube.store.create("pods", NS, pod("api-1", ready=False))
    answer = http.request("POST", f"{kube.url}/api/v1/namespaces/{NS}/pods/api-0:8080/proxy/"
                          "admin/flush?all=1", body=b"{}", headers=auth())
    assert answer.status == 200
    assert json.loads(answer.data) == {"path": "/admin/flush?all=1", "method": "POST",
                                       "pods": ["api-0"]}
    pending = http.request("GET", f"{kube.url}/api/v1/namespaces/{NS}/pods/api-1/proxy/",
                           headers=auth())
    assert pending.status == 503
    viewer = http.request("POST", f"{kube.url}/api/v1/namespaces/{NS}/pods/api-0/proxy/x",
                          headers=auth(VIEWER))
    assert viewer.status == 403


def test_registry(kube: Kube, http: urllib3.PoolManager) -> None:
    digest = "sha256:" + "ab" * 32
    kube.stub.digests[("noa/api", "1.5.0")] = digest
    root = http.request("GET", f"{kube.url}/v2/")
    assert root.status == 200 and json.loads(root.data) == {}
    head = http.request("HEAD", f"{kube.url}/v2/noa/api/manifests/1.5.0")
    assert head.status == 200
    assert head.headers["Docker-Content-Digest"] == digest
    assert head.headers["Content-Type"] == "application/vnd.oci.image.manifest.v1+json"
    assert head.data == b""
    get = http.request("GET", f"{kube.url}/v2/noa/api/manifests/1.5.0")
    manifest = json.loads(get.data)
    assert manifest["schemaVersion"] == 2 and get.headers["Docker-Content-Digest"] == digest
    missing = http.request("GET", f"{kube.url}/v2/noa/api/manifests/9.9.9")
    assert missing.status == 404
    assert json.loads(missing.data) == {"errors": [{"code": "MANIFEST_UNKNOWN",
                                                    "message": "manifest unknown"}]}
