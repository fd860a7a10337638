"""Scenarios: named situations the simulated NOA Server can be put in, as data.

A scenario is a set of :class:`Effects` on the otherwise normal behaviour. The live exporter
applies the effects of the current scenario (``noa sandbox scenario NAME``); the history backfill
applies them during the past incidents; a release can carry effects too (a bad build), which is
how the world will follow what is deployed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


def _frozen(values: Mapping[str, float] | None = None) -> Mapping[str, float]:
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True)
class Effects:
    """Departures from normal behaviour (all optional; the default is a healthy system).

    ``error_5xx``: service -> share of its responses with a 5xx status (replaces the normal
    ~0.3 %). ``extra_latency_s``: service -> seconds added to the median of its database-bound
    endpoints. ``pool_full``: services whose database pools are exhausted (in use == max).
    ``pool_pressure``: share of every pool additionally held by slow queries. ``cpu_extra``:
    service -> CPU ratio added. ``ai_down``: an AI provider that fails (circuit breaker open).
    ``oom_pod``: a pod whose memory climbs to its limit and is OOM-killed again and again.
    ``disk_filling_volume``: a PVC (of namespace ``noa``) that fills up. ``backlog_queue``: a
    queue whose consumers fall behind. ``pool_held``: service -> database sessions its pods hold
    (observed in ``pg_stat_activity``: idle in transaction or waiting), spread over its pods'
    pools on top of the normal use. ``volume_used``: PVC (of namespace ``noa``) -> bytes
    written on it beyond its ordinary use (observed: what the sandbox keeps in the volume's
    directory, see :mod:`noa_sandbox.causes.disk`).

    AI provider routing (observed from the ConfigMap, see :mod:`noa_sandbox.causes.ai_provider`):
    ``ai_primary``: the provider NOA sends its AI calls to (``None``: the catalogue's mix, as
    before any observation); ``ai_failing``: providers whose API fails (the provider's state,
    outside NOA). DDoS (:mod:`noa_sandbox.causes.ddos`): ``flood_rps``: API key id -> requests per
    second a flood sends to the api; ``rate_limit_rps``: the per-key limit NOA enforces (0: none)
    — above it a key's requests are answered 429.
    """

    error_5xx: Mapping[str, float] = field(default_factory=_frozen)
    extra_latency_s: Mapping[str, float] = field(default_factory=_frozen)
    pool_full: frozenset[str] = frozenset()
    pool_pressure: float = 0.0
    cpu_extra: Mapping[str, float] = field(default_factory=_frozen)
    ai_down: str | None = None
    oom_pod: str | None = None
    disk_filling_volume: str | None = None
    backlog_queue: str | None = None
    pool_held: Mapping[str, float] = field(default_factory=_frozen)
    volume_used: Mapping[str, float] = field(default_factory=_frozen)
    # ai_provider_failover / ddos: routing, provider state, flood and rate limit
    ai_primary: str | None = None
    ai_failing: frozenset[str] = frozenset()
    flood_rps: Mapping[str, float] = field(default_factory=_frozen)
    rate_limit_rps: float = 0.0

    @property
    def empty(self) -> bool:
        """No departure from normal behaviour."""
        return self == Effects()

    def to_json(self) -> dict[str, Any]:
        """The JSON form (only the fields that depart from normal)."""
        out: dict[str, Any] = {}
        for key in ("error_5xx", "extra_latency_s", "cpu_extra", "pool_held", "volume_used",
                    "flood_rps"):
            if getattr(self, key):
                out[key] = dict(getattr(self, key))
        if self.pool_full:
            out["pool_full"] = sorted(self.pool_full)
        if self.pool_pressure:
            out["pool_pressure"] = self.pool_pressure
        for key in ("ai_down", "oom_pod", "disk_filling_volume", "backlog_queue", "ai_primary"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.ai_failing:
            out["ai_failing"] = sorted(self.ai_failing)
        if self.rate_limit_rps:
            out["rate_limit_rps"] = self.rate_limit_rps
        return out

    @classmethod
    def from_json(cls, raw: Any) -> Effects:
        """Effects from :meth:`to_json`'s form.

        Raises:
            ValueError: not an object of known fields with the right types.
        """
        if not isinstance(raw, dict):
            raise ValueError("effects must be a JSON object")
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown effects: {', '.join(sorted(unknown))}")

        def shares(key: str) -> Mapping[str, float]:
            value = raw.get(key) or {}
            if not isinstance(value, dict) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()
            ):
                raise ValueError(f"{key} must map services to numbers")
            return _frozen({str(k): float(v) for k, v in value.items()})

        def name(key: str) -> str | None:
            value = raw.get(key)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{key} must be a name")
            return value

        pool_full = raw.get("pool_full") or []
        if not isinstance(pool_full, list) or not all(isinstance(v, str) for v in pool_full):
            raise ValueError("pool_full must be a list of services")
        pressure = raw.get("pool_pressure", 0.0)
        if isinstance(pressure, bool) or not isinstance(pressure, int | float):
            raise ValueError("pool_pressure must be a number")
        failing = raw.get("ai_failing") or []
        if not isinstance(failing, list) or not all(isinstance(v, str) for v in failing):
            raise ValueError("ai_failing must be a list of providers")
        limit = raw.get("rate_limit_rps", 0.0)
        if isinstance(limit, bool) or not isinstance(limit, int | float):
            raise ValueError("rate_limit_rps must be a number")
        return cls(
            error_5xx=shares("error_5xx"), extra_latency_s=shares("extra_latency_s"),
            pool_full=frozenset(pool_full), pool_pressure=float(pressure),
            cpu_extra=shares("cpu_extra"), ai_down=name("ai_down"), oom_pod=name("oom_pod"),
            disk_filling_volume=name("disk_filling_volume"),
            backlog_queue=name("backlog_queue"), pool_held=shares("pool_held"),
            volume_used=shares("volume_used"),
            ai_primary=name("ai_primary"), ai_failing=frozenset(failing),
            flood_rps=shares("flood_rps"), rate_limit_rps=float(limit),
        )

    def merged(self, other: Effects) -> Effects:
        """These effects combined with ``other`` (the worse error share, added latencies)."""
        return Effects(
            error_5xx=_frozen(_merge(self.error_5xx, other.error_5xx, _max)),
            extra_latency_s=_frozen(_merge(self.extra_latency_s, other.extra_latency_s, _add)),
            pool_full=self.pool_full | other.pool_full,
            pool_pressure=self.pool_pressure + other.pool_pressure,
            cpu_extra=_frozen(_merge(self.cpu_extra, other.cpu_extra, _add)),
            ai_down=self.ai_down or other.ai_down,
            oom_pod=self.oom_pod or other.oom_pod,
            disk_filling_volume=self.disk_filling_volume or other.disk_filling_volume,
            backlog_queue=self.backlog_queue or other.backlog_queue,
            pool_held=_frozen(_merge(self.pool_held, other.pool_held, _add)),
            volume_used=_frozen(_merge(self.volume_used, other.volume_used, _add)),
            ai_primary=self.ai_primary or other.ai_primary,
            ai_failing=self.ai_failing | other.ai_failing,
            flood_rps=_frozen(_merge(self.flood_rps, other.flood_rps, _add)),
            rate_limit_rps=self.rate_limit_rps or other.rate_limit_rps,
        )


def _add(a: float, b: float) -> float:
    return a + b


def _max(a: float, b: float) -> float:
    return max(a, b)


def _merge(
    a: Mapping[str, float], b: Mapping[str, float], how: Callable[[float, float], float]
) -> dict[str, float]:
    out = dict(a)
    for key, value in b.items():
        out[key] = how(out[key], value) if key in out else value
    return out


@dataclass(frozen=True)
class Scenario:
    """A named situation: what it simulates and what a runbook should find."""

    name: str
    summary: str
    shows: str
    effects: Effects


SCENARIOS: Mapping[str, Scenario] = MappingProxyType(
    {
        s.name: s
        for s in (
            Scenario(
                "normal", "healthy system with daily and weekly traffic", "nothing", Effects()
            ),
            # error-spike, complete-outage: real causes (noa_sandbox.causes.bad_release)
            Scenario(
                "error-spike",
                "a bad release rolled out to the api Deployment: its pods fail ~30 % of requests",
                "5xx ratio above 10 % (api ~30 %), errors by version name the new release",
                Effects(),
            ),
            Scenario(
                "slow-db",
                "a NOA worker session holds a row lock; api and worker statements wait on it "
                "(real sessions in PostgreSQL, see noa_sandbox.causes.pg_sessions)",
                "p95 latency above 2 s, lock waits in pg_stat_activity, pools fuller",
                Effects(),
            ),
            Scenario(
                "pool-exhausted",
                "NOA sessions held idle in transaction fill the api and worker pools "
                "(real sessions in PostgreSQL, see noa_sandbox.causes.pg_sessions)",
                "pool in use == max, 503s and slower requests",
                Effects(),
            ),
            Scenario(  # caused: noa_sandbox.causes.ai_provider (openai failing, the primary)
                "ai-provider-down",
                "OpenAI fails while it is NOA's primary provider: calls error or time out, its "
                "circuit breaker opens",
                "openai error/timeout share ~95 %, breaker state 2 (open), some api 5xx",
                Effects(),
            ),
            Scenario(
                "oom",
                "the worker Deployment's memory limit is below what the worker needs: its pods "
                "are OOM-killed again and again",
                "memory near the limit, restarts with reason OOMKilled",
                Effects(),  # real cause: noa_sandbox.causes.oom (the Deployment's limit)
            ),
            Scenario(
                "disk-filling",
                "the noa-uploads volume (mounted by web) fills up",
                "volume used rising above 90 %",
                Effects(),  # real cause: noa_sandbox.causes.disk (bytes in the volume)
            ),
            Scenario(
                "queue-backlog",
                "workers fall behind: the default queue grows",
                "queue depth above 1000, workers' CPU near the limit",
                Effects(backlog_queue="default", cpu_extra=_frozen({"worker": 0.5})),
            ),
            Scenario(
                "complete-outage",
                "the release rolled out to the api Deployment crash-loops on every pod",
                "no serving api pod: replicas unavailable == desired, no api traffic",
                Effects(),
            ),
            Scenario(  # caused: noa_sandbox.causes.ddos (a flood from three API keys)
                "ddos",
                "a flood of /api/v1/chat requests from three API keys of two organizations",
                "api request rate ~3x normal, CPU near the limit, latency up, some 5xx; "
                "429s once a per-key rate limit is set",
                Effects(),
            ),
        )
    }
)

NAMES = tuple(SCENARIOS)
"""Accepted scenario names, ``normal`` first."""

__all__ = ["NAMES", "SCENARIOS", "Effects", "Scenario"]
