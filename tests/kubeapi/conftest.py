"""An in-process sandbox API server on a free loopback port, and official-client fixtures.

``kube`` starts a fresh :class:`Store` (persisted under ``tmp_path``) served by
:func:`make_server` with stub hooks; tests talk to it only over HTTP with the official
``kubernetes`` client (``apps``/``core`` fixtures) or urllib3 (``http``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client

from noa_sandbox.kube.auth import Principal
from noa_sandbox.kube.hooks import Hooks, LogQuery, ProxyRequest, ProxyResponse
from noa_sandbox.kube.server import KubeApiServer, make_server
from noa_sandbox.kube.store import Store

ADMIN = "admin-token"
VIEWER = "viewer-token"
VIEWER_USER = "system:serviceaccount:noa:viewer"
NS = "noa"


@dataclass
class StubCluster:
    """Hook answers the tests control, and what the hooks were asked."""

    logs: dict[str, str] = field(default_factory=dict)  # container -> text
    log_queries: list[LogQuery] = field(default_factory=list)
    proxied: list[ProxyRequest] = field(default_factory=list)
    digests: dict[tuple[str, str], str] = field(default_factory=dict)

    def pod_logs(self, pod: dict[str, Any], query: LogQuery) -> str:
        self.log_queries.append(query)
        return self.logs.get(query.container, "")

    def proxy(self, request: ProxyRequest) -> ProxyResponse:
        self.proxied.append(request)
        body = {"path": request.path, "method": request.method,
                "pods": [p["metadata"]["name"] for p in request.pods]}
        return ProxyResponse(200, json.dumps(body).encode())

    def image_digest(self, repository: str, tag: str) -> str | None:
        return self.digests.get((repository, tag))

    def hooks(self) -> Hooks:
        return Hooks(pod_logs=self.pod_logs, proxy=self.proxy, image_digest=self.image_digest)


@dataclass
class Kube:
    """A running server: its store, URL, request log and a way to restart it."""

    store: Store
    server: KubeApiServer
    url: str
    state: Path
    stub: StubCluster
    thread: threading.Thread

    @property
    def request_log(self) -> Path:
        return self.state / "requests.jsonl"

    def api_client(self, token: str = ADMIN) -> client.ApiClient:
        config = client.Configuration(host=self.url, api_key={"authorization": f"Bearer {token}"})
        return client.ApiClient(config)


def start(state: Path, stub: StubCluster) -> Kube:
    store = Store(state / "store.json")
    tokens = {
        ADMIN: Principal("system:admin", "admin"),
        VIEWER: Principal(VIEWER_USER, "view"),
    }
    server = make_server(store, "127.0.0.1", 0, hooks=stub.hooks(), tokens=tokens,
                         request_log=state / "requests.jsonl")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    return Kube(store, server, server.url, state, stub, thread)


def stop(kube: Kube) -> None:
    kube.server.shutdown()
    kube.server.server_close()
    kube.store.close()


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[Kube]:
    running = start(tmp_path, StubCluster())
    running.store.create("namespaces", None, {"metadata": {"name": NS}})
    yield running
    stop(running)


@pytest.fixture
def restart(kube: Kube) -> Callable[[], Kube]:
    """Stop the server and start a new one (new Store) on the same state directory."""

    def again() -> Kube:
        stop(kube)
        fresh = start(kube.state, kube.stub)
        kube.__dict__.update(fresh.__dict__)
        return kube

    return again


@pytest.fixture
def api(kube: Kube) -> client.ApiClient:
    return kube.api_client()


@pytest.fixture
def apps(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def http() -> urllib3.PoolManager:
    return urllib3.PoolManager()


def auth(token: str = ADMIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def deployment(name: str = "api", *, replicas: int = 2, labels: dict[str, str] | None = None,
               sidecar: bool = True) -> dict[str, Any]:
    """A Deployment manifest with an app container (and an envoy sidecar)."""
    pod_labels = {"app": name}
    containers = [{"name": name, "image": f"registry.noa.local/noa/{name}:1.4.0",
                   "ports": [{"containerPort": 8080, "name": "http"}],
                   "env": [{"name": "LOG_LEVEL", "value": "info"}]}]
    if sidecar:
        containers.append({"name": "envoy", "image": "envoyproxy/envoy:v1.30.1"})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name, **(labels or {})}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": pod_labels},
            "template": {"metadata": {"labels": pod_labels}, "spec": {"containers": containers}},
        },
    }


def pod(name: str, *, labels: dict[str, str] | None = None, ready: bool = True,
        containers: tuple[str, ...] = ("api",), owner: dict[str, Any] | None = None
        ) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels or {"app": "api"}}
    if owner is not None:
        meta["ownerReferences"] = [owner]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": c, "image": f"img/{c}:1"} for c in containers]},
        "status": {
            "phase": "Running" if ready else "Pending",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def owner_ref(obj: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"],
            "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}
