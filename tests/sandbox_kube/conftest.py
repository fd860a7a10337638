"""The sandbox API server in-process with the simulated cluster attached, and client fixtures.

``cluster`` starts a fresh :class:`Store` under ``tmp_path`` served by :func:`make_server`,
with :func:`noa_lib.sandbox.kube.cluster.attach` (seeded, controller running, pods Ready after
:data:`READY_DELAY` s) and a world file at ``<tmp>/simulator/world.json`` (the sandbox layout, so
:func:`noa_lib.sandbox.releases.mark_release` works on ``tmp_path``). Tests talk to it with the
official ``kubernetes`` client over HTTP.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client

from noa_lib.sandbox.kube import cluster as kube_cluster
from noa_lib.sandbox.kube.auth import Principal
from noa_lib.sandbox.kube.cluster import Cluster
from noa_lib.sandbox.kube.server import KubeApiServer, make_server
from noa_lib.sandbox.kube.store import Store
from noa_lib.sandbox.layout import Layout
from noa_lib.sandbox.simulator.spec import default_spec, read_spec, write_spec

ADMIN = "admin-token"
NS = "noa"
READY_DELAY = 0.3


@dataclass
class Running:
    """A running API server with the cluster attached."""

    store: Store
    server: KubeApiServer
    cluster: Cluster
    url: str
    state: Path

    @property
    def world_file(self) -> Path:
        return Layout(self.state).world_file

    def world(self) -> Any:
        return read_spec(self.world_file)

    def api_client(self, token: str = ADMIN) -> client.ApiClient:
        config = client.Configuration(host=self.url, api_key={"authorization": f"Bearer {token}"})
        return client.ApiClient(config)


def wait_until(predicate: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.05,
               what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def rolled_out(apps: client.AppsV1Api, name: str) -> bool:
    d = apps.read_namespaced_deployment(name, NS)
    s = d.status
    return bool(
        (s.observed_generation or 0) >= (d.metadata.generation or 0)
        and (s.updated_replicas or 0) == d.spec.replicas
        and (s.replicas or 0) == d.spec.replicas
        and (s.available_replicas or 0) == d.spec.replicas
    )


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Running]:
    layout = Layout(tmp_path)
    write_spec(layout.world_file, default_spec())
    store = Store(tmp_path / "kube" / "store.json")
    hooks = kube_cluster.attach(store, world_file=layout.world_file, state_dir=tmp_path / "kube",
                                ready_delay=READY_DELAY)
    server = make_server(store, "127.0.0.1", 0, hooks=hooks,
                         tokens={ADMIN: Principal("system:admin", "admin")},
                         request_log=tmp_path / "kube" / "requests.jsonl")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    running = Running(store, server, hooks.extra["cluster"], server.url, tmp_path)
    yield running
    running.cluster.stop()
    server.shutdown()
    server.server_close()
    store.close()


@pytest.fixture
def api(cluster: Running) -> client.ApiClient:
    return cluster.api_client()


@pytest.fixture
def apps(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def batch(api: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(api)


@pytest.fixture
def seeded(cluster: Running, apps: client.AppsV1Api) -> Running:
    """The cluster once the seed's release (2.14.0) has rolled out everywhere."""
    for name in ("api", "worker", "web"):
        wait_until(lambda n=name: rolled_out(apps, n), what=f"{name} rolled out")
    return cluster


def http_call(cluster: Running, method: str, path: str, body: Any = None,
              headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """A raw HTTP call with the admin token."""
    pool = urllib3.PoolManager()
    all_headers = {"Authorization": f"Bearer {ADMIN}", **(headers or {})}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    rsp = pool.request(method, cluster.url + path, body=data, headers=all_headers)
    return rsp.status, dict(rsp.headers), rsp.data
