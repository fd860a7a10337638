"""The simulated cluster behind the sandbox Kubernetes API: :func:`attach` wires it to a store.

The API server (``python -m noa_sandbox.kube``) calls :func:`attach` once at start. It seeds
an empty store (:mod:`.seed`: NOA Server at 2.13.0, then — after the controller made revision 1 —
2.14.0, so every Deployment has two revisions), starts the controller thread
(:mod:`.controller`), and returns the :class:`~.hooks.Hooks` the server calls for what comes from
running workloads: pod logs (:mod:`.podlogs`), the service/pod proxy (:mod:`.behaviour`) and the
registry's manifests (:mod:`.registry`). The world file (:mod:`.worldsync`) ties the cluster to
the simulated NOA Server's metrics.

Pods become Ready :data:`DEFAULT_READY_DELAY` seconds after they are created
(``NOA_SANDBOX_KUBE_READY_DELAY`` overrides it).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from noa_sandbox.kube import podlogs, registry, seed
from noa_sandbox.kube.behaviour import Behaviour
from noa_sandbox.kube.controller import Controller
from noa_sandbox.kube.hooks import Hooks, LogQuery, Obj
from noa_sandbox.kube.store import Store
from noa_sandbox.kube.worldsync import WorldSync

log = logging.getLogger("noa.kube.cluster")

READY_DELAY_ENV = "NOA_SANDBOX_KUBE_READY_DELAY"
DEFAULT_READY_DELAY = 1.0


@dataclass(frozen=True)
class Cluster:
    """The running parts (``Hooks.extra["cluster"]``): stop it with :meth:`stop`."""

    store: Store
    controller: Controller
    world: WorldSync
    behaviour: Behaviour

    def stop(self) -> None:
        """Stop the controller thread."""
        self.controller.stop()

    def pod_logs(self, pod: Obj, query: LogQuery) -> str:
        return podlogs.render(pod, query, self.world.spec(), time.time())

    def image_digest(self, repository: str, tag: str) -> str | None:
        return registry.image_digest(self.world.spec(), repository, tag)


def ready_delay_from_env() -> float:
    """The pod ready delay: ``NOA_SANDBOX_KUBE_READY_DELAY`` or 1 s."""
    raw = os.environ.get(READY_DELAY_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_READY_DELAY
    except ValueError:
        log.warning("%s=%r is not a number; using %.1f s", READY_DELAY_ENV, raw,
                    DEFAULT_READY_DELAY)
        return DEFAULT_READY_DELAY
    return max(value, 0.0)


def attach(
    store: Store,
    *,
    world_file: Path | None,
    state_dir: Path,
    ready_delay: float | None = None,
    start: bool = True,
) -> Hooks:
    """Seed ``store`` when it is empty, start the controller, return the hooks.

    ``state_dir`` is the API server's directory (unused for now: everything the cluster keeps
    lives in the store and the world file). ``start=False`` leaves the controller thread
    unstarted (tests drive :meth:`Controller.run_once` themselves).
    """
    world = WorldSync(world_file)
    delay = ready_delay_from_env() if ready_delay is None else ready_delay
    controller = Controller(store, world, ready_delay=delay)
    if seed.is_empty(store):
        count = seed.seed_objects(store)
        controller.run_once()  # revision 1 of every Deployment …
        seed.upgrade(store)  # … and the release that makes revision 2
        controller.run_once()
        log.info("seeded the sandbox cluster with %d objects", count)
    else:
        seed.ensure_infrastructure(store)
    if start:
        controller.start()
    behaviour = Behaviour(world.spec)
    cluster = Cluster(store=store, controller=controller, world=world, behaviour=behaviour)
    return Hooks(
        pod_logs=cluster.pod_logs,
        proxy=behaviour,
        image_digest=cluster.image_digest,
        extra={"cluster": cluster},
    )


__all__ = ["DEFAULT_READY_DELAY", "READY_DELAY_ENV", "Cluster", "attach", "ready_delay_from_env"]
