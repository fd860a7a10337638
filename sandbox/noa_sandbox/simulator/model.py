"""The behaviour of NOA Server as pure functions of time, load and :class:`Effects`.

Every function takes plain floats or numpy arrays (the history backfill evaluates 90 days at
once), so the live exporter and the backfilled history follow the same model:

- **load** — 1.0 is a weekday afternoon at the epoch: a daily cycle (peak 14:00 UTC, trough
  ~15 %), weekends at 62 %, and 40 % growth every 90 days after the epoch;
- **requests** — per endpoint: rate, status shares, a log-normal duration whose median grows
  with load and with the scenario's extra database latency;
- **resources** — CPU, memory, disk, pools, queues, Redis and AI-provider traffic.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from noa_sandbox.simulator import catalog
from noa_sandbox.simulator.catalog import Endpoint, Provider
from noa_sandbox.simulator.scenarios import Effects

DAY = 86_400.0
GROWTH_PER_90_DAYS = 0.40
WEEKEND_FACTOR = 0.62
PEAK_HOUR_UTC = 14.0

Array = npt.NDArray[np.float64]
X = TypeVar("X", float, Array)


def load(t: X, epoch: float) -> X:
    """Traffic level at unix time(s) ``t`` relative to a weekday afternoon at ``epoch``."""
    hours = (np.asarray(t) % DAY) / 3600.0
    daily = 0.575 + 0.425 * np.cos(2 * np.pi * (hours - PEAK_HOUR_UTC) / 24.0)
    weekday = (np.floor(np.asarray(t) / DAY) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    weekly = np.where(weekday >= 5, WEEKEND_FACTOR, 1.0)
    growth = 1.0 + GROWTH_PER_90_DAYS * (np.asarray(t) - epoch) / (90 * DAY)
    return _like(t, daily * weekly * growth)


def _like(template: X, value: Array) -> X:
    if isinstance(template, np.ndarray):
        return value
    return float(value)


def endpoint_rps(endpoint: Endpoint, level: X) -> X:
    """Requests per second to ``endpoint`` (whole service) at load ``level``."""
    return level * catalog.PEAK_RPS[endpoint.service] * endpoint.share


def status_shares(endpoint: Endpoint, effects: Effects) -> dict[str, float]:
    """Share of each HTTP status (``200``, ``404``, ``500``, ``503``) for ``endpoint``."""
    not_found = 0.012 if endpoint.method == "GET" else 0.002
    errors = effects.error_5xx.get(endpoint.service)
    if errors is None:
        e500, e503 = 0.002, 0.001
    else:
        e500, e503 = 0.7 * errors, 0.3 * errors
    return {"200": 1.0 - not_found - e500 - e503, "404": not_found, "500": e500, "503": e503}


def latency_median(endpoint: Endpoint, level: X, effects: Effects) -> X:
    """Median request duration (s) of ``endpoint`` at load ``level``."""
    median = endpoint.median_s * (1.0 + 0.25 * level)
    if endpoint.db_bound:
        median = median + effects.extra_latency_s.get(endpoint.service, 0.0)
    return median


def lognormal_cdf(bound: float, median: X, sigma: float = catalog.LATENCY_SIGMA) -> X:
    """Share of log-normal(``median``, ``sigma``) durations at or below ``bound``."""
    z = (math.log(bound) - np.log(median)) / (sigma * math.sqrt(2.0))
    return _like(median, 0.5 * (1.0 + _erf(np.asarray(z, dtype=np.float64))))


def lognormal_mean(median: X, sigma: float = catalog.LATENCY_SIGMA) -> X:
    """Mean of log-normal durations with this median (for the histogram's ``_sum``)."""
    return median * math.exp(sigma * sigma / 2.0)


def _erf(x: Array) -> Array:
    """Abramowitz–Stegun 7.1.26 (absolute error < 1.5e-7), vectorised."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    result: Array = sign * (1.0 - poly * np.exp(-a * a))
    return result


def pool_in_use(service: str, level: X, effects: Effects, replicas: int = 1) -> X:
    """Connections in use in one pod's pool (``POOL_MAX`` when exhausted): the normal use plus
    this pod's part of the sessions the service holds (``pool_held`` over ``replicas`` pods)."""
    size = catalog.POOL_MAX[service]
    if service in effects.pool_full:
        return _like(level, np.full_like(np.asarray(level, dtype=np.float64), float(size)))
    share = np.clip(0.14 + 0.17 * np.asarray(level) + effects.pool_pressure, 0.02, 0.95)
    held = effects.pool_held.get(service, 0.0) / max(1, replicas)
    return _like(level, np.minimum(np.round(share * size) + held, float(size)))


def cpu_ratio(service: str, level: X, effects: Effects) -> X:
    """CPU use of a pod of ``service`` as a share of its limit."""
    raw = (
        catalog.CPU_BASE[service]
        + catalog.CPU_PER_LOAD[service] * np.asarray(level)
        + effects.cpu_extra.get(service, 0.0)
    )
    return _like(level, np.clip(raw, 0.02, 0.97))


def memory_share(service: str, level: X) -> X:
    """Memory use of a pod of ``service`` as a share of its limit (no leak)."""
    return catalog.MEMORY_BASE[service] + 0.06 * level


def disk_share(t: X, epoch: float, index: int) -> X:
    """Share of a volume in use (``index`` tells volumes apart): slow growth since the epoch."""
    return 0.33 + 0.02 * index + 0.22 * (t - epoch) / (90 * DAY)


def queue_depth(queue: str, level: X) -> X:
    """Jobs waiting in ``queue`` in a healthy system."""
    idle, per_load = catalog.QUEUES[queue]
    return idle + per_load * level


def redis_share(t: X, epoch: float, level: X) -> X:
    """Share of Redis' maxmemory the caches use (the history's; live it is what the real Redis
    holds, ~40 % once the cache populations are filled)."""
    return 0.33 + 0.05 * level + 0.03 * (t - epoch) / (91 * DAY)


def ai_calls(level: X) -> X:
    """AI provider calls per second (all providers) at load ``level``."""
    total = level * 0.0
    for endpoint in catalog.ENDPOINTS:
        per_request = catalog.AI_CALLS_PER_REQUEST.get(endpoint.path, 0.0)
        total = total + endpoint_rps(endpoint, level) * per_request
    return total


def provider_shares(effects: Effects) -> dict[str, float]:
    """Share of the AI calls each provider gets (a failing provider keeps a trickle of probes).

    With an observed primary (``ai_primary``) the primary gets :data:`PRIMARY_SHARE` — failing or
    not: NOA sends its calls there and they fail — and the other providers the rest by their
    catalogue weights, except failing ones, which get only their breaker's probes
    (:data:`PROBE_SHARE`)."""
    shares = {p.name: p.share for p in catalog.PROVIDERS}
    if effects.ai_primary in shares:
        return _routed_shares(effects)
    if effects.ai_down in shares:
        lost = shares[effects.ai_down] * 0.85
        shares[effects.ai_down] -= lost
        others = [n for n in shares if n != effects.ai_down]
        weight = sum(shares[n] for n in others)
        for name in others:
            shares[name] += lost * shares[name] / weight
    return shares


# ai_provider_failover: routing by the ConfigMap's primary provider
PRIMARY_SHARE = 0.60
"""Share of the AI calls the primary provider gets (the rest are pinned to other models)."""
PROBE_SHARE = 0.01
"""Share of the AI calls a failing provider that is not the primary still gets: the half-open
circuit breaker's probes."""


def _routed_shares(effects: Effects) -> dict[str, float]:
    primary = str(effects.ai_primary)
    others = [p for p in catalog.PROVIDERS if p.name != primary]
    shares = {p.name: PROBE_SHARE for p in others if p.name in effects.ai_failing}
    healthy = [p for p in others if p.name not in effects.ai_failing]
    rest = 1.0 - PRIMARY_SHARE - PROBE_SHARE * len(shares)
    weight = sum(p.share for p in healthy)
    for p in healthy:
        shares[p.name] = rest * p.share / weight
    shares[primary] = PRIMARY_SHARE + (0.0 if healthy else rest)
    return shares


def ai_failing(provider: Provider, effects: Effects) -> bool:
    """Whether ``provider``'s API fails (the scenario's or the observed provider state)."""
    return effects.ai_down == provider.name or provider.name in effects.ai_failing


def ai_status_shares(provider: Provider, effects: Effects) -> dict[str, float]:
    """Share of ``ok``, ``error`` and ``timeout`` results for ``provider``."""
    if ai_failing(provider, effects):
        return {"ok": 0.05, "error": 0.70, "timeout": 0.25}
    return {"ok": 0.985, "error": 0.010, "timeout": 0.005}


def ai_bucket_share(provider: Provider, effects: Effects, bound: float) -> float:
    """Share of ``provider``'s calls finished within ``bound`` seconds (all results)."""
    shares = ai_status_shares(provider, effects)
    ok = float(lognormal_cdf(bound, provider.median_s, 0.45))
    fast_error = float(lognormal_cdf(bound, 0.08, 0.5))
    timeout = 1.0 if bound >= catalog.AI_TIMEOUT_S else 0.0
    return shares["ok"] * ok + shares["error"] * fast_error + shares["timeout"] * timeout


def ai_mean_duration(provider: Provider, effects: Effects) -> float:
    """Mean duration (s) of ``provider``'s calls."""
    shares = ai_status_shares(provider, effects)
    return (
        shares["ok"] * float(lognormal_mean(provider.median_s, 0.45))
        + shares["error"] * float(lognormal_mean(0.08, 0.5))
        + shares["timeout"] * catalog.AI_TIMEOUT_S
    )


def breaker_state(provider: Provider, effects: Effects) -> int:
    """Circuit breaker of ``provider``: 0 closed, 1 half-open, 2 open (a failing provider that is
    no longer the primary only gets probes: half-open)."""
    if provider.name in effects.ai_failing and effects.ai_primary not in (None, provider.name):
        return 1
    return 2 if ai_failing(provider, effects) else 0


# ddos: a flood from a few API keys, and the per-key rate limit
FLOOD_PATH = "/api/v1/chat"
"""The endpoint a flood sends its requests to."""
REJECT_MEDIAN_S = 0.002
"""Median duration of a request answered 429 (rejected before any work)."""


def flood_split(effects: Effects) -> dict[str, tuple[float, float]]:
    """API key id -> (admitted, rejected) requests per second of the flood under the per-key
    rate limit (``rate_limit_rps`` 0: everything admitted)."""
    limit = effects.rate_limit_rps
    out = {}
    for key, rps in effects.flood_rps.items():
        admitted = min(rps, limit) if limit > 0 else rps
        out[key] = (admitted, rps - admitted)
    return out


__all__ = [
    "DAY",
    "FLOOD_PATH",
    "PRIMARY_SHARE",
    "PROBE_SHARE",
    "REJECT_MEDIAN_S",
    "ai_failing",
    "flood_split",
    "ai_bucket_share",
    "ai_calls",
    "ai_mean_duration",
    "ai_status_shares",
    "breaker_state",
    "cpu_ratio",
    "disk_share",
    "endpoint_rps",
    "latency_median",
    "load",
    "lognormal_cdf",
    "lognormal_mean",
    "memory_share",
    "pool_in_use",
    "provider_shares",
    "queue_depth",
    "redis_share",
    "status_shares",
]
