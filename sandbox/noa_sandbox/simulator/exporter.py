"""The simulator process: a :class:`World` ticking every second, exposed on ``/metrics``.

Only the metric contract (:mod:`.families`) is exposed on ``/metrics`` — no process or platform
collectors — on its own ``prometheus_client`` registry. The cluster's exporters have paths of
their own (:func:`route`): ``/kubelet/<node>/metrics/cadvisor``, ``/kubelet/<node>/metrics`` and
``/node-exporter/<node>/metrics``; any other path is 404. The world file is re-read whenever it
changes (checked every tick); an invalid file is logged and the previous world kept. The process
exits on SIGTERM, SIGINT, or when its state directory disappears (an orphan cleans itself up).
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any
from wsgiref.simple_server import make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler
from prometheus_client.registry import Collector

from noa_sandbox.simulator import catalog
from noa_sandbox.simulator.cache import RedisCaches
from noa_sandbox.simulator.families import FAMILIES
from noa_sandbox.simulator.observing import ObservingThread
from noa_sandbox.simulator.spec import WorldSpec, read_spec
from noa_sandbox.simulator.world import World

log = logging.getLogger("noa.simulator")

TICK_S = 1.0
ORPHAN_GRACE_S = 10.0


class WorldCollector(Collector):
    """Renders a :class:`World` snapshot as the contract's metric families."""

    def __init__(self, world: World) -> None:
        self._world = world

    def collect(self) -> Iterator[Metric]:
        snap = self._world.snapshot()
        for family in FAMILIES:
            labels = list(family.labels)
            if family.kind == "histogram":
                hist = HistogramMetricFamily(family.name, family.help, labels=labels)
                for values, h in sorted(snap.histograms.get(family.name, {}).items()):
                    count = math.floor(h.count)
                    buckets = [
                        (le, min(math.floor(n), count))
                        for le, n in zip(catalog.BUCKET_LABELS, h.buckets, strict=True)
                    ]
                    buckets.append(("+Inf", count))
                    hist.add_metric(list(values), buckets, round(h.total, 3))
                yield hist
                continue
            metric: CounterMetricFamily | GaugeMetricFamily
            if family.kind == "counter":
                metric = CounterMetricFamily(family.name, family.help, labels=labels)
            else:
                metric = GaugeMetricFamily(family.name, family.help, labels=labels)
            for values, value in sorted(snap.values.get(family.name, {}).items()):
                shown = float(math.floor(value)) if family.kind == "counter" else value
                if family.name == "noa_ai_provider_cost_usd_total":
                    shown = round(value, 4)
                metric.add_metric(list(values), shown)
            yield metric


class ExporterCollector(Collector):
    """One node's families of one cluster exporter (``cadvisor``, ``kubelet``,
    ``node-exporter``)."""

    def __init__(self, world: World, endpoint: str, node: str) -> None:
        self._world, self._endpoint, self._node = world, endpoint, node

    def collect(self) -> Iterator[Metric]:
        yield from self._world.exporter_families(self._endpoint, self._node, time.time()) or []


def route(path: str) -> tuple[str, str] | None:
    """``(endpoint, node)`` for a cluster exporter's path; ``None`` for ``/metrics`` or others."""
    parts = path.strip("/").split("/")
    if len(parts) == 4 and parts[0] == "kubelet" and parts[2:] == ["metrics", "cadvisor"]:
        return "cadvisor", parts[1]
    if len(parts) == 3 and parts[0] == "kubelet" and parts[2] == "metrics":
        return "kubelet", parts[1]
    if len(parts) == 3 and parts[0] == "node-exporter" and parts[2] == "metrics":
        return "node-exporter", parts[1]
    return None


def _app(world: World) -> Callable[[dict[str, Any], Any], Iterable[bytes]]:
    """The WSGI application: NOA's ``/metrics`` and the cluster exporters' paths."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorldCollector(world))
    noa = make_wsgi_app(registry)
    apps: dict[tuple[str, str], Callable[[dict[str, Any], Any], Iterable[bytes]]] = {}

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path in ("/metrics", "/metrics/"):
            answer: Iterable[bytes] = noa(environ, start_response)
            return answer
        key = route(path)
        if key is None or key[1] not in world.infra.nodes:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if key not in apps:
            node_registry = CollectorRegistry(auto_describe=False)
            node_registry.register(ExporterCollector(world, *key))
            apps[key] = make_wsgi_app(node_registry)
        return apps[key](environ, start_response)

    return app


class SpecWatcher:
    """Re-reads the world file when its modification time or size changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None

    def poll(self) -> WorldSpec | None:
        """The new spec when the file changed and is valid, else ``None``."""
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = (0, 0)
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        try:
            return read_spec(self.path)
        except (OSError, ValueError) as exc:
            log.warning("ignoring world file %s: %s", self.path, exc)
            return None


def run(
    port: int,
    spec_path: Path,
    *,
    host: str = "127.0.0.1",
    tick: float = TICK_S,
    caches: RedisCaches | None = None,
) -> int:
    """Serve ``/metrics`` on ``host:port`` until signalled; returns the exit code.

    ``caches`` sends the cache lookups to Redis; without it hits follow the catalogue's ratios.
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    watcher = SpecWatcher(spec_path)
    first = watcher.poll() or read_spec(spec_path)
    world = World(first) if caches is None else World(first, caches=caches.lookups)
    now = time.time()
    world.step(now, tick)
    server = make_server(host, port, _app(world), ThreadingWSGIServer,
                         handler_class=_SilentHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    watching = ObservingThread(spec_path, stop)
    watching.start()
    log.info("serving http://%s:%d/metrics; scenario %s", host, port, world.spec.scenario)
    orphaned_since: float | None = None
    last = now
    try:
        while not stop.wait(max(0.0, tick - (time.time() - last))):
            now = time.time()
            spec = watcher.poll()
            if spec is not None:
                if spec.scenario != world.spec.scenario:
                    log.info("scenario %s -> %s", world.spec.scenario, spec.scenario)
                world.apply(spec)
            world.step(now, min(now - last, 10 * tick))
            last = now
            if spec_path.parent.is_dir():
                orphaned_since = None
            elif orphaned_since is None:
                orphaned_since = now
            elif now - orphaned_since > ORPHAN_GRACE_S:
                log.warning("state directory %s is gone: exiting", spec_path.parent)
                break
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        watching.join(timeout=5)
    return 0


__all__ = ["ExporterCollector", "SpecWatcher", "WorldCollector", "route", "run"]
