"""The pure decisions of incident/oom_kills and incident/disk_space: leak vs undersized, the
proposed limit and size, time to full, guard rails and parameter validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from noa_lib.errors import ParameterError, UnsafeActionRefused
from noa_lib.ops.resources.disk_rules import (
    check_expansion,
    disk_parameters,
    propose_size,
    time_to_full,
)
from noa_lib.ops.resources.oom_rules import (
    Bounds,
    OomEvidence,
    check_limit,
    classify,
    climb_rate,
    oom_parameters,
    propose_limit,
)
from noa_lib.ops.resources.quantity import GI, MI, format_bytes, parse_bytes

HOUR = 3600.0


def evidence(**overrides: object) -> OomEvidence:
    base: dict[str, object] = dict(oom_kills=4.0, memory_pct=97.0, climb_pct_per_min=0.0,
                                   limit_lowered=False, image_changed=False,
                                   rollout_age_s=10 * HOUR)
    base.update(overrides)
    return OomEvidence(**base)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- leak vs undersized


def test_a_climb_after_a_recent_release_is_a_leak() -> None:
    verdict = classify(evidence(climb_pct_per_min=2.0, image_changed=True, rollout_age_s=900))
    assert verdict.cause == "leak" and "roll it back" in verdict.reason


def test_a_lowered_limit_is_undersized_even_when_a_release_came_with_it() -> None:
    assert classify(evidence(limit_lowered=True, image_changed=True, rollout_age_s=60,
                             climb_pct_per_min=3.0)).cause == "undersized"


def test_a_flat_working_set_near_the_limit_is_undersized() -> None:
    assert classify(evidence(climb_pct_per_min=0.1)).cause == "undersized"
    assert classify(evidence(climb_pct_per_min=None)).cause == "undersized"


def test_a_climb_without_a_recent_release_is_unclear_and_an_old_release_is_not_blamed() -> None:
    assert classify(evidence(climb_pct_per_min=2.0)).cause == "unclear"
    assert classify(evidence(climb_pct_per_min=2.0, image_changed=True,
                             rollout_age_s=5 * HOUR)).cause == "unclear"


def test_no_kills_and_room_under_the_limit_is_healthy() -> None:
    assert classify(evidence(oom_kills=0.0, memory_pct=62.0)).cause == "healthy"
    assert classify(evidence(oom_kills=0.0, memory_pct=91.0)).cause == "undersized"


def sawtooth(start: float, climb_per_min: float, period_s: float, minutes: float,
             step_s: float = 15.0) -> list[tuple[float, float]]:
    """A leak: from 40 % up by ``climb_per_min`` until killed every ``period_s``."""
    out, t = [], start
    while t < start + minutes * 60:
        out.append((t, 40.0 + climb_per_min * ((t - start) % period_s) / 60.0))
        t += step_s
    return out


def test_climb_rate_measures_the_climb_between_restarts() -> None:
    rate = climb_rate([sawtooth(0, 8.0, 420, 30), sawtooth(7, 8.0, 420, 30)])
    assert rate == pytest.approx(8.0, rel=0.05)
    flat = [(float(t), 93.0 + (t % 2) * 0.2) for t in range(0, 900, 15)]
    assert abs(climb_rate([flat]) or 0.0) < 0.1
    assert climb_rate([sawtooth(0, 30.0, 60, 10)]) is None  # killed within a minute: no stretch


# --------------------------------------------------------------------------- the new limit


def test_the_limit_is_the_peak_with_headroom_rounded_up_and_never_lower() -> None:
    new = propose_limit(peak=1.25 * GI, current=2 * GI, previous=None, headroom_pct=30,
                        limit_lowered=False)
    assert new == 2 * GI  # 1.625 GiB is below the current limit: never lowered
    new = propose_limit(peak=1.25 * GI, current=1 * GI, previous=None, headroom_pct=30,
                        limit_lowered=False)
    assert new == 1664 * MI and new % (64 * MI) == 0


def test_a_peak_cut_off_by_the_killer_after_a_lowered_limit_returns_to_the_previous_one() -> None:
    new = propose_limit(peak=0.99 * GI, current=1 * GI, previous=2 * GI, headroom_pct=30,
                        limit_lowered=True)
    assert new == 2 * GI
    assert propose_limit(peak=0.99 * GI, current=1 * GI, previous=2 * GI, headroom_pct=30,
                         limit_lowered=False) == round(0.99 * 1.3 * 16) * 64 * MI


def test_a_limit_beyond_max_limit_the_limitrange_or_the_quota_is_refused() -> None:
    with pytest.raises(UnsafeActionRefused, match="above max_limit=4Gi"):
        check_limit(5 * GI, 1 * GI, 2, 1, Bounds(max_limit=4 * GI))
    with pytest.raises(UnsafeActionRefused, match="LimitRange"):
        check_limit(3 * GI, 1 * GI, 2, 1, Bounds(max_limit=4 * GI, limit_range_max=2 * GI))
    with pytest.raises(UnsafeActionRefused, match="ResourceQuota"):
        # used 6 GiB of 10; two pods 1 -> 2 GiB (+2) plus one surge pod (+2) = 10.5 > 10
        check_limit(2.25 * GI, 1 * GI, 2, 1, Bounds(4 * GI, None, 10 * GI, 6 * GI))
    check_limit(2 * GI, 1 * GI, 2, 1, Bounds(4 * GI, 2 * GI, 10 * GI, 6 * GI))  # fits


def test_oom_parameters_refuse_bad_values_naming_the_parameter() -> None:
    ok = oom_parameters(service="worker", window="15m", headroom_pct=30, max_limit="4Gi")
    assert (ok.window_s, ok.max_limit) == (900.0, 4 * GI)
    cases = [({"service": "Worker_1"}, "service"), ({"window": "15 minutes"}, "window"),
             ({"headroom_pct": 0}, "headroom_pct"), ({"headroom_pct": 500.0}, "headroom_pct"),
             ({"max_limit": "lots"}, "max_limit"), ({"max_limit": "0Gi"}, "max_limit")]
    for change, name in cases:
        args: dict[str, object] = dict(service="worker", window="15m", headroom_pct=30.0,
                                       max_limit="4Gi")
        args.update(change)
        with pytest.raises(ParameterError) as err:
            oom_parameters(**args)  # type: ignore[arg-type]
        assert err.value.name == name and err.value.accepted


# --------------------------------------------------------------------------- disk


def test_time_to_full_extrapolates_the_line_since_the_last_step_change() -> None:
    capacity, now, rate = 20 * GI, 8600.0, 0.1 * MI
    before = [(t, 5.0 * GI) for t in range(0, 5000, 60)]  # flat, then a restore jumped it
    after = [(5000.0 + i * 60, 18 * GI + i * 60 * rate) for i in range(60)]
    ttf = time_to_full([*before, *after], capacity, now)
    assert ttf.rate_bytes_s == pytest.approx(rate)
    level = 18 * GI + (now - 5000) * rate
    assert ttf.seconds == pytest.approx((capacity - level) / rate)
    assert ttf.full_at == pytest.approx(datetime.fromtimestamp(now + ttf.seconds, UTC))
    assert ttf.seconds == pytest.approx(16880.0)
    assert ttf.fit_from == 5000.0 and ttf.points == 60 and "full in" in ttf.describe()


def test_a_volume_that_does_not_grow_has_no_time_to_full() -> None:
    flat = [(float(t), 8 * GI - t) for t in range(0, 600, 60)]
    assert time_to_full(flat, 20 * GI, 600.0).seconds is None
    assert time_to_full(flat[:2], 20 * GI, 600.0).rate_bytes_s is None


def test_the_proposed_size_puts_usage_under_70_percent_in_whole_gib() -> None:
    size = propose_size(used=18.6 * GI, capacity=20 * GI, grow_to=None)
    assert size == 27 * GI and 18.6 * GI / size < 0.70
    assert propose_size(used=2 * GI, capacity=20 * GI, grow_to=None) == 21 * GI  # at least +1
    assert propose_size(used=18 * GI, capacity=20 * GI, grow_to=40 * GI) == 40 * GI


def test_an_expansion_on_a_class_that_does_not_allow_it_or_a_shrink_is_refused() -> None:
    with pytest.raises(UnsafeActionRefused, match="efs-sc does not allow volume expansion"):
        check_expansion(pvc="noa-worker-data", storage_class="efs-sc", allows=False,
                        current=50 * GI, new=60 * GI)
    with pytest.raises(UnsafeActionRefused, match="can never shrink"):
        check_expansion(pvc="noa-uploads", storage_class="gp3", allows=True, current=20 * GI,
                        new=10 * GI)
    with pytest.raises(UnsafeActionRefused, match="can never shrink"):
        check_expansion(pvc="noa-uploads", storage_class="gp3", allows=True, current=20 * GI,
                        new=20 * GI)
    check_expansion(pvc="noa-uploads", storage_class="gp3", allows=True, current=20 * GI,
                    new=27 * GI)


def test_disk_parameters_refuse_bad_values_naming_the_parameter() -> None:
    assert disk_parameters(pvc="noa-uploads", window="6h", grow_to="").grow_to is None
    assert disk_parameters(pvc="noa-uploads", window="6h", grow_to="40Gi").grow_to == 40 * GI
    for args, name in (({"pvc": "Bad/Name"}, "pvc"), ({"window": "six hours"}, "window"),
                       ({"grow_to": "40 GB"}, "grow_to")):
        full = {"pvc": "noa-uploads", "window": "6h", "grow_to": "", **args}
        with pytest.raises(ParameterError) as err:
            disk_parameters(**full)
        assert err.value.name == name


def test_quantities_parse_and_format() -> None:
    assert parse_bytes("1536Mi", "x") == 1.5 * GI and parse_bytes("2G", "x") == 2e9
    assert format_bytes(2 * GI) == "2Gi" and format_bytes(1.5 * GI) == "1536Mi"
    with pytest.raises(ParameterError):
        parse_bytes(True, "x")
