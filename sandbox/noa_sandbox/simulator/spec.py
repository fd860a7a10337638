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
      "migrations_applied": ["0001_initial", …]
    }

``pods`` defaults to api-0..2, worker-0..1 and web-0 on the default version; an empty list means
no pod serves (the sandbox cluster writes the pods that are Ready and selected by their Service).
``releases`` are the tags the sandbox registry publishes (:data:`catalog.RELEASES` always are),
each with effects of its own (a bad build, applied to the pods that run it) and flags the sandbox
cluster follows: ``crash`` (pods crash-loop), ``migration_fails`` (its migration Job fails),
``migrations`` (extra ones it brings). ``migrations_applied`` lists the database migrations done.

Two processes write the file (``noa sandbox scenario|release`` and the sandbox cluster): they go
through :func:`update_spec`, a read-modify-write under an ``fcntl`` lock beside the file.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

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

    def info(self, version: str) -> ReleaseInfo:
        """The flags of release ``version`` (defaults when it has none)."""
        return self.release_info.get(version, ReleaseInfo())

    def effects_for(self, pod: Pod) -> Effects:
        """The scenario's effects combined with those of the release ``pod`` runs."""
        base = SCENARIOS[self.scenario].effects
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
        }


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
    )


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
    "ReleaseInfo",
    "WorldSpec",
    "default_spec",
    "lock_path",
    "parse_spec",
    "read_spec",
    "update_spec",
    "utc_text",
    "write_spec",
]
