"""The world file: what the simulated NOA Server should be doing, as a small JSON document.

``noa sandbox scenario NAME`` (and, later, what is deployed) write it; the simulator re-reads it
every second. Fields (all optional)::

    {
      "scenario": "error-spike",            # a name from scenarios.SCENARIOS
      "since": 1764196800.0,                # when it started (unix seconds)
      "since_utc": "2026-11-26T22:40:00Z",  # the same, for humans
      "epoch": 1756339200.0,                # start of the traffic growth (history start)
      "pods": [{"name": "api-0", "service": "api", "version": "2.14.0"}, …],
      "releases": {"2.15.0": {"error_5xx": {"api": 0.2}, "extra_latency_s": {"api": 0.5}}}
    }

``pods`` defaults to api-0..2, worker-0..1 and web-0 on the default version; ``releases`` gives a
version effects of its own (a bad build), applied to the pods that run it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from noa_lib.files import atomic_write_text
from noa_lib.sandbox.simulator import catalog
from noa_lib.sandbox.simulator.catalog import Pod
from noa_lib.sandbox.simulator.scenarios import SCENARIOS, Effects

DEFAULT_HISTORY_DAYS = 91


@dataclass(frozen=True)
class WorldSpec:
    """The parsed world file."""

    scenario: str = "normal"
    since: float = 0.0
    epoch: float = 0.0
    pods: tuple[Pod, ...] = catalog.DEFAULT_PODS
    releases: Mapping[str, Effects] = field(default_factory=lambda: MappingProxyType({}))

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
                }
                for version, e in self.releases.items()
            },
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
    return WorldSpec(
        scenario=scenario,
        since=_number(raw, "since", base.since),
        epoch=_number(raw, "epoch", base.epoch),
        pods=_pods(raw.get("pods")),
        releases=MappingProxyType(_releases(raw.get("releases"))),
    )


def _number(raw: dict[str, Any], key: str, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key!r} must be a number (unix seconds)")
    return float(value)


def _pods(raw: Any) -> tuple[Pod, ...]:
    if raw is None:
        return catalog.DEFAULT_PODS
    if not isinstance(raw, list) or not raw:
        raise ValueError("'pods' must be a non-empty list")
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


__all__ = ["WorldSpec", "default_spec", "parse_spec", "read_spec", "utc_text", "write_spec"]
