"""The backfilled history of the data-store exporters: postgres_exporter and redis_exporter.

The series the product reads, with the names and labels the live exporters (0.11.1 and 1.45)
give them and the ``job``/``instance``/``namespace`` of the live scrape (:mod:`.exporters`);
``server`` is the stable name the scrape rewrites it to, ``datid`` is dropped there as here.
Values follow the traffic model (:func:`noa_sandbox.simulator.model.load`) on the scale of the
live sandbox, and the past incidents: while a database pool is exhausted (``pool_full``, 52 days
ago) active connections to ``noa`` climb towards the pools' combined size within minutes.

Counters of postgres_exporter have no ``_total`` suffix; OpenMetrics (the backfill's input)
requires it of a ``counter`` family, so they are written as gauges — the TSDB stores no type and
``rate()`` treats them alike. 13 Redis and 16 PostgreSQL series.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from noa_sandbox import exporters
from noa_sandbox.history_series import Series, Timeline
from noa_sandbox.simulator import catalog, model
from noa_sandbox.simulator.cache import COLD_TTL_S, DEL_SHARE, SPECS
from noa_sandbox.simulator.families import Family, Kind

Array = npt.NDArray[Any]

PG_LABELS = {
    "job": exporters.POSTGRES_JOB,
    "instance": exporters.POSTGRES_INSTANCE,
    "namespace": exporters.NAMESPACE,
    "server": exporters.POSTGRES_SERVER,
}
REDIS_LABELS = {
    "job": exporters.REDIS_JOB,
    "instance": exporters.REDIS_INSTANCE,
    "namespace": exporters.NAMESPACE,
}
DATABASE_SIZE_BYTES = 113_000_000
"""``pg_database_size_bytes{datname="noa"}`` of a freshly seeded sandbox (the history's end)."""
MAX_CONNECTIONS = 100
ACTIVITY_STATES = (
    "active",
    "disabled",
    "fastpath function call",
    "idle",
    "idle in transaction",
    "idle in transaction (aborted)",
)
EXHAUSTED_ACTIVE = sum(
    size * sum(1 for p in catalog.DEFAULT_PODS if p.service == service)
    for service, size in catalog.POOL_MAX.items()
)
"""Active connections when every pool is full (3 api × 20 + 2 worker × 10 = 80)."""
RAMP_STEPS = 4
"""Steps (of 150 s) over which active connections climb once a pool is exhausted."""
WAL_SEGMENTS_PER_S = 1 / 300
XACT_PER_S = 3.0
BLKS_HIT_PER_S = 400.0
"""Transactions and buffer hits per second on ``noa`` at load 1 (the sandbox's own scale: the
runbooks and the exporter; a hit ratio of 99 %)."""

EXPORTER_COMMANDS_PER_S = 2.2
"""Commands redis_exporter's own scrapes add (INFO, CONFIG GET, SLOWLOG, LATENCY… every 5 s)."""


def _family(name: str, kind: Kind, labels: tuple[str, ...]) -> Family:
    return Family(name, kind, "", labels)


def _counter(rate: Array, step: float) -> Array:
    result: Array = np.round(np.cumsum(rate * step))
    return result


def generate(tl: Timeline, rng: np.random.Generator) -> Iterator[Series]:
    """Every PostgreSQL and Redis exporter series of the history, family by family."""
    step = float(tl.times[1] - tl.times[0])
    yield from _postgres(tl, rng, step)
    yield from _redis(tl, rng, step)


def exhausted_ramp(tl: Timeline) -> Array:
    """Per step: 0 normally, rising to 1 over :data:`RAMP_STEPS` while a pool is exhausted."""
    full = np.array([bool(tl.effects[k].pool_full) for k in tl.effect_index.tolist()])
    out = np.zeros(tl.times.shape)
    run = 0
    for i, flag in enumerate(full.tolist()):
        run = run + 1 if flag else 0
        out[i] = min(run / RAMP_STEPS, 1.0)
    return out


def active_connections(tl: Timeline, rng: np.random.Generator) -> Array:
    """Active sessions on ``noa``: a few following the load, near the pools' size when full."""
    normal = 1.0 + 2.5 * tl.level + rng.normal(0.0, 0.5, tl.times.shape)
    ramp = exhausted_ramp(tl)
    result: Array = np.round(np.maximum(normal, 1.0) * (1 - ramp) + EXHAUSTED_ACTIVE * ramp)
    return result


def _postgres(tl: Timeline, rng: np.random.Generator, step: float) -> Iterator[Series]:
    ones = np.ones_like(tl.times)
    up_labels = {k: v for k, v in PG_LABELS.items() if k != "server"}  # as live: no `server`
    yield Series(_family("pg_up", "gauge", ()), "pg_up", up_labels, ones)
    active = active_connections(tl, rng)
    idle = np.round(np.maximum(2.0 + 2.0 * tl.level + rng.normal(0.0, 0.6, tl.times.shape), 1.0))
    in_tx = np.round(np.clip(rng.normal(0.1, 0.3, tl.times.shape), 0.0, None) + 2 * (active > 20))
    by_state = {"active": active, "idle": idle, "idle in transaction": in_tx}
    family = _family("pg_stat_activity_count", "gauge", ("datname", "state"))
    for state in ACTIVITY_STATES:
        values = by_state.get(state, np.zeros_like(tl.times))
        labels = {**PG_LABELS, "datname": "noa", "state": state}
        yield Series(family, family.name, labels, values)
    family = _family("pg_settings_max_connections", "gauge", ())
    yield Series(family, family.name, dict(PG_LABELS), ones * MAX_CONNECTIONS)
    db = {**PG_LABELS, "datname": "noa"}
    xact = XACT_PER_S * tl.level * (1 + rng.normal(0.0, 0.05, tl.times.shape))
    reads = 0.01 * BLKS_HIT_PER_S * tl.level * (1 + rng.normal(0.0, 0.1, tl.times.shape))
    deadlock_rate = np.where(active > 20, 2.0 / (45 * 60), 0.0)
    counters = {
        "pg_stat_database_blks_hit": BLKS_HIT_PER_S * tl.level
        * (1 + rng.normal(0.0, 0.05, xact.shape)),
        "pg_stat_database_blks_read": np.maximum(reads, 0.0),
        "pg_stat_database_deadlocks": deadlock_rate,
        "pg_stat_database_xact_commit": np.maximum(xact, 0.0),
    }
    for name, rate in counters.items():
        yield Series(_family(name, "gauge", ("datname",)), name, dict(db), _counter(rate, step))
    family = _family("pg_stat_database_numbackends", "gauge", ("datname",))
    yield Series(family, family.name, dict(db), active + idle + in_tx)
    growth = (tl.times - tl.times[0]) / max(float(tl.times[-1] - tl.times[0]), 1.0)
    size = DATABASE_SIZE_BYTES * (0.86 + 0.14 * growth)
    family = _family("pg_database_size_bytes", "gauge", ("datname",))
    yield Series(family, family.name, dict(db), np.round(size / 8192) * 8192)
    family = _family("pg_stat_archiver_archived_count", "gauge", ())
    archived = _counter(np.full_like(tl.times, WAL_SEGMENTS_PER_S), step)
    yield Series(family, family.name, dict(PG_LABELS), archived)
    family = _family("pg_stat_archiver_failed_count", "gauge", ())
    yield Series(family, family.name, dict(PG_LABELS), np.zeros_like(tl.times))


def cache_rates(tl: Timeline) -> dict[str, Array]:
    """Per step and second: lookups, hits, misses, sets, expires and dels of the caches
    (:mod:`noa_sandbox.simulator.cache`'s traffic at the model's API rate)."""
    api_rps: Array = np.zeros_like(tl.level)
    for endpoint in catalog.endpoints_of("api"):
        api_rps = api_rps + model.endpoint_rps(endpoint, tl.level)
    out = {k: np.zeros_like(tl.level) for k in ("get", "hits", "misses", "set", "expire", "del")}
    for cache, (per_request, ratio) in catalog.CACHES.items():
        lookups = api_rps * per_request
        out["get"] += lookups
        out["hits"] += lookups * ratio
        out["misses"] += lookups * (1 - ratio)
        out["set"] += lookups * (1 - ratio)
        out["del"] += lookups * DEL_SHARE
        if SPECS[cache].sliding:
            out["expire"] += lookups * ratio
    return out


def _redis(tl: Timeline, rng: np.random.Generator, step: float) -> Iterator[Series]:
    ones = np.ones_like(tl.times)
    yield Series(_family("redis_up", "gauge", ()), "redis_up", dict(REDIS_LABELS), ones)
    noise = rng.normal(0.0, 0.003, tl.times.shape)
    share = model.redis_share(tl.times, tl.epoch, tl.level) + noise
    family = _family("redis_memory_used_bytes", "gauge", ())
    used = np.round(np.minimum(share, 0.6) * catalog.REDIS_MAX_BYTES)
    yield Series(family, family.name, dict(REDIS_LABELS), used)
    family = _family("redis_memory_max_bytes", "gauge", ())
    yield Series(family, family.name, dict(REDIS_LABELS), ones * catalog.REDIS_MAX_BYTES)
    rates = cache_rates(tl)
    family = _family("redis_commands_total", "counter", ("cmd",))
    for cmd in catalog.REDIS_COMMANDS:
        labels = {**REDIS_LABELS, "cmd": cmd}
        yield Series(family, family.name, labels, _counter(rates[cmd], step))
    processed: Array = np.asarray(sum(rates[c] for c in catalog.REDIS_COMMANDS))
    processed = processed + EXPORTER_COMMANDS_PER_S
    family = _family("redis_commands_processed_total", "counter", ())
    yield Series(family, family.name, dict(REDIS_LABELS), _counter(processed, step))
    for name, key in (("redis_keyspace_hits_total", "hits"),
                      ("redis_keyspace_misses_total", "misses")):
        family = _family(name, "counter", ())
        yield Series(family, name, dict(REDIS_LABELS), _counter(rates[key], step))
    family = _family("redis_connected_clients", "gauge", ())
    yield Series(family, family.name, dict(REDIS_LABELS), ones * 2)
    family = _family("redis_db_keys", "gauge", ("db",))
    hot = sum(spec.keys for spec in SPECS.values())
    keys = np.round(hot + rates["misses"] * COLD_TTL_S + rng.normal(0.0, 40.0, tl.times.shape))
    yield Series(family, family.name, {**REDIS_LABELS, "db": "db0"}, keys)
    family = _family("redis_evicted_keys_total", "counter", ())
    yield Series(family, family.name, dict(REDIS_LABELS), np.zeros_like(tl.times))


__all__ = ["active_connections", "cache_rates", "exhausted_ramp", "generate"]
