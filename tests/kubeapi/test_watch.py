"""Watch streams with the official client's ``Watch`` helper."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from .conftest import NS, Kube, deployment, pod


def test_watch_sees_a_concurrent_change(kube: Kube, apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment(NS, deployment())
    changer = threading.Timer(
        0.5, lambda: kube.store.mutate("deployments", NS, "api",
                                       lambda d: d["spec"].update(replicas=4)))
    changer.start()
    seen: list[tuple[str, int]] = []
    stream = watch.Watch()
    started = time.monotonic()
    for event in stream.stream(apps.list_namespaced_deployment, NS, timeout_seconds=5):
        seen.append((event["type"], event["object"].spec.replicas))
        assert isinstance(event["object"], client.V1Deployment)
        if len(seen) == 2:
            stream.stop()
    changer.join()
    assert seen == [("ADDED", 2), ("MODIFIED", 4)]
    assert time.monotonic() - started < 5


def test_watch_times_out_and_resumes_from_resource_version(
    kube: Kube, apps: client.AppsV1Api
) -> None:
    listed = apps.list_namespaced_deployment(NS)
    rv = listed.metadata.resource_version
    apps.create_namespaced_deployment(NS, deployment())
    apps.delete_namespaced_deployment("api", NS)
    events = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(apps.list_namespaced_deployment, NS,
                                      resource_version=rv, timeout_seconds=1)
    ]
    assert events == [("ADDED", "api"), ("DELETED", "api")]


def test_watch_with_selectors_reports_entering_and_leaving(
    kube: Kube, core: client.CoreV1Api
) -> None:
    kube.store.create("pods", NS, pod("api-0"))
    rv = core.list_namespaced_pod(NS).metadata.resource_version
    kube.store.mutate("pods", NS, "api-0", lambda p: p["metadata"]["labels"].update(app="web"))
    kube.store.mutate("pods", NS, "api-0", lambda p: p["metadata"]["labels"].update(app="api"))
    kube.store.create("pods", NS, pod("web-1", labels={"app": "web"}))
    events = [
        (e["type"], e["object"].metadata.name)
        for e in watch.Watch().stream(core.list_namespaced_pod, NS, label_selector="app=api",
                                      resource_version=rv, timeout_seconds=1)
    ]
    assert events == [("DELETED", "api-0"), ("ADDED", "api-0")]
    by_field = [
        e["object"].metadata.name
        for e in watch.Watch().stream(core.list_namespaced_pod, NS,
                                      field_selector="metadata.name=web-1", timeout_seconds=1)
    ]
    assert by_field == ["web-1"]


def test_too_old_resource_version_is_410(kube: Kube, core: client.CoreV1Api) -> None:
    from noa_sandbox.kube.store import Store

    small = Store(window=3)
    kube.server.store = small  # a store with a tiny retained window
    small.create("namespaces", None, {"metadata": {"name": NS}})
    for n in range(5):
        small.create("configmaps", NS, {"metadata": {"name": f"cm-{n}"}})
    with pytest.raises(ApiException) as err:
        list(watch.Watch().stream(core.list_namespaced_config_map, NS, resource_version="2",
                                  timeout_seconds=1))
    assert err.value.status == 410
    assert "too old resource version" in str(err.value.reason)


def test_raw_watch_is_chunked_json_lines(kube: Kube, http, apps: client.AppsV1Api) -> None:
    import json

    from .conftest import auth

    apps.create_namespaced_deployment(NS, deployment())
    answer = http.request(
        "GET", f"{kube.url}/apis/apps/v1/namespaces/{NS}/deployments?watch=true&timeoutSeconds=1",
        headers=auth(), preload_content=False)
    assert answer.headers["Transfer-Encoding"] == "chunked"
    lines = [json.loads(line) for line in answer.read().decode().splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in lines] == [("ADDED", "api")]
    assert lines[0]["object"]["kind"] == "Deployment"


def test_client_disconnect_ends_the_watch(kube: Kube) -> None:
    import socket

    from .conftest import ADMIN

    def handler_threads() -> int:
        return sum(1 for t in threading.enumerate() if t.name.startswith("Thread-"))

    host, port = kube.server.server_address[:2]
    before = handler_threads()
    sock = socket.create_connection((str(host), port))
    sock.sendall(
        f"GET /api/v1/namespaces/{NS}/pods?watch=1 HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {ADMIN}\r\n\r\n".encode()
    )
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    assert handler_threads() > before
    sock.close()
    deadline = time.monotonic() + 10
    while handler_threads() > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert handler_threads() == before
