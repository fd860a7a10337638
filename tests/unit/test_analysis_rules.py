"""Canary analysis rules: conditions, measurement judgement and Argo-style phase accounting."""

from __future__ import annotations

import math

import pytest

from noa_lib.errors import ParameterError
from noa_lib.ops.deploy.analysis import analysis_spec, default_metrics, skipped_analysis
from noa_lib.ops.deploy.analysis_rules import (
    AnalysisSpec,
    Metric,
    Phase,
    judge,
    metric_phase,
    parse_condition,
    run_phase,
    too_few_requests,
    validate_spec,
)
from noa_lib.ops.findings import Status

S, F, INC, E = Phase.SUCCESSFUL, Phase.FAILED, Phase.INCONCLUSIVE, Phase.ERROR
Q = 'sum(rate(x{service="{service}",version="{version}"}[{window}]))'


def metric(success: str = "result < 0.01", failure: str | None = None, floor: float = 0.0
           ) -> Metric:
    return Metric("m", Q, success, failure, baseline_floor=floor)


@pytest.mark.parametrize(
    ("text", "value", "holds"),
    [("result < 0.01", 0.005, True), ("result < 0.01", 0.01, False),
     ("result<=1", 1.0, True), (" result > 1e-3 ", 0.002, True), ("result >= -2", -2, True),
     ("result == 0", 0.0, True), ("result != 0", 0.0, False), ("result < .5", 0.4, True)],
)
def test_conditions(text: str, value: float, holds: bool) -> None:
    assert parse_condition(text).holds(value) is holds


@pytest.mark.parametrize("text", ["", "x < 1", "result < ", "result ~ 1", "result < 1 or 2",
                                  "__import__('os')", "result < nan"])
def test_bad_conditions(text: str) -> None:
    with pytest.raises(ParameterError) as info:
        parse_condition(text, "failure")
    assert info.value.name == "failure"


def test_nan_never_holds() -> None:
    assert not parse_condition("result < 1").holds(math.nan)
    assert not parse_condition("result > 1").holds(math.nan)


def test_metric_validation() -> None:
    with pytest.raises(ParameterError) as info:
        Metric("m", Q, "result lt 1")
    assert info.value.name == "success"
    with pytest.raises(ParameterError) as info:
        Metric("m", "sum(x)", "result < 1")
    assert info.value.name == "query"
    rendered = metric().render(service="api", version="2.4.1", window="1m")
    assert rendered == 'sum(rate(x{service="api",version="2.4.1"}[1m]))'


def test_judge_absolute_conditions() -> None:
    assert judge(metric(), 0.001, None, baseline_max_ratio=None)[0] == S
    phase, message = judge(metric(), 0.2, None, baseline_max_ratio=None)
    assert phase == F and "does not hold" in message
    assert judge(metric(), None, 0.0, baseline_max_ratio=2.0)[0] == INC
    assert judge(metric(), math.nan, 0.0, baseline_max_ratio=2.0)[0] == INC


def test_judge_explicit_failure_condition_argo_semantics() -> None:
    m = metric("result < 0.01", "result > 0.05")
    assert judge(m, 0.001, None, baseline_max_ratio=None)[0] == S
    assert judge(m, 0.06, None, baseline_max_ratio=None)[0] == F
    phase, message = judge(m, 0.03, None, baseline_max_ratio=None)
    assert phase == INC and "neither" in message


def test_judge_baseline_ratio_and_floor() -> None:
    m = metric("result < 1", floor=0.1)
    # well within the absolute bound but 3x the stable version: fails
    phase, message = judge(m, 0.6, 0.2, baseline_max_ratio=2.0)
    assert phase == F and "2 × the stable" in message
    assert judge(m, 0.39, 0.2, baseline_max_ratio=2.0)[0] == S
    # tiny absolute values: the floor keeps 0 vs 0.05 from failing
    assert judge(m, 0.05, 0.0, baseline_max_ratio=2.0)[0] == S
    assert judge(m, 0.15, 0.0, baseline_max_ratio=2.0)[0] == F
    # disabled, no baseline data, or a lower-is-worse metric: no comparison
    assert judge(m, 0.6, 0.2, baseline_max_ratio=None)[0] == S
    assert judge(m, 0.6, None, baseline_max_ratio=2.0)[0] == S
    assert judge(metric("result > 0.5"), 0.9, 0.1, baseline_max_ratio=2.0)[0] == S


def spec(**kw: int) -> AnalysisSpec:
    return AnalysisSpec(metrics=(metric(),), **kw)  # type: ignore[arg-type]


def test_metric_phase_failure_limit_aborts_early() -> None:
    assert metric_phase([S], spec(count=3)) is None
    assert metric_phase([S, F], spec(count=3)) == F
    assert metric_phase([F], spec(count=3, failure_limit=1)) is None
    assert metric_phase([F, S, S], spec(count=3, failure_limit=1)) == S
    assert metric_phase([F, F], spec(count=3, failure_limit=1)) == F


def test_metric_phase_inconclusive_and_errors() -> None:
    assert metric_phase([INC], spec(count=3)) == INC
    assert metric_phase([INC, S, S], spec(count=3, inconclusive_limit=1)) == S
    assert metric_phase([E, E], spec(count=5)) is None
    assert metric_phase([E, E, E], spec(count=5)) == E
    assert metric_phase([E, S, E, E, S], spec(count=5)) == S
    # tolerated errors / no data alone prove nothing
    assert metric_phase([E, E], spec(count=2)) == E
    assert metric_phase([INC, INC], spec(count=2, inconclusive_limit=2)) == INC
    assert metric_phase([S, S, S], spec(count=3)) == S


def test_run_phase_is_the_worst() -> None:
    assert run_phase([]) == S
    assert run_phase([S, INC]) == INC
    assert run_phase([INC, E, S]) == E
    assert run_phase([E, F, INC]) == F


def test_too_few_requests_only_with_a_minimum_and_a_known_count() -> None:
    assert too_few_requests(12.4, 0, version="2.15.0", window="30s") is None
    assert too_few_requests(None, 100, version="2.15.0", window="30s") is None
    assert too_few_requests(100.0, 100, version="2.15.0", window="30s") is None
    why = too_few_requests(12.4, 100, version="2.15.0", window="30s")
    assert why == "only 12 requests to 2.15.0 in 30s (min_requests 100): too few to judge"


def test_analysis_spec_validation_names_the_parameter() -> None:
    good = analysis_spec(interval_s=0, count=1, window="30s", error_rate=0.05, p95_s=0.5,
                         baseline_max_ratio=0)
    assert good.baseline_max_ratio is None and good.count == 1
    assert [m.success for m in good.metrics] == ["result < 0.05", "result < 0.5"]
    bad: list[tuple[str, dict[str, object]]] = [
        ("count", {"count": 0}), ("interval_s", {"interval_s": -1}),
        ("failure_limit", {"failure_limit": -1}), ("inconclusive_limit",
                                                    {"inconclusive_limit": 1.5}),
        ("window", {"window": "1 minute"}), ("error_rate", {"error_rate": 2}),
        ("p95_s", {"p95_s": 0}), ("baseline_max_ratio", {"baseline_max_ratio": 0.5}),
        ("interval_s", {"interval_s": "30"}), ("min_requests", {"min_requests": -1}),
        ("min_requests", {"min_requests": 2.5}),
    ]
    for name, kwargs in bad:
        with pytest.raises(ParameterError) as info:
            analysis_spec(**kwargs)  # type: ignore[arg-type]
        assert info.value.name == name, kwargs
    with pytest.raises(ParameterError):
        validate_spec(AnalysisSpec(metrics=()))


def test_default_metrics_use_the_catalogue_queries() -> None:
    error_rate, p95 = default_metrics()
    text = error_rate.render(service="api", version="2.4.1", window="1m")
    assert 'noa_http_requests_total{namespace="noa",service="api",version="2.4.1",' in text
    assert 'status=~"5.."' in text and "[1m]" in text and "{" + "window}" not in text
    assert p95.render(service="web", version="1.0.0", window="5m").startswith(
        "histogram_quantile(0.95, sum by (le) (rate(noa_http_request_duration_seconds_bucket{")


def test_skipped_analysis_is_loud() -> None:
    result = skipped_analysis("step 2 (25 %)", "hotfix for P0 incident")
    assert result.phase == "Skipped" and result.skipped and result.passed
    (finding,) = result.findings
    assert finding.status == Status.WARNING
    assert "ANALYSIS SKIPPED" in finding.message and "NOT verified" in finding.message
    assert "hotfix" in finding.message
    with pytest.raises(ParameterError):
        skipped_analysis("x", " ")
