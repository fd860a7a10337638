"""The six NOA dashboards as data: one DataFrame per panel over a window, from the catalogue.

Operational, API performance, database, Redis, AI providers and cost — the boards of NOA's
monitoring runbook. :func:`dashboards` fetches every panel of every board concurrently (range
queries, chunked under the point limit) and never raises for a backend problem: a panel that
could not be fetched has an empty frame and its board a finding saying why. Charts are drawn by
:mod:`noa_lib.show.dashboards`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError
from noa_lib.ops import metrics
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.promql import Query, format_duration, get_query, parse_duration, sources_of
from noa_lib.ops.thresholds import THRESHOLDS, Threshold

if TYPE_CHECKING:
    import pandas as pd


TARGET_POINTS = 480
"""About this many points per series on a chart, whatever the window."""
MIN_STEP = 60.0
MIN_RATE_WINDOW = 300.0


@dataclass(frozen=True)
class PanelSpec:
    """One chart of a board: a catalogue query broken down ``by`` some labels."""

    title: str
    query: str
    by: tuple[str, ...] | None = None


@dataclass(frozen=True)
class BoardSpec:
    """A dashboard: name, title and its panels."""

    name: str
    title: str
    panels: tuple[PanelSpec, ...]


BOARDS: tuple[BoardSpec, ...] = (
    BoardSpec("operational", "Operational", (
        PanelSpec("Requests per second", "request_rate"),
        PanelSpec("Error rate (5xx)", "error_rate"),
        PanelSpec("Latency p95", "latency_p95"),
        PanelSpec("CPU (% of limit)", "cpu_usage"),
        PanelSpec("Memory (% of limit)", "memory_usage"),
        PanelSpec("Queue depth", "queue_depth"),
        PanelSpec("Container restarts by reason", "restarts"),
        PanelSpec("Node CPU busy (busiest node)", "node_cpu_usage"),
        PanelSpec("Node memory in use (fullest node)", "node_memory_usage"),
    )),
    BoardSpec("api_performance", "API performance", (
        PanelSpec("Requests per second by endpoint", "request_rate", ("endpoint",)),
        PanelSpec("Error rate by endpoint", "error_rate", ("endpoint",)),
        PanelSpec("Latency p95 by endpoint", "latency_p95", ("endpoint",)),
        PanelSpec("Latency p99 by service", "latency_p99"),
    )),
    BoardSpec("database", "Database", (
        PanelSpec("Connections (% of max_connections)", "db_connections"),
        PanelSpec("Sessions by state", "db_sessions"),
        PanelSpec("Connection pool in use (% of pool)", "db_pool_usage"),
        PanelSpec("Connections checked out", "db_pool_in_use"),
        PanelSpec("Buffer cache hit ratio", "db_cache_hit_ratio"),
        PanelSpec("Latency p95 (slow queries show here)", "latency_p95"),
        PanelSpec("Volume used (% of PVC capacity)", "disk_usage"),
    )),
    BoardSpec("redis", "Redis", (
        PanelSpec("Cache hit rate by cache", "cache_hit_rate", ("cache",)),
        PanelSpec("Redis keyspace hit rate", "redis_hit_rate"),
        PanelSpec("Memory (% of maxmemory)", "redis_memory"),
        PanelSpec("Memory used", "redis_memory_used"),
        PanelSpec("Commands per second", "redis_commands_rate"),
    )),
    BoardSpec("ai_providers", "AI providers", (
        PanelSpec("Calls per second", "ai_request_rate"),
        PanelSpec("Error rate", "ai_error_rate"),
        PanelSpec("Latency p95", "ai_latency_p95"),
        PanelSpec("Circuit breaker (0 closed, 1 half-open, 2 open)", "circuit_breaker_state"),
    )),
    BoardSpec("cost", "Cost", (
        PanelSpec("AI spend per hour by provider", "ai_cost_per_hour"),
        PanelSpec("AI spend per hour, total", "ai_cost_per_hour", ()),
    )),
)
"""The six boards, in the order of NOA's monitoring runbook."""

BOARD_NAMES = tuple(b.name for b in BOARDS)


@dataclass(frozen=True)
class Panel:
    """One fetched chart: the frame (a column per series) and what to draw it against."""

    title: str
    query: str
    promql: str
    unit: str
    frame: pd.DataFrame = field(compare=False)
    threshold: Threshold | None = None
    error: str | None = None


@dataclass(frozen=True)
class Dashboard:
    """One board over ``[start, end]`` every ``step`` seconds; ``figures`` are key numbers
    (e.g. the AI spend within the window) and ``findings`` what could not be fetched."""

    name: str
    title: str
    start: datetime
    end: datetime
    step: float
    rate_window: str
    panels: tuple[Panel, ...]
    findings: tuple[Finding, ...] = ()
    figures: dict[str, float] = field(default_factory=dict)


def resolution(window: str) -> tuple[float, str]:
    """``(step seconds, rate window)`` for a chart over ``window``: about
    :data:`TARGET_POINTS` points, a step of whole minutes, a rate window of at least 5 minutes
    and two steps.

    Raises:
        ParameterError: ``window`` is not a Prometheus duration.
    """
    seconds = parse_duration(window)
    step = max(MIN_STEP, 60.0 * round(seconds / TARGET_POINTS / 60.0))
    rate = max(MIN_RATE_WINDOW, 2 * step)
    return step, format_duration(rate)


def dashboards(
    target: Target,
    *,
    window: str = "24h",
    names: tuple[str, ...] = BOARD_NAMES,
    end: datetime | None = None,
) -> dict[str, Dashboard]:
    """Fetch the boards ``names`` of ``target`` over the last ``window``.

    Returns:
        ``{name: Dashboard}`` in the order asked. Without Prometheus each board has no frames
        and one ``warning``; a failing panel has an empty frame and an ``unreachable`` finding.

    Raises:
        ParameterError: bad window or an unknown board name.
    """
    step, rate_window = resolution(window)
    finish = (end or datetime.now(UTC)).replace(microsecond=0)
    start = finish - timedelta(seconds=parse_duration(window))
    specs = [_board(name) for name in names]
    if target.prometheus is None:
        missing = metrics.not_configured(target, "dashboards")
        return {s.name: _empty(s, start, finish, step, rate_window, missing) for s in specs}
    try:
        prom = metrics.connect(target)
    except ConfigError as exc:
        down = Finding("dashboards", Status.UNREACHABLE, f"not fetched: {exc}")
        return {s.name: _empty(s, start, finish, step, rate_window, down) for s in specs}
    try:
        jobs: dict[str, Callable[[], metrics.Frame | metrics.Reading]] = {
            f"{s.name}/{i}": _job(prom, p, start, finish, step, rate_window)
            for s in specs
            for i, p in enumerate(s.panels)
        }
        jobs.update({f"{s.name}/spend": _spend(prom, window, finish) for s in specs
                     if s.name == "cost"})
        results = metrics.parallel(jobs)
    finally:
        prom.close()
    return {s.name: _assemble(s, results, start, finish, step, rate_window, prom)
            for s in specs}


def _board(name: str) -> BoardSpec:
    from noa_lib.errors import ParameterError

    for spec in BOARDS:
        if spec.name == name:
            return spec
    raise ParameterError(f"no dashboard {name!r}; known: {', '.join(BOARD_NAMES)}", name="names")


def _job(prom: metrics.Prometheus, panel: PanelSpec, start: datetime, end: datetime,
         step: float, rate_window: str) -> Callable[[], metrics.Frame | metrics.Reading]:
    query = get_query(panel.query)
    return lambda: metrics.read_range(
        prom, query, start=start, end=end, step=step, window=rate_window, by=panel.by
    )


def _spend(prom: metrics.Prometheus, window: str, at: datetime
           ) -> Callable[[], metrics.Frame | metrics.Reading]:
    query = get_query("ai_cost")
    return lambda: metrics.read(prom, query, window=window, at=at)


def _threshold(query: str) -> Threshold | None:
    metric = get_query(query).threshold_metric
    return THRESHOLDS.get(metric) if metric else None


def _assemble(spec: BoardSpec, results: Mapping[str, object], start: datetime, end: datetime,
              step: float, rate_window: str, prom: metrics.Prometheus) -> Dashboard:
    from noa_lib.clients.prometheus_frames import empty_frame

    panels: list[Panel] = []
    findings: list[Finding] = []
    for i, panel in enumerate(spec.panels):
        query = get_query(panel.query)
        outcome = results[f"{spec.name}/{i}"]
        promql = prom.render(query, rate_window, by=panel.by)
        if isinstance(outcome, ClientError):
            findings.append(metrics.failure_finding(
                f"{spec.name}: {panel.title}", outcome,
                {"promql": promql, "window": rate_window}))
            panels.append(Panel(panel.title, query.name, promql, query.unit, empty_frame(),
                                _threshold(query.name), str(outcome)))
        elif isinstance(outcome, metrics.Frame):
            panels.append(Panel(panel.title, query.name, outcome.promql, query.unit,
                                outcome.frame, _threshold(query.name)))
            if outcome.frame.empty:
                findings.append(_no_data(spec, panel.title, query, outcome.promql, rate_window))
    figures: dict[str, float] = {}
    spend = results.get(f"{spec.name}/spend")
    if isinstance(spend, metrics.Reading):
        for labels, value in spend.values:
            figures[f"ai_spend_usd_{labels.get('provider', 'all')}"] = round(value, 2)
        figures["ai_spend_usd_total"] = round(sum(v for _, v in spend.values), 2)
    return Dashboard(spec.name, spec.title, start, end, step, rate_window, tuple(panels),
                     tuple(findings), figures)


def _no_data(spec: BoardSpec, title: str, query: Query, promql: str, window: str) -> Finding:
    """A ``warning``: the panel's query ran but no series answered — and which exporter's."""
    exporters = ", ".join(s.exporter for s in sources_of(query))
    return Finding(
        f"{spec.name}: {title}", Status.WARNING,
        f"no data for {query.name} ({exporters}) — `noa metrics check` says what is missing",
        evidence={"promql": promql, "window": window},
    )


def _empty(spec: BoardSpec, start: datetime, end: datetime, step: float, rate_window: str,
           finding: Finding) -> Dashboard:
    from noa_lib.clients.prometheus_frames import empty_frame

    panels = tuple(
        Panel(p.title, p.query, get_query(p.query).render(rate_window, by=p.by),
              get_query(p.query).unit, empty_frame(), _threshold(p.query), finding.message)
        for p in spec.panels
    )
    return Dashboard(spec.name, spec.title, start, end, step, rate_window, panels, (finding,))


def board_findings(boards: dict[str, Dashboard]) -> list[Finding]:
    """The boards' findings, each distinct message once."""
    seen: set[str] = set()
    out: list[Finding] = []
    for board in boards.values():
        for finding in board.findings:
            if finding.message not in seen:
                seen.add(finding.message)
                out.append(finding)
    return out


__all__ = [
    "BOARDS",
    "BOARD_NAMES",
    "BoardSpec",
    "Dashboard",
    "Panel",
    "PanelSpec",
    "board_findings",
    "dashboards",
    "resolution",
]
