"""The sandbox cluster and the simulated NOA Server agree on what runs: the world file.

The simulator (:mod:`noa_sandbox.simulator`) serves metrics for the ``pods`` of the world
file; the cluster decides which pods those are. A pod **serves traffic** when it is Running and
Ready, carries label ``app`` = api|worker|web, is outside ``kube-system``, and either its
namespace has no Service named after that component (``worker``) or that Service's selector
selects it — so a blue-green "green" Deployment gets no traffic until the Service is switched, and
a canary pod matching the Service's selector gets its share. :func:`serving_pods` computes the
set; :class:`WorldSync` writes it (only when it changed; an empty list means nothing serves) and
reads the world back (scenario, releases) for the controller, the pod logs and the proxy.

Writes go through :func:`~noa_sandbox.simulator.spec.update_spec` (locked: ``noa sandbox
scenario|release`` write the same file). Without a world file (tests of the API server) the world
lives in memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from noa_sandbox.kube import registry
from noa_sandbox.kube.hooks import Obj
from noa_sandbox.kube.objects import pod_ready
from noa_sandbox.kube.selectors import matches_map
from noa_sandbox.simulator import catalog
from noa_sandbox.simulator.catalog import Pod
from noa_sandbox.simulator.spec import (
    Container,
    Node,
    Volume,
    WorldSpec,
    default_spec,
    read_spec,
    update_spec,
)

log = logging.getLogger("noa.kube.world")

Infrastructure = tuple[tuple[Container, ...], tuple[Node, ...], tuple[Volume, ...]]
"""Running containers, nodes and mounted volumes (see :mod:`.worldinfra`)."""

REREAD_S = 0.05
"""The world file is checked (stat) at most this often and re-read when it changed."""


def is_ready(pod: Obj) -> bool:
    """True for a Running pod whose ``Ready`` condition is ``True``."""
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or pod["metadata"].get("deletionTimestamp"):
        return False
    return pod_ready(pod)


def component(pod: Obj) -> str | None:
    """The NOA Server component a pod runs (label ``app``), or ``None``."""
    app = (pod["metadata"].get("labels") or {}).get("app")
    return app if app in catalog.SERVICES else None


def pod_version(pod: Obj) -> str:
    """The release a pod runs: the tag of its container named after the component (or the
    first container)."""
    containers = (pod.get("spec") or {}).get("containers") or []
    if not containers:
        return catalog.DEFAULT_VERSION
    name = component(pod)
    chosen = next((c for c in containers if c.get("name") == name), containers[0])
    return registry.parse_image(str(chosen.get("image", ""))).tag or catalog.DEFAULT_VERSION


def serving_pods(pods: Iterable[Obj], services: Iterable[Obj]) -> tuple[Pod, ...]:
    """The simulator's pods for the cluster's Ready, selected pods (sorted by service, name)."""
    by_name: dict[tuple[str, str], Mapping[str, Any]] = {
        (s["metadata"].get("namespace", ""), s["metadata"]["name"]): s for s in services
    }
    out = []
    for pod in pods:
        meta = pod["metadata"]
        namespace = meta.get("namespace", "")
        app = component(pod)
        if app is None or namespace == "kube-system" or not is_ready(pod):
            continue
        service = by_name.get((namespace, app))
        if service is not None:
            selector = (service.get("spec") or {}).get("selector")
            if not matches_map(meta.get("labels"), selector):
                continue
        out.append(Pod(meta["name"], app, pod_version(pod)))
    return tuple(sorted(out, key=lambda p: (p.service, p.name)))


class WorldSync:
    """Reads and writes the world file for the cluster. Thread-safe."""

    def __init__(self, world_file: Path | None) -> None:
        self.path = world_file
        self._lock = threading.Lock()
        self._spec = default_spec()
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._written: tuple[tuple[Pod, ...], Infrastructure | None] | None = None

    def spec(self) -> WorldSpec:
        """The world in force (re-read when the file changed, at most every ``REREAD_S``)."""
        with self._lock:
            now = time.monotonic()
            if self.path is not None and now - self._checked >= REREAD_S:
                self._checked = now
                self._reload()
            return self._spec

    def _reload(self) -> None:
        assert self.path is not None
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            return
        if stamp == self._stamp:
            return
        try:
            self._spec = read_spec(self.path)
            self._stamp = stamp
        except (OSError, ValueError) as exc:
            log.warning("ignoring world file %s: %s", self.path, exc)

    def publish_pods(self, pods: tuple[Pod, ...], infra: Infrastructure | None = None) -> bool:
        """Make ``pods`` the world's serving pods (and ``infra`` its running containers, nodes
        and volumes); True when the file was written."""
        with self._lock:
            if (pods, infra) == self._written:
                return False

            def change(spec: WorldSpec) -> WorldSpec:
                if infra is None:
                    return replace(spec, pods=pods)
                return replace(spec, pods=pods, containers=infra[0], nodes=infra[1],
                               volumes=infra[2])

            self._spec = self._update(change)
            self._written = (pods, infra)
            return True

    def apply_migrations(self, names: Iterable[str]) -> None:
        """Record database migrations as applied (a migration Job succeeded)."""
        wanted = tuple(names)

        def add(spec: WorldSpec) -> WorldSpec:
            applied = spec.migrations_applied + tuple(
                m for m in wanted if m not in spec.migrations_applied
            )
            return replace(spec, migrations_applied=applied)

        with self._lock:
            self._spec = self._update(add)

    def _update(self, fn: Any) -> WorldSpec:
        if self.path is None:
            result: WorldSpec = fn(self._spec)
            return result
        try:
            spec = update_spec(self.path, fn, broken=default_spec)
        except (OSError, TimeoutError) as exc:
            log.warning("could not update world file %s: %s", self.path, exc)
            return self._spec
        try:
            st = self.path.stat()
            self._stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            self._stamp = None
        return spec


__all__ = ["Infrastructure", "WorldSync", "component", "is_ready", "pod_version", "serving_pods"]
