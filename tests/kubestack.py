"""The sandbox's Kubernetes API in-process, with its simulated cluster attached, for one test.

:func:`start_cluster` lays out a state directory like the sandbox's (world file at
``<state>/simulator/world.json``, the API's files under ``<state>/kube``), attaches the cluster
(seeded, controller running, pods Ready after ``ready_delay`` s) to a fresh :class:`Store` and
serves it on a free loopback port; :meth:`InProcessCluster.stop` stops all of it. Tests talk to it
over HTTP only (the official ``kubernetes`` client or our clients), never through the store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from noa_sandbox.kube import cluster as kube_cluster
from noa_sandbox.kube.auth import Principal
from noa_sandbox.kube.cluster import Cluster
from noa_sandbox.kube.server import KubeApiServer, make_server
from noa_sandbox.kube.store import Store
from noa_sandbox.layout import Layout
from noa_sandbox.simulator.spec import default_spec, write_spec


@dataclass
class InProcessCluster:
    """A running API server with the cluster attached."""

    store: Store
    server: KubeApiServer
    cluster: Cluster
    state: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def request_log(self) -> Path:
        return self.state / "kube" / "requests.jsonl"

    def stop(self) -> None:
        self.cluster.stop()
        self.server.shutdown()
        self.server.server_close()
        self.store.close()


def start_cluster(
    state: Path, tokens: Mapping[str, Principal], *, ready_delay: float = 0.3
) -> InProcessCluster:
    """Serve a freshly seeded cluster whose files live under ``state``."""
    layout = Layout(state)
    write_spec(layout.world_file, default_spec())
    store = Store(state / "kube" / "store.json")
    hooks = kube_cluster.attach(store, world_file=layout.world_file, state_dir=state / "kube",
                                ready_delay=ready_delay)
    server = make_server(store, "127.0.0.1", 0, hooks=hooks, tokens=tokens,
                         request_log=state / "kube" / "requests.jsonl")
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                     daemon=True).start()
    return InProcessCluster(store, server, hooks.extra["cluster"], state)


def wait_until(predicate: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.05,
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
