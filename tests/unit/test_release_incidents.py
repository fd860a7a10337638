"""The release incidents' pure logic: when a rollout counts as recent, the last good release,
the high-error-rate decision (rollback or hand-over), the P0 decision with its DR hand-over, and
parameter validation before anything is read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from noa_lib.config import Target
from noa_lib.errors import ParameterError
from noa_lib.ops.alert_triage import RecentRollout
from noa_lib.ops.deploy.revisions import Revision
from noa_lib.ops.error_rate import (
    AI_RUNBOOK,
    DB_RUNBOOK,
    LOGS_RUNBOOK,
    OUTAGE_RUNBOOK,
    check_parameters,
    decide,
    diagnose_error_rate,
)
from noa_lib.ops.outage import (
    DR_RUNBOOK,
    DatabaseState,
    DeploymentPods,
    decide_outage,
    diagnose_outage,
)
from noa_lib.ops.release_history import (
    Releases,
    last_good_revision,
    recent_rollout,
    rolled_out_at,
)
from noa_lib.ops.release_rollback import check_verify_parameters, decided_mitigation

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
IMAGE = "registry.noa.example/noa-server:"


def rev(number: int, version: str, *, current: bool = False, ready: int = 0,
        created: str = "2026-12-04T11:00:00Z") -> Revision:
    return Revision(number=number, replicaset=f"api-{number}", image=IMAGE + version,
                    version=version, created=created, replicas=ready, ready=ready,
                    current=current, change_cause="")


HISTORY = (rev(1, "2.13.0"), rev(2, "2.14.0"), rev(3, "2.15.1", current=True, ready=3))


def rollout(minutes: float | None, revision: int = 3, previous: int | None = 2) -> RecentRollout:
    at = None if minutes is None else NOW - timedelta(minutes=minutes)
    return RecentRollout("api", revision, previous, at, minutes, IMAGE + "2.15.1")


def test_a_reused_replicaset_rolled_out_when_the_deployment_last_progressed() -> None:
    current = rev(7, "2.14.0", current=True, created="2026-12-01T08:00:00Z")  # reused: old RS
    dep = {"metadata": {"name": "api"}, "status": {"conditions": [
        {"type": "Progressing", "reason": "NewReplicaSetAvailable",
         "lastUpdateTime": "2026-12-04T11:50:00Z",
         "message": 'ReplicaSet "api-7" has successfully progressed.'}]}}
    assert rolled_out_at(dep, current) == datetime(2026, 12, 4, 11, 50, tzinfo=UTC)
    found = recent_rollout(dep, (rev(1, "2.13.0"), current), NOW)
    assert found is not None and (found.minutes_ago, found.previous_revision) == (10.0, 1)
    other = {"status": {"conditions": [{"type": "Progressing", "lastUpdateTime":
                                        "2026-12-04T11:59:00Z", "message": 'ReplicaSet "x"'}]}}
    assert rolled_out_at(other, current) == datetime(2026, 12, 1, 8, tzinfo=UTC)


def test_the_last_good_release_is_the_newest_earlier_one_whose_pods_were_ready() -> None:
    history = (rev(1, "2.13.0"), rev(2, "2.14.0"), rev(3, "2.15.0"),
               rev(4, "2.15.1", current=True))
    # 2.15.0 never had a Ready pod (a rollout undone): skipped for 2.14.0
    assert last_good_revision(history, {"api-1": 3, "api-2": 3, "api-4": 3}).number == 2
    assert last_good_revision(history, {"api-3": 1}).number == 3
    assert last_good_revision(history, {}) is None  # no evidence, no guess
    # a revision on the failing image is no way back, even when it was Ready
    same = (rev(1, "2.15.1", ready=3), rev(2, "2.15.1", current=True))
    assert last_good_revision(same, {"api-1": 3}) is None


def test_high_error_rate_rolls_back_a_recent_rollout() -> None:
    d = decide("api", 30.0, rollout(12), HISTORY, rollback_window_min=30, ai_failing=True,
               db_failing=True)
    assert d.action == "rollback" and d.choice is not None
    assert (d.choice.from_revision, d.choice.to_revision) == (3, 2)
    assert d.choice.to_image == IMAGE + "2.14.0" and "12 min ago" in d.message


@pytest.mark.parametrize(("ai", "db", "runbook"), [(True, False, AI_RUNBOOK),
                                                   (False, True, DB_RUNBOOK),
                                                   (True, True, AI_RUNBOOK),
                                                   (False, False, LOGS_RUNBOOK)])
def test_errors_that_are_not_the_release_hand_over(ai: bool, db: bool, runbook: str) -> None:
    d = decide("api", 30.0, rollout(45), HISTORY, rollback_window_min=30, ai_failing=ai,
               db_failing=db)
    assert (d.action, d.next_runbook, d.choice) == ("hand over", runbook, None)
    assert "45 min ago (≥ 30 min)" in d.message and runbook in d.message


def test_no_mitigation_under_the_threshold_and_an_outage_without_traffic() -> None:
    calm = decide("api", 4.0, rollout(5), HISTORY, rollback_window_min=30, ai_failing=False,
                  db_failing=False)
    assert calm.action == "none" and calm.finding().status == "ok"
    silent = decide("api", None, rollout(5), HISTORY, rollback_window_min=30,
                    ai_failing=False, db_failing=False)
    assert (silent.action, silent.next_runbook) == ("hand over", OUTAGE_RUNBOOK)
    first = decide("api", 30.0, rollout(5, previous=None), (rev(1, "2.15.1", current=True),),
                   rollback_window_min=30, ai_failing=False, db_failing=False)
    assert first.action == "hand over" and "no earlier revision" in first.message


def releases(history: tuple[Revision, ...]) -> Releases:
    return Releases("api", "noa", history, rollout(3), {})


@pytest.mark.parametrize("database", ["gone", "corrupt", "unreachable"])
def test_a_lost_database_hands_over_to_pitr_and_plans_no_rollback(
        database: DatabaseState) -> None:
    down = DeploymentPods("api", 3, 0, 0)
    d = decide_outage("prod", "api", down, database, releases(HISTORY), HISTORY[1])
    assert (d.action, d.next_runbook, d.choice) == ("hand over", DR_RUNBOOK, None)
    assert d.command.startswith(f"noa run {DR_RUNBOOK} --target prod -p target_time")
    assert "not the release" in d.message and d.finding().evidence["command"] == d.command


def test_an_outage_rolls_back_to_the_last_good_release() -> None:
    down = DeploymentPods("api", 3, 0, 0)
    d = decide_outage("sandbox", "api", down, "ok", releases(HISTORY), HISTORY[0])
    assert d.action == "rollback" and d.choice is not None
    assert (d.choice.from_revision, d.choice.to_revision) == (3, 1)
    serving = decide_outage("sandbox", "api", DeploymentPods("api", 3, 1, 1), "ok",
                            releases(HISTORY), HISTORY[1])
    assert serving.action == "none"
    lost = decide_outage("sandbox", "api", down, "ok", releases(HISTORY), None)
    assert (lost.action, lost.next_runbook) == ("hand over", LOGS_RUNBOOK)


def test_an_empty_decision_plans_nothing() -> None:
    target = Target("sandbox")
    d = decide("api", 4.0, rollout(5), HISTORY, rollback_window_min=30, ai_failing=False,
               db_failing=False)
    m = decided_mitigation(target, d, lambda choice: pytest.fail("no verify for no plan"))
    assert m.plan.empty and m.revert is None and d.message in m.plan.action


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"service": "API_"}, "service"), ({"window": "five"}, "window"),
    ({"rollback_window_min": 0}, "rollback_window_min"),
    ({"rollback_window_min": True}, "rollback_window_min"),
])
def test_bad_parameters_are_refused_before_anything_is_read(kwargs: dict, name: str) -> None:
    given = {"service": "api", "window": "5m", "rollback_window_min": 30, **kwargs}
    with pytest.raises(ParameterError) as info:
        check_parameters(**given)
    assert info.value.name == name
    nowhere = Target("nowhere")  # no backend configured: only validation can fail
    with pytest.raises(ParameterError):
        diagnose_error_rate(nowhere, given["service"], window=given["window"],
                            rollback_window_min=given["rollback_window_min"])
    if name in ("service", "window"):
        with pytest.raises(ParameterError):
            diagnose_outage(nowhere, given["service"], window=given["window"])


@pytest.mark.parametrize(("window", "timeout", "name"), [
    ("soon", 60, "verify_window"), ("30s", -1, "verify_timeout_s"),
    ("30s", 7200, "verify_timeout_s"),
])
def test_bad_verify_parameters_are_refused(window: str, timeout: float, name: str) -> None:
    with pytest.raises(ParameterError) as info:
        check_verify_parameters(window, timeout)
    assert info.value.name == name
