"""Every NOA metric against its threshold: one finding per entry of ``THRESHOLDS``.

:func:`check_thresholds` evaluates, at one instant, the catalogue query judged against each
threshold (broken down by service, queue…), takes the worst series and classifies it. Each finding
carries the exact PromQL, the window and the evaluation time, plus every series' value. It never
raises for a backend problem: no Prometheus configured → one ``warning``; Prometheus down → an
``unreachable`` finding per metric; a query answering nothing → a ``warning`` saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError
from noa_lib.ops import metrics
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.promql import for_threshold, parse_duration
from noa_lib.ops.thresholds import THRESHOLDS, Threshold


def check_thresholds(target: Target, *, window: str = "5m") -> list[Finding]:
    """Judge every metric of :data:`~noa_lib.ops.thresholds.THRESHOLDS` on ``target``.

    Returns:
        One finding per threshold metric, in the table's order (``check`` = the metric name,
        ``value``/``threshold``/``unit`` = worst series and its warning bound, ``evidence`` =
        ``promql``, ``window``, ``at``, ``series``); or a single ``warning`` when the target
        has no Prometheus.

    Raises:
        ParameterError: ``window`` is not a Prometheus duration.
    """
    parse_duration(window)
    if target.prometheus is None:
        return [metrics.not_configured(target, "metric thresholds")]
    try:
        prom = metrics.connect(target)
    except ConfigError as exc:
        return [Finding("metric thresholds", Status.UNREACHABLE, f"not checked: {exc}")]
    at = datetime.now(UTC)
    try:
        jobs = {metric: _reader(prom, metric, window, at) for metric in THRESHOLDS}
        results = metrics.parallel(jobs)
    finally:
        prom.close()
    findings: list[Finding] = []
    for metric, limit in THRESHOLDS.items():
        outcome = results[metric]
        if isinstance(outcome, ClientError):
            query = for_threshold(metric)
            evidence = {"promql": query.render(window), "window": window, "at": metrics.iso(at)}
            findings.append(metrics.failure_finding(metric, outcome, evidence))
        else:
            findings.append(judge(metric, limit, outcome))
    return findings


def _reader(
    prom: metrics.Prometheus, metric: str, window: str, at: datetime
) -> Callable[[], metrics.Reading]:
    query = for_threshold(metric)
    return lambda: metrics.read(prom, query, window=window, at=at)


def judge(metric: str, limit: Threshold, reading: metrics.Reading) -> Finding:
    """The finding for one threshold metric from its reading (worst series decides)."""
    worst = reading.worst(limit.higher_is_worse)
    if worst is None:
        return metrics.no_data_finding(metric, reading)
    labels, value = worst
    status = limit.classify(value)
    where = metrics.series_name(labels)
    unit = reading.query.unit if reading.query.unit not in ("jobs",) else ""
    shown = metrics.fmt(value, unit)
    word = "highest" if limit.higher_is_worse else "lowest"
    scope = f" ({word}: {where})" if len(reading.values) > 1 or where != "all" else ""
    message = f"{metric.replace('_', ' ')} {shown}{scope} — {status}"
    message += f" ({limit.describe()})"
    evidence = reading.evidence()
    evidence["series"] = reading.by_series()
    evidence["critical"] = limit.critical
    return Finding(
        check=metric,
        status=status,
        message=message,
        value=metrics.rounded(value),
        threshold=limit.warning,
        unit=limit.unit,
        evidence=evidence,
    )


def threshold_figures(findings: list[Finding]) -> dict[str, float | None]:
    """``{metric: value}`` of the threshold findings, for the record's outcome figures."""
    out: dict[str, float | None] = {}
    for finding in findings:
        if finding.check in THRESHOLDS:
            value = finding.value
            out[finding.check] = float(value) if isinstance(value, int | float) else None
    return out


__all__ = ["check_thresholds", "judge", "threshold_figures"]
