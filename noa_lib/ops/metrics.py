"""Reading catalogue queries from a target's Prometheus: instant readings and range frames.

The small shared layer under the threshold checks, dashboards, triage and the monitoring-stack
check. A :class:`Reading` keeps the exact PromQL that ran, the window and the evaluation time,
so every finding built from it can carry them as evidence. Failures stay ours
(:mod:`noa_lib.errors`); :func:`failure_finding` and :func:`not_configured` turn them into
findings for callers that must never raise.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.promql import Naming, Query, naming_for

if TYPE_CHECKING:
    import pandas as pd

    from noa_lib.clients import prometheus as prom_client

T = TypeVar("T")

MAX_PARALLEL = 4
"""Concurrent instant queries against one Prometheus."""


@dataclass(frozen=True)
class Reading:
    """The result of one instant catalogue query.

    ``values`` pairs each series' labels with its value in :attr:`Query.unit` (series whose
    value is NaN — e.g. an error rate without traffic — are left out).
    """

    query: Query
    promql: str
    window: str
    at: datetime
    values: tuple[tuple[Mapping[str, str], float], ...] = ()

    def evidence(self) -> dict[str, Any]:
        """``promql``, ``window`` and ``at`` (ISO 8601 UTC) for a finding's evidence."""
        return {"promql": self.promql, "window": self.window, "at": iso(self.at)}

    def worst(self, higher_is_worse: bool = True) -> tuple[Mapping[str, str], float] | None:
        """The series with the highest (or lowest) value, ``None`` without data."""
        if not self.values:
            return None
        pick = max if higher_is_worse else min
        return pick(self.values, key=lambda item: item[1])

    def by_series(self) -> dict[str, float]:
        """``{"service=api": 1.2, …}`` (``"all"`` for an unlabelled series), rounded."""
        return {series_name(labels): round(value, 4) for labels, value in self.values}


@dataclass(frozen=True)
class Frame:
    """The result of one range catalogue query, with what ran."""

    query: Query
    promql: str
    start: datetime
    end: datetime
    step: float
    frame: pd.DataFrame = field(compare=False)


def iso(moment: datetime) -> str:
    """``2026-11-26T22:40:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def series_name(labels: Mapping[str, str]) -> str:
    """``service=api, pod=x`` for a label set (``all`` when it has none)."""
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) or "all"


@dataclass(frozen=True)
class Prometheus:
    """A target's Prometheus: the HTTP client and how that Prometheus names the catalogue's
    series (:func:`noa_lib.ops.promql.naming_for`). Close it when done."""

    client: prom_client.PrometheusConnect = field(repr=False)
    naming: Naming
    target: str

    def render(self, query: Query, window: str = "5m", **kwargs: Any) -> str:
        """``query`` rendered in this Prometheus' names (see :meth:`Query.render`)."""
        return query.render(window, naming=self.naming, **kwargs)

    def close(self) -> None:
        self.client.close()


def connect(target: Target) -> Prometheus:
    """``target``'s Prometheus (close it when done).

    Raises:
        ConfigError: Prometheus is not configured, its token reference does not resolve, or its
            ``metrics`` naming section is invalid.
    """
    from noa_lib.clients import prometheus

    if target.prometheus is None:
        raise ConfigError(f"Prometheus is not configured for target {target.name}")
    naming = naming_for(target)
    return Prometheus(prometheus.build(target.prometheus), naming, target.name)


def read(
    prom: Prometheus,
    query: Query,
    *,
    window: str = "5m",
    at: datetime | None = None,
    by: tuple[str, ...] | None = None,
    where: Mapping[str, str | None] | None = None,
) -> Reading:
    """Evaluate ``query`` at ``at`` (default now), restricted to the labels in ``where``.

    Raises:
        ParameterError: bad window or filter.
        Unavailable / Timeout / NotFound / ClientError: Prometheus failed.
    """
    from noa_lib.clients import prometheus

    moment = at or datetime.now(UTC)
    promql = prom.render(query, window, by=by, where=where)
    result = prometheus.query(prom.client, promql, at=moment)
    values: list[tuple[Mapping[str, str], float]] = []
    for item in result:
        raw = item.get("value") or [None, "NaN"]
        try:
            value = float(raw[1])
        except (TypeError, ValueError, IndexError):
            continue
        if math.isnan(value):
            continue
        labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
        values.append((prom.naming.canonical(query.name, labels), value))
    return Reading(query, promql, window, moment, tuple(values))


def read_range(
    prom: Prometheus,
    query: Query,
    *,
    start: datetime,
    end: datetime,
    step: float,
    window: str = "5m",
    by: tuple[str, ...] | None = None,
    where: Mapping[str, str | None] | None = None,
) -> Frame:
    """Evaluate ``query`` from ``start`` to ``end`` every ``step`` seconds (chunked, concurrent).

    Raises:
        ParameterError / Unavailable / Timeout / NotFound / ClientError: as :func:`read`.
    """
    from noa_lib.clients import prometheus

    promql = prom.render(query, window, by=by, where=where)
    frame = prometheus.query_range(prom.client, promql, start, end, step)
    labels = frame.attrs.get("labels") or {}
    if labels and list(labels) == [str(c) for c in frame.columns]:
        from noa_lib.clients.prometheus_frames import column_names

        canonical = [prom.naming.canonical(query.name, labels[c]) for c in labels]
        names = column_names(canonical)
        frame.columns = names
        frame.attrs["labels"] = dict(zip(names, canonical, strict=True))
    return Frame(query, promql, start, end, step, frame)


def parallel(jobs: Mapping[str, Callable[[], T]]) -> dict[str, T | ClientError]:
    """Run ``jobs`` at most :data:`MAX_PARALLEL` at a time; a ``ClientError`` is returned as the
    job's result instead of raised (other exceptions propagate)."""

    def guarded(job: Callable[[], T]) -> T | ClientError:
        try:
            return job()
        except ClientError as exc:
            return exc

    if not jobs:
        return {}
    workers = min(MAX_PARALLEL, len(jobs))
    with cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="noa-read") as pool:
        futures = {key: pool.submit(guarded, job) for key, job in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


def not_configured(target: Target, check: str = "prometheus") -> Finding:
    """A ``warning``: this target has no Prometheus, so nothing metric-based was checked."""
    return Finding(
        check=check,
        status=Status.WARNING,
        message=(
            f"not configured: target {target.name} has no [targets.{target.name}.prometheus] "
            "section, so no metric was checked"
        ),
    )


def failure_finding(check: str, exc: Exception, evidence: Mapping[str, Any]) -> Finding:
    """An ``unreachable`` finding for a query that could not run (the message is the error's)."""
    return Finding(check=check, status=Status.UNREACHABLE, message=str(exc), evidence=evidence)


def no_data_finding(check: str, reading: Reading, hint: str = "") -> Finding:
    """A ``warning``: the query ran but no series answered."""
    message = f"no data for {reading.query.name} over the last {reading.window}"
    message += f" — {hint}" if hint else " — is the NOA Server exporter scraped?"
    return Finding(check=check, status=Status.WARNING, message=message, evidence=reading.evidence())


def fmt(value: float, unit: str) -> str:
    """``1.23 %``, ``0.412 s``, ``530`` — three significant digits and the unit."""
    text = f"{value:.3g}"
    return f"{text} {unit}" if unit else text


def rounded(value: float) -> float:
    """``value`` to four significant digits (for finding values and record figures)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, max(0, 3 - int(math.floor(math.log10(abs(value))))))


__all__ = [
    "MAX_PARALLEL",
    "Frame",
    "Prometheus",
    "Reading",
    "connect",
    "failure_finding",
    "fmt",
    "iso",
    "no_data_finding",
    "not_configured",
    "parallel",
    "read",
    "read_range",
    "rounded",
    "series_name",
]
