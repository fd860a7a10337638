"""The sandbox API server in-process with the simulated cluster attached, and client fixtures.

``cluster`` starts a fresh :class:`Store` under ``tmp_path`` served by :func:`make_server`,
with :func:`noa_sandbox.kube.cluster.attach` (seeded, controller running, pods Ready after
:data:`READY_DELAY` s) and a world file at ``<tmp>/simulator/world.json`` (the sandbox layout, so
:func:`noa_sandbox.releases.mark_release` works on ``tmp_path``). Tests talk to it with the
official ``kubernetes`` client over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client
from kubestack import InProcessCluster, start_cluster, wait_until

from noa_sandbox.kube.auth import Principal
from noa_sandbox.kube.cluster import Cluster
from noa_sandbox.kube.store import Store
from noa_sandbox.layout import Layout
from noa_sandbox.simulator.spec import read_spec

ADMIN = "admin-token"
NS = "noa"
READY_DELAY = 0.3


@dataclass
class Running:
    """A running API server with the cluster attached."""

    stack: InProcessCluster

    @property
    def store(self) -> Store:
        return self.stack.store

    @property
    def cluster(self) -> Cluster:
        return self.stack.cluster

    @property
    def url(self) -> str:
        return self.stack.url

    @property
    def state(self) -> Path:
        return self.stack.state

    @property
    def world_file(self) -> Path:
        return Layout(self.state).world_file

    def world(self) -> Any:
        return read_spec(self.world_file)

    def api_client(self, token: str = ADMIN) -> client.ApiClient:
        config = client.Configuration(host=self.url, api_key={"authorization": f"Bearer {token}"})
        return client.ApiClient(config)


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
    stack = start_cluster(tmp_path, {ADMIN: Principal("system:admin", "admin")},
                          ready_delay=READY_DELAY)
    yield Running(stack)
    stack.stop()


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
