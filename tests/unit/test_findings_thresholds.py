"""Threshold classification at its boundaries, and the worst status of a set of findings."""

from __future__ import annotations

import pytest

from noa_lib.ops.findings import Finding, Status, worst
from noa_lib.ops.thresholds import THRESHOLDS, threshold


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, Status.OK),
        (69.9, Status.OK),
        (70.0, Status.WARNING),
        (89.9, Status.WARNING),
        (90.0, Status.CRITICAL),
        (100.0, Status.CRITICAL),
    ],
)
def test_db_connections_higher_is_worse(value: float, expected: Status) -> None:
    assert threshold("db_connections").classify(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (100.0, Status.OK),
        (60.1, Status.OK),
        (60.0, Status.WARNING),
        (40.1, Status.WARNING),
        (40.0, Status.CRITICAL),
        (0.0, Status.CRITICAL),
    ],
)
def test_cache_hit_rate_lower_is_worse(value: float, expected: Status) -> None:
    assert threshold("cache_hit_rate").classify(value) is expected


def test_every_threshold_orders_its_bounds() -> None:
    for t in THRESHOLDS.values():
        if t.higher_is_worse:
            assert t.warning < t.critical, t.metric
        else:
            assert t.warning > t.critical, t.metric


def test_unknown_threshold_names_known_ones() -> None:
    with pytest.raises(KeyError, match="db_connections"):
        threshold("no_such_metric")


def _f(status: Status) -> Finding:
    return Finding(check=str(status), status=status, message="")


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], Status.OK),
        ([Status.OK, Status.SKIPPED], Status.OK),
        ([Status.SKIPPED, Status.WARNING, Status.OK], Status.WARNING),
        ([Status.WARNING, Status.UNREACHABLE], Status.UNREACHABLE),
        ([Status.UNREACHABLE, Status.CRITICAL, Status.WARNING], Status.CRITICAL),
    ],
)
def test_worst(statuses: list[Status], expected: Status) -> None:
    assert worst(_f(s) for s in statuses) is expected
