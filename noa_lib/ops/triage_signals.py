"""The live signals incident triage reads: one batch of catalogue queries, in parallel.

Each :class:`SignalSpec` names a catalogue query and its breakdown; :func:`read_signals` runs them
all at one instant against the target's Prometheus and returns :class:`Signals`: per signal, each
series' value keyed by its label values (``"api"``, ``"api /v1/chat"``), the PromQL that ran (the
evidence), and which signals could not be read (a query that fails is recorded, never fatal).
Values are in the query's unit (``%`` for shares, ``s``, ``jobs``…). ``baseline`` readings are the
same queries ``offset`` earlier (e.g. the request rate a day ago, for a flood).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from noa_lib.config import Target
from noa_lib.errors import ClientError
from noa_lib.ops import metrics
from noa_lib.ops.promql import get_query, parse_duration


@dataclass(frozen=True)
class SignalSpec:
    """Signal ``name``: catalogue query ``query`` broken down ``by`` (``()``: one total), read
    ``offset`` seconds before the triage instant (a baseline), over ``window`` when it needs its
    own (else the triage window)."""

    name: str
    query: str
    by: tuple[str, ...]
    offset_s: float = 0.0
    window: str | None = None


BASELINE_OFFSET_S = 86_400.0
"""The baseline is the same window one day earlier (daily seasonality)."""

SPECS: tuple[SignalSpec, ...] = (
    SignalSpec("error_pct", "error_rate", ("service",)),
    SignalSpec("error_pct_total", "error_rate", ()),
    SignalSpec("endpoint_error_pct", "error_rate", ("service", "endpoint")),
    SignalSpec("version_error_pct", "error_rate", ("service", "version")),
    SignalSpec("requests", "request_count", ("service",)),
    SignalSpec("endpoint_requests", "request_count", ("service", "endpoint")),
    SignalSpec("request_rate", "request_rate", ("service",)),
    SignalSpec("baseline_request_rate", "request_rate", ("service",), BASELINE_OFFSET_S),
    SignalSpec("latency_p95", "latency_p95", ("service",)),
    SignalSpec("latency_p95_total", "latency_p95", ()),
    SignalSpec("cpu_pct", "cpu_usage", ("service",)),
    SignalSpec("memory_pct", "memory_usage", ("service",)),
    SignalSpec("pool_pct", "db_pool_usage", ("service",)),
    SignalSpec("db_connections_pct", "db_connections", ()),
    SignalSpec("db_up", "db_up", ()),
    SignalSpec("oom_kills", "oom_kills", ("service",)),
    # kills of the containers running now, over 15 min: a kill every few minutes is still an OOM
    # loop, and containers replaced by a cure no longer count
    SignalSpec("oom_recent", "oom_kills", ("service",), window="15m"),
    SignalSpec("restarts", "restarts", ("service",)),
    SignalSpec("disk_pct", "disk_usage", ("persistentvolumeclaim",)),
    SignalSpec("queue_depth", "queue_depth", ("queue",)),
    SignalSpec("ai_error_pct", "ai_error_rate", ("provider",)),
    SignalSpec("breaker", "circuit_breaker_state", ("provider",)),
    SignalSpec("unavailable", "replicas_unavailable", ("deployment",)),
    SignalSpec("scrape_up", "scrape_up", ("service",)),
)


@dataclass(frozen=True)
class Signals:
    """What :func:`read_signals` read at ``at`` over ``window``."""

    window: str
    at: datetime
    values: Mapping[str, Mapping[str, float]]
    promql: Mapping[str, str] = field(default_factory=dict)
    unreadable: Mapping[str, str] = field(default_factory=dict)

    def get(self, name: str) -> Mapping[str, float]:
        """Signal ``name``'s series (``{}`` when it has none or was not read)."""
        return self.values.get(name, {})

    def total(self, name: str) -> float | None:
        """The single value of a signal read without breakdown (``None`` without data)."""
        series = self.get(name)
        return next(iter(series.values())) if series else None

    def worst(self, name: str) -> tuple[str, float] | None:
        """The series with the highest value (``None`` without data)."""
        series = self.get(name)
        if not series:
            return None
        key = max(series, key=lambda k: series[k])
        return key, series[key]

    def services_down(self) -> tuple[str, ...]:
        """Services serving no traffic while they did a day ago or have unavailable replicas."""
        rate, before = self.get("request_rate"), self.get("baseline_request_rate")
        unavailable = self.get("unavailable")
        return tuple(sorted(
            s for s in set(before) | set(unavailable)
            if rate.get(s, 0.0) < 0.01
            and (before.get(s, 0.0) > 0.1 or unavailable.get(s, 0.0) > 0)
        ))

    def evidence(self, *names: str) -> dict[str, object]:
        """The values and PromQL of ``names``, for a finding's or a cause's evidence."""
        return {name: {"values": dict(self.get(name)), "promql": self.promql.get(name)}
                for name in names}


def _key(labels: Mapping[str, str], by: tuple[str, ...]) -> str:
    return " ".join(labels.get(label, "") for label in by) if by else "all"


def _job(prom: metrics.Prometheus, spec: SignalSpec, window: str,
         at: datetime) -> Callable[[], metrics.Reading]:
    moment = at - timedelta(seconds=spec.offset_s)
    query = get_query(spec.query)
    return lambda: metrics.read(prom, query, window=spec.window or window, at=moment, by=spec.by)


def read_signals(target: Target, *, window: str, at: datetime,
                 specs: tuple[SignalSpec, ...] = SPECS) -> Signals:
    """Read every signal of ``specs`` at ``at`` over ``window`` (in parallel).

    Raises:
        ParameterError: a bad window.
        ConfigError: the target has no Prometheus.
    """
    parse_duration(window)
    prom = metrics.connect(target)
    try:
        jobs = {spec.name: _job(prom, spec, window, at) for spec in specs}
        done = metrics.parallel(jobs)
    finally:
        prom.close()
    values: dict[str, dict[str, float]] = {}
    promql: dict[str, str] = {}
    unreadable: dict[str, str] = {}
    by = {spec.name: spec.by for spec in specs}
    for name, outcome in done.items():
        if isinstance(outcome, ClientError):
            unreadable[name] = str(outcome)
            continue
        promql[name] = outcome.promql
        values[name] = {_key(labels, by[name]): metrics.rounded(value)
                        for labels, value in outcome.values}
    return Signals(window, at, values, promql, unreadable)


__all__ = ["BASELINE_OFFSET_S", "SPECS", "SignalSpec", "Signals", "read_signals"]
