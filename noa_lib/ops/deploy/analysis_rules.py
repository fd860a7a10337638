"""Canary analysis rules: metric definitions, conditions and phase accounting (no I/O).

The semantics follow Argo Rollouts' AnalysisTemplate (and Flagger's metric checks):

- A :class:`Metric` is a PromQL template plus a ``success`` condition (``"result < 0.01"``) and an
  optional ``failure`` condition. A measurement is **Successful** when ``success`` holds,
  **Failed** when ``failure`` holds (without ``failure``: when ``success`` does not), and
  **Inconclusive** when the query returned no data (empty vector, NaN: a canary that has no
  traffic yet) or, with an explicit ``failure``, when neither condition holds. A query that errors
  is an **Error** measurement.
- Baseline comparison: the same query for the stable version. For metrics where higher is worse
  (``success`` uses ``<`` or ``<=``) and ``baseline_max_ratio`` is set, a canary value above
  ``max(ratio × baseline, baseline + Metric.baseline_floor)`` fails the measurement even when the
  absolute condition holds (the floor keeps 0 vs 0.0001 from failing).
- A metric is decided **Failed** as soon as its failed measurements exceed ``failure_limit``,
  **Error** when consecutive errors exceed ``consecutive_error_limit``, **Inconclusive** when its
  inconclusive measurements exceed ``inconclusive_limit``; after ``count`` measurements without
  any of these it is **Successful** — provided at least one measurement was (tolerated errors or
  no-data measurements alone prove nothing: then it is Error or Inconclusive). The run's phase
  is the worst metric phase (Failed > Error > Inconclusive > Successful); a run stops early
  once any metric is decided non-successful.
- Sample size: every round also counts the canary's requests in the window. With
  ``min_requests`` set, a round with fewer is **Inconclusive** for every metric: a p95 from a
  few dozen requests swings by a factor of two between identical builds, so neither a pass nor
  a failure would mean anything (Kayenta's minimum-data rule; Argo leaves it to the query).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from noa_lib.errors import ParameterError
from noa_lib.ops.promql import parse_duration


class Phase(StrEnum):
    """Phase of one measurement, one metric or a whole analysis (Argo AnalysisRun phases)."""

    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"
    SKIPPED = "Skipped"


_RANK = {Phase.SUCCESSFUL: 0, Phase.SKIPPED: 0, Phase.INCONCLUSIVE: 1, Phase.ERROR: 2,
         Phase.FAILED: 3}

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}
_CONDITION_RE = re.compile(
    r"\s*result\s*(<=|>=|==|!=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*\Z"
)
_PLACEHOLDERS = ("{service}", "{version}", "{window}")
CONDITION_FORM = "'result OP NUMBER' with OP one of < <= > >= == != (e.g. 'result < 0.01')"


@dataclass(frozen=True)
class Condition:
    """A parsed ``result OP NUMBER`` condition."""

    op: str
    bound: float

    def holds(self, value: float) -> bool:
        """Whether the condition is true for ``value`` (never for NaN)."""
        return _OPS[self.op](value, self.bound)

    @property
    def higher_is_worse(self) -> bool:
        """True for ``<``/``<=``: the metric is good when small (error rate, latency)."""
        return self.op in ("<", "<=")

    def __str__(self) -> str:
        return f"result {self.op} {self.bound:g}"


def parse_condition(text: str, parameter: str = "success") -> Condition:
    """Parse ``"result < 0.01"`` into a :class:`Condition`.

    Raises:
        ParameterError: not of the form ``result OP NUMBER`` (the message shows the form).
    """
    match = _CONDITION_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ParameterError(f"{parameter} condition {text!r} is not {CONDITION_FORM}",
                             name=parameter, accepted=CONDITION_FORM)
    return Condition(match.group(1), float(match.group(2)))


@dataclass(frozen=True)
class Metric:
    """One analysed metric.

    ``query`` is a PromQL template with ``{service}``, ``{version}`` and ``{window}`` placeholders
    (other braces are PromQL's own and stay as they are); ``success``/``failure`` are conditions
    on ``result`` (see :func:`parse_condition`); ``baseline_floor`` is the absolute difference
    from the stable version's value always tolerated by the baseline comparison (in ``unit``).

    Raises:
        ParameterError: a malformed condition, or a query without ``{version}``.
    """

    name: str
    query: str
    success: str
    failure: str | None = None
    unit: str = ""
    baseline_floor: float = 0.0
    catalogue: str | None = None
    """The catalogue entry ``query`` was made from: re-made in each target's metric names."""

    def __post_init__(self) -> None:
        parse_condition(self.success, "success")
        if self.failure is not None:
            parse_condition(self.failure, "failure")
        if "{version}" not in self.query:
            raise ParameterError(
                f"metric {self.name}: the query must select the version with {{version}}",
                name="query", accepted="a PromQL template containing {version}",
            )
        if not math.isfinite(self.baseline_floor) or self.baseline_floor < 0:
            raise ParameterError(f"metric {self.name}: baseline_floor must be >= 0",
                                 name="baseline_floor", accepted="a number >= 0")

    @property
    def success_condition(self) -> Condition:
        return parse_condition(self.success, "success")

    @property
    def failure_condition(self) -> Condition | None:
        return None if self.failure is None else parse_condition(self.failure, "failure")

    def render(self, *, service: str, version: str, window: str) -> str:
        """The PromQL for one service/version/window (values must already be validated)."""
        return fill(self.query, service=service, version=version, window=window)


def fill(template: str, *, service: str, version: str, window: str) -> str:
    """A query template with ``{service}``, ``{version}`` and ``{window}`` replaced (other
    braces are PromQL's own and stay as they are)."""
    text = template
    for placeholder, value in zip(_PLACEHOLDERS, (service, version, window), strict=True):
        text = text.replace(placeholder, value)
    return text


@dataclass(frozen=True)
class AnalysisSpec:
    """How to analyse: metrics, how often, how many measurements, what is tolerated.

    Build it with :func:`noa_lib.ops.deploy.analysis.analysis_spec` from runbook parameters (it
    validates them); the defaults match Argo's common practice (3 measurements, 30 s apart).
    """

    metrics: tuple[Metric, ...]
    interval_s: float = 30.0
    count: int = 3
    failure_limit: int = 0
    inconclusive_limit: int = 0
    consecutive_error_limit: int = 2
    window: str = "1m"
    baseline_max_ratio: float | None = 2.0
    min_requests: int = 0
    """Fewer canary requests than this in ``window`` make a round Inconclusive (0: no minimum)."""


def validate_spec(spec: AnalysisSpec) -> AnalysisSpec:
    """Return ``spec`` when every field is usable.

    Raises:
        ParameterError: naming the offending field and what is accepted.
    """
    if not spec.metrics:
        raise ParameterError("an analysis needs at least one metric", name="metrics")
    if len({m.name for m in spec.metrics}) != len(spec.metrics):
        raise ParameterError("metric names must be unique", name="metrics")
    if not math.isfinite(spec.interval_s) or spec.interval_s < 0:
        raise ParameterError(f"interval_s={spec.interval_s} must be >= 0 seconds",
                             name="interval_s", accepted="a number of seconds >= 0")
    _int_at_least(spec.count, "count", 1)
    _int_at_least(spec.failure_limit, "failure_limit", 0)
    _int_at_least(spec.inconclusive_limit, "inconclusive_limit", 0)
    _int_at_least(spec.consecutive_error_limit, "consecutive_error_limit", 0)
    _int_at_least(spec.min_requests, "min_requests", 0)
    parse_duration(spec.window)
    ratio = spec.baseline_max_ratio
    if ratio is not None and (not math.isfinite(ratio) or ratio < 1.0):
        raise ParameterError(f"baseline_max_ratio={ratio} must be >= 1 (or None to disable)",
                             name="baseline_max_ratio", accepted="a number >= 1, or None")
    return spec


def _int_at_least(value: object, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ParameterError(f"{name}={value!r} must be an integer >= {low}",
                             name=name, accepted=f"an integer >= {low}")


@dataclass(frozen=True)
class Measurement:
    """One measurement of one metric: canary value, stable baseline, phase and the PromQL run."""

    metric: str
    index: int
    at: datetime
    value: float | None
    baseline: float | None
    phase: str
    query: str
    baseline_query: str
    message: str
    requests: float | None = None
    """Requests the canary answered in the window when measured (``None``: unknown)."""


def judge(
    metric: Metric,
    value: float | None,
    baseline: float | None,
    *,
    baseline_max_ratio: float | None,
) -> tuple[Phase, str]:
    """The phase of one measurement and a sentence saying why.

    ``value``/``baseline`` are ``None`` (or NaN) without data. Query errors are not judged here:
    the caller records them as :attr:`Phase.ERROR`.
    """
    unit = f" {metric.unit}" if metric.unit else ""
    if value is None or math.isnan(value):
        return Phase.INCONCLUSIVE, "no data for the canary (no traffic yet?)"
    success = metric.success_condition
    failure = metric.failure_condition
    shown = f"{value:.4g}{unit}"
    if failure is not None and failure.holds(value):
        return Phase.FAILED, f"{shown}: failure condition {failure} holds"
    if not success.holds(value):
        if failure is not None:
            return Phase.INCONCLUSIVE, f"{shown}: neither {success} nor {failure} holds"
        return Phase.FAILED, f"{shown}: success condition {success} does not hold"
    if baseline_max_ratio is None or not success.higher_is_worse:
        return Phase.SUCCESSFUL, f"{shown}: {success} holds"
    if baseline is None or math.isnan(baseline):
        return Phase.SUCCESSFUL, f"{shown}: {success} holds (no stable baseline to compare)"
    limit = max(baseline_max_ratio * baseline, baseline + metric.baseline_floor)
    if value > limit:
        return Phase.FAILED, (
            f"{shown}: {success} holds, but it is above {baseline_max_ratio:g} × the stable "
            f"version's {baseline:.4g}{unit} (limit {limit:.4g}{unit})"
        )
    return Phase.SUCCESSFUL, f"{shown}: {success} holds, stable {baseline:.4g}{unit}"


def too_few_requests(requests: float | None, min_requests: int, *, version: str,
                     window: str) -> str | None:
    """Why a round cannot be judged for lack of samples, or ``None`` when it can (no minimum
    set, or the count is unknown: the metric queries then speak for themselves)."""
    if not min_requests or requests is None or requests >= min_requests:
        return None
    return (f"only {requests:.0f} requests to {version} in {window} (min_requests "
            f"{min_requests}): too few to judge")


def metric_phase(phases: Sequence[str], spec: AnalysisSpec) -> Phase | None:
    """The decided phase of one metric from its measurement phases so far, ``None`` while open.

    Failed when failed measurements exceed ``failure_limit``; Error when the trailing run of
    errors exceeds ``consecutive_error_limit``; Inconclusive when inconclusive measurements exceed
    ``inconclusive_limit``; Successful once ``count`` measurements are in without any of these.
    """
    if sum(p == Phase.FAILED for p in phases) > spec.failure_limit:
        return Phase.FAILED
    trailing = 0
    for p in reversed(phases):
        if p != Phase.ERROR:
            break
        trailing += 1
    if trailing > spec.consecutive_error_limit:
        return Phase.ERROR
    if sum(p == Phase.INCONCLUSIVE for p in phases) > spec.inconclusive_limit:
        return Phase.INCONCLUSIVE
    if len(phases) >= spec.count:
        # tolerated errors / no-data measurements alone prove nothing about the canary
        if not any(p == Phase.SUCCESSFUL for p in phases):
            return Phase.ERROR if all(p == Phase.ERROR for p in phases) else Phase.INCONCLUSIVE
        return Phase.SUCCESSFUL
    return None


def run_phase(metric_phases: Iterable[Phase]) -> Phase:
    """The worst of the metric phases (Failed > Error > Inconclusive > Successful)."""
    result = Phase.SUCCESSFUL
    for phase in metric_phases:
        if _RANK[phase] > _RANK[result]:
            result = phase
    return result


def decided_bad(phase: Phase | None) -> bool:
    """Whether a decided metric phase ends the analysis early (anything but Successful)."""
    return phase is not None and phase not in (Phase.SUCCESSFUL, Phase.SKIPPED)


__all__ = [
    "CONDITION_FORM",
    "AnalysisSpec",
    "Condition",
    "Measurement",
    "Metric",
    "Phase",
    "decided_bad",
    "fill",
    "judge",
    "metric_phase",
    "parse_condition",
    "run_phase",
    "too_few_requests",
    "validate_spec",
]
