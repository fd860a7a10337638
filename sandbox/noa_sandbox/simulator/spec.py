"""The world file: what the simulated NOA Server should be doing, as a small JSON document.

``noa sandbox scenario NAME`` (and, later, what is deployed) write it; the simulator re-reads it
every second. Fields (all optional)::

    {
      "scenario": "error-spike",            # a name from scenarios.SCENARIOS
      "since": 1764196800.0,                # when it started (unix seconds)
      "since_utc": "2026-11-26T22:40:00Z",  # the same, for humans
      "epoch": 1756339200.0,                # start of the traffic growth (history start)
      "pods": [{"name": "api-0", "service": "api", "version": "2.14.0"}, …],
      "releases": {"2.15.0": {"error_5xx": {"api": 0.2}, "extra_latency_s": {"api": 0.5},
                              "crash": false, "migration_fails": false, "migrations": []}},
      "migrations_applied": ["0001_initial", …],
      "containers": [{"namespace": "noa", "pod": "api-7d9f…-x2kq", "uid": "…", "node":
                      "sandbox-node-1", "container": "api", "image": "…", "id": "containerd://…",
                      "service": "api", "serving": true, "cpu_request": 0.25, "cpu_limit": 1.0,
                      "memory_request": 536870912, "memory_limit": 1073741824}, …],
      "nodes": [{"name": "sandbox-node-1", "ip": "172.18.0.2", "cpu": 4.0, "memory": …}, …],
      "volumes": [{"namespace": "noa", "name": "noa-uploads", "capacity": 21474836480,
                   "node": "sandbox-node-2"}, …]
    }

``pods`` defaults to api-0..2, worker-0..1 and web-0 on the default version; an empty list means
no pod serves (the sandbox cluster writes the pods that are Ready and selected by their Service).
``releases`` are the tags the sandbox registry publishes (:data:`catalog.RELEASES` always are),
each with effects of its own (a bad build, applied to the pods that run it) and flags the sandbox
cluster follows: ``crash`` (pods crash-loop), ``migration_fails`` (its migration Job fails),
``migrations`` (extra ones it brings). ``migrations_applied`` lists the database migrations done.
``containers`` are the *running* containers of NOA's pods (serving or not: a blue-green green
idles), ``nodes`` the cluster's nodes and ``volumes`` the mounted PVCs with the node of the pod
mounting them: the simulator's kubelets, cAdvisor and node-exporter publish them. Without them
(no cluster) the serving pods' containers are spread over :data:`catalog.NODES`
(:func:`default_infrastructure`).

Two processes write the file (``noa sandbox scenario|release`` and the sandbox cluster): they go
through :func:`update_spec`, a read-modify-write under an ``fcntl`` lock beside the file.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from noa_lib.files import atomic_write_text, exclusive_flock
from noa_sandbox.simulator import catalog
from noa_sandbox.simulator.catalog import Pod
from noa_sandbox.simulator.scenarios import SCENARIOS, Effects

DEFAULT_HISTORY_DAYS = 91


@dataclass(frozen=True)
class ReleaseInfo:
    """What a release does besides its effects on traffic."""

    crash: bool = False
    migration_fails: bool = False
    migrations: tuple[str, ...] = ()


def _default_releases() -> Mapping[str, Effects]:
    return MappingProxyType({version: Effects() for version in catalog.RELEASES})


def _default_applied() -> tuple[str, ...]:
    return tuple(
        m for version, ms in catalog.MIGRATIONS.items() if version <= catalog.DEFAULT_VERSION
        for m in ms
    )


@dataclass(frozen=True)
class Container:
    """A running container of one of NOA's pods, as the kubelet of ``node`` sees it."""

    namespace: str
    pod: str
    uid: str
    node: str
    name: str
    image: str
    id: str
    service: str
    serving: bool
    cpu_request: float
    cpu_limit: float
    memory_request: float
    memory_limit: float


@dataclass(frozen=True)
class Node:
    """A node: name, InternalIP, CPU cores and memory bytes (capacity)."""

    name: str
    ip: str
    cpu: float
    memory: float


@dataclass(frozen=True)
class Volume:
    """A mounted PVC: capacity (bytes) and a node whose kubelet reports it (one per node)."""

    namespace: str
    name: str
    capacity: float
    node: str


@dataclass(frozen=True)
class WorldSpec:
    """The parsed world file."""

    scenario: str = "normal"
    since: float = 0.0
    epoch: float = 0.0
    pods: tuple[Pod, ...] = catalog.DEFAULT_PODS
    releases: Mapping[str, Effects] = field(default_factory=_default_releases)
    release_info: Mapping[str, ReleaseInfo] = field(
        default_factory=lambda: MappingProxyType({})
    )
    migrations_applied: tuple[str, ...] = field(default_factory=_default_applied)
    containers: tuple[Container, ...] | None = None
    nodes: tuple[Node, ...] | None = None
    volumes: tuple[Volume, ...] | None = None
    observed: Effects = field(default_factory=Effects)
    observed_since: float = 0.0

    @property
    def effects(self) -> Effects:
        """What is in force now: the scenario's own effects (for scenarios still simulated as
        effects) with the effects the simulator observes in real state (:attr:`observed`: held
        sessions, the ConfigMap's settings… — see :mod:`noa_sandbox.causes`)."""
        return SCENARIOS[self.scenario].effects.merged(self.observed)

    def infrastructure(self) -> tuple[tuple[Container, ...], tuple[Node, ...],
                                      tuple[Volume, ...]]:
        """Containers, nodes and volumes: the cluster's, or :func:`default_infrastructure`."""
        default = default_infrastructure(self.pods)
        return (default[0] if self.containers is None else self.containers,
                default[1] if self.nodes is None else self.nodes,
                default[2] if self.volumes is None else self.volumes)

    def info(self, version: str) -> ReleaseInfo:
        """The flags of release ``version`` (defaults when it has none)."""
        return self.release_info.get(version, ReleaseInfo())

    def effects_for(self, pod: Pod) -> Effects:
        """The effects in force (:attr:`effects`) combined with those of the release ``pod``
        runs."""
        base = self.effects
        release = self.releases.get(pod.version)
        return base if release is None else base.merged(release)

    def to_json(self) -> dict[str, Any]:
        """The JSON document for this spec."""
        return {
            "scenario": self.scenario,
            "since": self.since,
            "since_utc": utc_text(self.since),
            "epoch": self.epoch,
            "pods": [
                {"name": p.name, "service": p.service, "version": p.version} for p in self.pods
            ],
            "releases": {
                version: {
                    "error_5xx": dict(e.error_5xx),
                    "extra_latency_s": dict(e.extra_latency_s),
                    "cpu_extra": dict(e.cpu_extra),
                    "pool_pressure": e.pool_pressure,
                    "crash": self.info(version).crash,
                    "migration_fails": self.info(version).migration_fails,
                    "migrations": list(self.info(version).migrations),
                }
                for version, e in self.releases.items()
            },
            "migrations_applied": list(self.migrations_applied),
            **({} if self.containers is None else
               {"containers": [asdict(c) for c in self.containers]}),
            **({} if self.nodes is None else {"nodes": [asdict(n) for n in self.nodes]}),
            **({} if self.volumes is None else {"volumes": [asdict(v) for v in self.volumes]}),
            **({} if self.observed.empty else
               {"observed": self.observed.to_json(), "observed_since": self.observed_since}),
        }


def default_infrastructure(pods: tuple[Pod, ...]) -> tuple[tuple[Container, ...],
                                                          tuple[Node, ...], tuple[Volume, ...]]:
    """Without a cluster: one container per serving pod on the nodes in turn, the catalogue's
    nodes, each service's PVC on the node of its first pod."""
    nodes = tuple(Node(n, catalog.NODE_IPS[n], catalog.NODE_CPU, float(catalog.NODE_MEMORY))
                  for n in catalog.NODES)
    containers = []
    for i, pod in enumerate(pods):
        uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"noa-sandbox/pod/{pod.name}"))
        containers.append(Container(
            namespace="noa", pod=pod.name, uid=uid, node=catalog.NODES[i % len(catalog.NODES)],
            name=pod.service, image=f"registry.noa.example/noa-server:{pod.version}",
            id="containerd://" + uuid.uuid5(uuid.NAMESPACE_URL, uid).hex * 2,
            service=pod.service, serving=True, cpu_request=catalog.CPU_REQUEST[pod.service],
            cpu_limit=catalog.CPU_LIMIT[pod.service],
            memory_request=float(catalog.MEMORY_REQUEST[pod.service]),
            memory_limit=float(catalog.MEMORY_LIMIT[pod.service])))
    volumes = []
    for service, (claim, _, size) in catalog.VOLUMES.items():
        node = next((c.node for c in containers if c.service == service), catalog.NODES[0])
        volumes.append(Volume("noa", claim, float(size), node))
    return tuple(containers), nodes, tuple(volumes)


def utc_text(timestamp: float) -> str:
    """``2026-11-26T22:40:00Z`` for a unix time."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_spec(now: float | None = None) -> WorldSpec:
    """A normal world whose growth started :data:`DEFAULT_HISTORY_DAYS` days before ``now``."""
    current = time.time() if now is None else now
    return WorldSpec(since=current, epoch=current - DEFAULT_HISTORY_DAYS * 86_400.0)


def parse_spec(raw: Any, *, now: float | None = None) -> WorldSpec:
    """Validate a decoded world file.

    Raises:
        ValueError: unknown scenario, malformed pods or releases (the message says which).
    """
    if not isinstance(raw, dict):
        raise ValueError("the world file must hold a JSON object")
    base = default_spec(now)
    scenario = raw.get("scenario", "normal")
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; accepted: {', '.join(SCENARIOS)}")
    applied = raw.get("migrations_applied")
    if applied is not None and (
        not isinstance(applied, list) or not all(isinstance(m, str) for m in applied)
    ):
        raise ValueError("'migrations_applied' must be a list of migration names")
    return WorldSpec(
        scenario=scenario,
        since=_number(raw, "since", base.since),
        epoch=_number(raw, "epoch", base.epoch),
        pods=_pods(raw.get("pods")),
        releases=MappingProxyType({**base.releases, **_releases(raw.get("releases"))}),
        release_info=MappingProxyType(_release_info(raw.get("releases"))),
        migrations_applied=base.migrations_applied if applied is None else tuple(applied),
        containers=_records(raw, "containers", Container),
        nodes=_records(raw, "nodes", Node),
        volumes=_records(raw, "volumes", Volume),
        observed=Effects.from_json(raw.get("observed") or {}),
        observed_since=_number(raw, "observed_since", 0.0),
    )


_R = TypeVar("_R", Container, Node, Volume)
_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {"str": str, "bool": bool,
                                                    "float": (int, float)}


def _records(raw: dict[str, Any], key: str, cls: type[_R]) -> tuple[_R, ...] | None:
    """``raw[key]`` as a tuple of ``cls`` (``None`` when absent).

    Raises:
        ValueError: not a list of objects with exactly the fields of ``cls`` (right types).
    """
    items = raw.get(key)
    if items is None:
        return None
    if not isinstance(items, list):
        raise ValueError(f"{key!r} must be a list of objects")
    out = []
    kinds = {f.name: f.type for f in fields(cls)}
    for item in items:
        if not isinstance(item, dict) or set(item) != set(kinds):
            raise ValueError(f"each of {key!r} needs exactly the fields {sorted(kinds)}")
        for name, value in item.items():
            want: type | tuple[type, ...] = _FIELD_TYPES[str(kinds[name])]
            if not isinstance(value, want) or (want is not bool and isinstance(value, bool)):
                raise ValueError(f"{key}: {name} must be a {kinds[name]}, got {value!r}")
        out.append(cls(**item))
    return tuple(out)


def _number(raw: dict[str, Any], key: str, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key!r} must be a number (unix seconds)")
    return float(value)


def _pods(raw: Any) -> tuple[Pod, ...]:
    if raw is None:
        return catalog.DEFAULT_PODS
    if not isinstance(raw, list):
        raise ValueError("'pods' must be a list (empty: no pod serves)")
    pods = []
    for item in raw:
        if not isinstance(item, dict):
            raise ValueError("each pod must be an object with name, service and version")
        name, service = item.get("name"), item.get("service")
        version = item.get("version", catalog.DEFAULT_VERSION)
        if not isinstance(name, str) or not name or service not in catalog.SERVICES:
            raise ValueError(f"pod {item!r}: needs a name and a service in {catalog.SERVICES}")
        if not isinstance(version, str) or not version:
            raise ValueError(f"pod {name}: version must be a non-empty string")
        pods.append(Pod(name, service, version))
    if len({p.name for p in pods}) != len(pods):
        raise ValueError("pod names must be unique")
    return tuple(pods)


def _releases(raw: Any) -> dict[str, Effects]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError("'releases' must map versions to effects")
    out = {}
    for version, effects in raw.items():
        if not isinstance(effects, dict):
            raise ValueError(f"release {version}: effects must be an object")
        out[str(version)] = Effects(
            error_5xx=MappingProxyType(_shares(effects.get("error_5xx"), version)),
            extra_latency_s=MappingProxyType(_shares(effects.get("extra_latency_s"), version)),
            cpu_extra=MappingProxyType(_shares(effects.get("cpu_extra"), version)),
            pool_pressure=float(effects.get("pool_pressure", 0.0)),
        )
    return out


def _release_info(raw: Any) -> dict[str, ReleaseInfo]:
    out = {}
    for version, entry in (raw or {}).items():
        migrations = entry.get("migrations") or []
        if not isinstance(migrations, list) or not all(isinstance(m, str) for m in migrations):
            raise ValueError(f"release {version}: 'migrations' must be a list of names")
        info = ReleaseInfo(
            crash=bool(entry.get("crash", False)),
            migration_fails=bool(entry.get("migration_fails", False)),
            migrations=tuple(migrations),
        )
        if info != ReleaseInfo():
            out[str(version)] = info
    return out


def _shares(raw: Any, version: str) -> dict[str, float]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        k in catalog.SERVICES and isinstance(v, int | float) for k, v in raw.items()
    ):
        raise ValueError(f"release {version}: effects map a service to a number")
    return {k: float(v) for k, v in raw.items()}


def read_spec(path: Path, *, now: float | None = None) -> WorldSpec:
    """Read and validate the world file; a missing file is a normal world.

    Raises:
        ValueError: the file is not valid JSON or not a valid spec.
        OSError: it exists but cannot be read.
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        return default_spec(now)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    return parse_spec(raw, now=now)


def write_spec(path: Path, spec: WorldSpec) -> None:
    """Write the world file atomically (the simulator never sees half of it)."""
    atomic_write_text(path, json.dumps(spec.to_json(), indent=2) + "\n", mode=0o644)


def lock_path(path: Path) -> Path:
    """The lock file guarding read-modify-writes of the world file ``path``."""
    return path.with_name(path.name + ".lock")


def _locked(path: Path, timeout: float) -> contextlib.AbstractContextManager[None]:
    return exclusive_flock(
        lock_path(path), timeout=timeout, interval=0.02,
        busy=lambda: TimeoutError(f"world file {path} stayed locked {timeout:.0f}s"))


def update_spec(
    path: Path,
    fn: Callable[[WorldSpec], WorldSpec],
    *,
    broken: Callable[[], WorldSpec] | None = None,
    timeout: float = 10.0,
) -> WorldSpec:
    """Read the world file, apply ``fn``, write the result, all under the file's lock.

    A missing file reads as :func:`default_spec`; an unreadable one raises unless ``broken``
    gives the spec to start from instead. Nothing is written when ``fn`` changed nothing.

    Returns:
        The spec now in force.

    Raises:
        ValueError: the file is invalid (and no ``broken``).
        TimeoutError: another writer held the lock for ``timeout`` seconds.
    """
    with _locked(path, timeout):
        exists = path.is_file()
        try:
            spec = read_spec(path)
        except (OSError, ValueError):
            if broken is None:
                raise
            spec, exists = broken(), False
        updated = fn(spec)
        if updated != spec or not exists:
            write_spec(path, updated)
        return updated


__all__ = [
    "Container",
    "Node",
    "ReleaseInfo",
    "Volume",
    "default_infrastructure",
    "WorldSpec",
    "default_spec",
    "lock_path",
    "parse_spec",
    "read_spec",
    "update_spec",
    "utc_text",
    "write_spec",
]
