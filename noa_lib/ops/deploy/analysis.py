"""Canary analysis against Prometheus (Argo Rollouts AnalysisRun / Flagger semantics).

:func:`run_analysis` measures every metric of an :class:`AnalysisSpec` ``count`` times,
``interval_s`` apart, for the canary version and — with the same query — for the stable version
(the baseline), judges each measurement with :mod:`noa_lib.ops.deploy.analysis_rules` and stops
early as soon as a metric is decided Failed, Error or Inconclusive. The result keeps every
measurement with the exact PromQL that ran, and one :class:`~noa_lib.ops.findings.Finding` per
metric (``ok`` / ``warning`` for Inconclusive / ``unreachable`` for Error / ``critical`` for
Failed).

The default metrics use the PromQL catalogue's own ``error_rate`` and ``latency_p95`` queries
(:mod:`noa_lib.ops.promql`), restricted to ``service`` and ``version`` and unscaled (error rate as
a ratio, latency in seconds); each round also counts the canary's requests with the catalogue's
``request_count`` (the sample size, shown beside every value and judged by ``min_requests``).
:func:`skipped_analysis` is the ``skip_analysis`` emergency mode: no query runs, the phase is
``Skipped`` and the finding says loudly that nothing was verified.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from noa_lib.config import Target
from noa_lib.errors import ClientError, ParameterError
from noa_lib.ops.deploy.analysis_rules import (
    AnalysisSpec,
    Measurement,
    Metric,
    Phase,
    decided_bad,
    fill,
    judge,
    metric_phase,
    run_phase,
    too_few_requests,
    validate_spec,
)
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.names import validate_label_value, validate_name
from noa_lib.ops.promql import Naming, get_query

if TYPE_CHECKING:
    from noa_lib.ops.metrics import Prometheus

_SENTINEL_WINDOW = "7777s"


def _template(catalogue_name: str, naming: Naming | None = None) -> str:
    """A catalogue query as a template over ``{service}``, ``{version}`` and ``{window}``, in
    ``naming``'s names (default: the catalogue's)."""
    text = get_query(catalogue_name).render(
        _SENTINEL_WINDOW, by=(), scaled=False, naming=naming, service="{service}",
        version="{version}",
    )
    return text.replace(f"[{_SENTINEL_WINDOW}]", "[{window}]")


def for_target(metric: Metric, naming: Naming) -> Metric:
    """``metric`` with its query re-made in a target's metric names when it came from the
    catalogue (a hand-written query is left as written)."""
    if metric.catalogue is None:
        return metric
    return replace(metric, query=_template(metric.catalogue, naming))


def default_metrics(error_rate: float = 0.01, p95_s: float = 1.0) -> tuple[Metric, ...]:
    """``error-rate`` (5xx share, success ``result < error_rate``) and ``latency-p95`` (seconds,
    success ``result < p95_s``), both by service and version.

    Raises:
        ParameterError: ``error_rate`` not in (0, 1], ``p95_s`` not > 0.
    """
    if isinstance(error_rate, bool) or not isinstance(error_rate, int | float) or not (
        0 < error_rate <= 1
    ):
        raise ParameterError(
            f"error_rate={error_rate!r} must be a ratio in (0, 1] (0.01 = 1 %)",
            name="error_rate", accepted="a number in (0, 1], e.g. 0.01 for 1 %",
        )
    if isinstance(p95_s, bool) or not isinstance(p95_s, int | float) or not (
        0 < p95_s < math.inf
    ):
        raise ParameterError(f"p95_s={p95_s!r} must be a number of seconds > 0",
                             name="p95_s", accepted="a number of seconds > 0, e.g. 1.0")
    return (
        Metric(
            name="error-rate",
            query=_template("error_rate"),
            catalogue="error_rate",
            success=f"result < {float(error_rate):g}",
            unit="ratio",
            baseline_floor=0.005,
        ),
        Metric(
            name="latency-p95",
            query=_template("latency_p95"),
            catalogue="latency_p95",
            success=f"result < {float(p95_s):g}",
            unit="s",
            baseline_floor=0.1,
        ),
    )


def analysis_spec(
    *,
    interval_s: float = 30.0,
    count: int = 3,
    failure_limit: int = 0,
    inconclusive_limit: int = 0,
    window: str = "1m",
    error_rate: float = 0.01,
    p95_s: float = 1.0,
    baseline_max_ratio: float | None = 2.0,
    consecutive_error_limit: int = 2,
    min_requests: int = 0,
    metrics: tuple[Metric, ...] | None = None,
) -> AnalysisSpec:
    """An :class:`AnalysisSpec` from runbook parameters, validated (default metrics unless
    ``metrics`` is given). A ``baseline_max_ratio`` of 0 also disables the baseline comparison.

    Raises:
        ParameterError: naming the offending parameter and what is accepted.
    """
    if isinstance(interval_s, bool) or not isinstance(interval_s, int | float):
        raise ParameterError(f"interval_s={interval_s!r} must be a number of seconds",
                             name="interval_s", accepted="a number of seconds >= 0")
    ratio = baseline_max_ratio
    if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, int | float)):
        raise ParameterError(f"baseline_max_ratio={ratio!r} must be a number",
                             name="baseline_max_ratio", accepted="a number >= 1, or 0/None (off)")
    spec = AnalysisSpec(
        metrics=metrics if metrics is not None else default_metrics(error_rate, p95_s),
        interval_s=float(interval_s),
        count=count,
        failure_limit=failure_limit,
        inconclusive_limit=inconclusive_limit,
        consecutive_error_limit=consecutive_error_limit,
        window=window,
        baseline_max_ratio=None if not ratio else float(ratio),
        min_requests=min_requests,
    )
    return validate_spec(spec)


@dataclass(frozen=True)
class AnalysisResult:
    """The outcome of one analysis: its phase, every measurement, one finding per metric."""

    phase: str
    label: str
    measurements: tuple[Measurement, ...]
    findings: tuple[Finding, ...]
    started: datetime
    finished: datetime
    skipped: bool = False
    planned: int = 0
    """Measurements the spec asked for (``count`` × metrics); fewer were taken when aborted."""

    @property
    def passed(self) -> bool:
        """True when the canary may proceed: Successful (or Skipped in emergency mode)."""
        return self.phase in (Phase.SUCCESSFUL, Phase.SKIPPED)

    @property
    def aborted_early(self) -> bool:
        """True when the run stopped before taking every planned measurement."""
        return not self.skipped and len(self.measurements) < self.planned

    def figures(self) -> dict[str, float | int | str]:
        """Outcome figures for a record: phase, label, measurement counts by phase."""
        out: dict[str, float | int | str] = {
            "phase": str(self.phase),
            "label": self.label,
            "measurements": len(self.measurements),
            "planned_measurements": self.planned,
        }
        for p in (Phase.SUCCESSFUL, Phase.FAILED, Phase.INCONCLUSIVE, Phase.ERROR):
            out[f"measurements_{p.value.lower()}"] = sum(m.phase == p for m in self.measurements)
        return out


def run_analysis(
    target: Target,
    *,
    service: str,
    canary_version: str,
    stable_version: str,
    spec: AnalysisSpec,
    label: str = "",
    sleep: Callable[[float], None] = time.sleep,
) -> AnalysisResult:
    """Measure the canary against ``spec`` on ``target``'s Prometheus and decide its phase.

    Rounds of measurements run ``spec.interval_s`` apart (no sleep before the first or after the
    last); each round measures every still-open metric for the canary and the stable version
    at the same instant. The run stops as soon as one metric is decided non-successful.

    Raises:
        ParameterError: a bad service/version name or spec (before any query).
        ConfigError: the target has no Prometheus.
    Query failures never raise: they are Error measurements.
    """
    validate_name(service, "service")
    validate_label_value(canary_version, "canary_version")
    validate_label_value(stable_version, "stable_version")
    validate_spec(spec)
    from noa_lib.ops.metrics import connect

    started = datetime.now(UTC)
    measurements: list[Measurement] = []
    phases: dict[str, list[str]] = {m.name: [] for m in spec.metrics}
    decided: dict[str, Phase] = {}
    prom = connect(target)
    try:
        for index in range(spec.count):
            if index:
                sleep(spec.interval_s)
            requests = _requests(prom, service, canary_version, spec.window)
            for metric in spec.metrics:
                if metric.name in decided:
                    continue
                measurement = _measure(prom, metric, index, service, canary_version,
                                       stable_version, spec, requests)
                measurements.append(measurement)
                phases[metric.name].append(measurement.phase)
                verdict = metric_phase(phases[metric.name], spec)
                if verdict is not None:
                    decided[metric.name] = verdict
            if any(decided_bad(p) for p in decided.values()):
                break
    finally:
        prom.close()
    final = run_phase(decided.values())
    findings = tuple(
        _finding(metric, decided.get(metric.name), measurements, spec, service, canary_version)
        for metric in spec.metrics
    )
    return AnalysisResult(
        phase=final,
        label=label,
        measurements=tuple(measurements),
        findings=findings,
        started=started,
        finished=datetime.now(UTC),
        planned=spec.count * len(spec.metrics),
    )


def _measure(
    prom: Prometheus,
    metric: Metric,
    index: int,
    service: str,
    canary_version: str,
    stable_version: str,
    spec: AnalysisSpec,
    requests: float | None,
) -> Measurement:
    at = datetime.now(UTC)
    metric = for_target(metric, prom.naming)
    query = metric.render(service=service, version=canary_version, window=spec.window)
    baseline_query = metric.render(service=service, version=stable_version, window=spec.window)
    try:
        value = _instant(prom, query, at)
        baseline = _instant(prom, baseline_query, at) if spec.baseline_max_ratio else None
    except ClientError as exc:
        return Measurement(metric.name, index, at, None, None, Phase.ERROR, query,
                           baseline_query, f"query failed: {exc}", requests)
    too_few = too_few_requests(requests, spec.min_requests, version=canary_version,
                               window=spec.window)
    if too_few is not None:
        return Measurement(metric.name, index, at, value, baseline, Phase.INCONCLUSIVE, query,
                           baseline_query, too_few, requests)
    phase, message = judge(metric, value, baseline, baseline_max_ratio=spec.baseline_max_ratio)
    return Measurement(metric.name, index, at, value, baseline, phase, query, baseline_query,
                       message, requests)


def _requests(prom: Prometheus, service: str, version: str,
              window: str) -> float | None:
    """Requests ``version`` answered in ``window`` (``None`` when unknown: no series, or the
    query failed — the metric queries then report that themselves)."""
    sample = _template("request_count", prom.naming)
    query = fill(sample, service=service, version=version, window=window)
    try:
        return _instant(prom, query, datetime.now(UTC))
    except ClientError:
        return None


def _instant(prom: Prometheus, promql: str, at: datetime) -> float | None:
    """The value of a single-series instant query; ``None`` for no data or NaN; the worst
    (highest) value if several series answer."""
    from noa_lib.clients import prometheus

    values: list[float] = []
    for item in prometheus.query(prom.client, promql, at=at):
        raw = item.get("value") or [None, "NaN"]
        try:
            value = float(raw[1])
        except (TypeError, ValueError, IndexError):
            continue
        if not math.isnan(value):
            values.append(value)
    return max(values) if values else None


_STATUS = {
    Phase.SUCCESSFUL: Status.OK,
    Phase.INCONCLUSIVE: Status.WARNING,
    Phase.ERROR: Status.UNREACHABLE,
    Phase.FAILED: Status.CRITICAL,
}


def _finding(
    metric: Metric,
    phase: Phase | None,
    measurements: list[Measurement],
    spec: AnalysisSpec,
    service: str,
    version: str,
) -> Finding:
    mine = [m for m in measurements if m.metric == metric.name]
    last = mine[-1] if mine else None
    check = f"{service} {version} {metric.name}"
    evidence: dict[str, object] = {
        "service": service,
        "version": version,
        "window": spec.window,
        "measurements": [m.phase for m in mine],
        "requests": [m.requests for m in mine],
    }
    if spec.min_requests:
        evidence["min_requests"] = spec.min_requests
    if last is not None:
        evidence["promql"] = last.query
        evidence["baseline_promql"] = last.baseline_query
    if phase is None:
        return Finding(check, Status.SKIPPED,
                       "not decided: the analysis stopped early because another metric was "
                       f"decided ({len(mine)} of {spec.count} measurements)",
                       value=None if last is None else last.value, threshold=metric.success,
                       unit=metric.unit, evidence=evidence)
    counts = ", ".join(
        f"{sum(m.phase == p for m in mine)} {p.value.lower()}"
        for p in (Phase.SUCCESSFUL, Phase.FAILED, Phase.INCONCLUSIVE, Phase.ERROR)
        if any(m.phase == p for m in mine)
    )
    reason = next((m.message for m in reversed(mine) if m.phase == phase), "")
    message = f"{phase.value}: {counts} of {len(mine)} measurements"
    if phase != Phase.SUCCESSFUL and reason:
        message += f" — {reason}"
    if phase == Phase.FAILED and len(mine) < spec.count:
        message += f" (aborted after {len(mine)} of {spec.count})"
    return Finding(check, _STATUS[phase], message,
                   value=None if last is None else last.value, threshold=metric.success,
                   unit=metric.unit, evidence=evidence)


def skipped_analysis(label: str, reason: str) -> AnalysisResult:
    """The ``skip_analysis`` emergency mode: nothing measured, phase ``Skipped``, and a loud
    warning finding saying the canary step was NOT verified and why.

    Raises:
        ParameterError: ``reason`` is empty (an emergency skip must say why).
    """
    if not isinstance(reason, str) or not reason.strip():
        raise ParameterError("skipping the canary analysis needs a reason", name="reason",
                             accepted="a non-empty sentence saying why analysis is skipped")
    now = datetime.now(UTC)
    where = f" for {label}" if label else ""
    finding = Finding(
        check="canary analysis SKIPPED",
        status=Status.WARNING,
        message=(f"!!! ANALYSIS SKIPPED{where} — emergency mode: the canary was NOT verified "
                 f"against any metric. Reason: {reason.strip()}"),
        evidence={"skip_analysis": True, "reason": reason.strip()},
    )
    return AnalysisResult(phase=Phase.SKIPPED, label=label, measurements=(),
                          findings=(finding,), started=now, finished=now, skipped=True)


__all__ = [
    "AnalysisResult",
    "AnalysisSpec",
    "Measurement",
    "Metric",
    "Phase",
    "analysis_spec",
    "default_metrics",
    "run_analysis",
    "skipped_analysis",
]
