"""Guard rails and parameters of the database mitigations (pure logic, no server)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from noa_lib.config import Target
from noa_lib.errors import ParameterError, UnsafeActionRefused
from noa_lib.ops import db_pool, latency
from noa_lib.ops.pg_sessions import (
    Session,
    Sessions,
    check_age,
    parse_pids,
    parse_states,
    select_sessions,
    terminate_plan,
)
from noa_lib.ops.restart import ScaleTarget, scale_plan
from noa_sandbox.causes.pg_sessions import effects_of

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def session(pid: int, *, app: str = "noa-api", state: str | None = "idle in transaction",
            age: float = 300.0, user: str = "noa_ops", wait: str | None = None,
            blocked_by: tuple[int, ...] = (), superuser: bool = False,
            backend: str = "client backend", own: bool = False) -> Session:
    return Session(pid=pid, backend_start=NOW, user=user, application=app, client="10.0.0.7",
                   backend_type=backend, state=state, wait_event_type=wait, wait_event=None,
                   age_s=age, running_s=age if state == "active" else None,
                   query="SELECT 1", blocked_by=blocked_by, superuser=superuser,
                   replication=backend == "walsender", own=own)


SESSIONS = Sessions((
    session(10),                                             # old, idle in transaction: a leak
    session(11, age=20.0),                                   # too young
    session(12, state="idle"),                               # a state not listed
    session(13, state="active", age=120.0),                  # long-running statement
    session(14, app="noa-worker"),                           # another service
    session(20, app="walreceiver", state="streaming", backend="walsender", user="replicator"),
    session(21, user="postgres", superuser=True),            # a superuser under NOA's name
    session(22, app="noa-runbooks", state="active", own=True),
), NOW)


def test_filters_choose_old_sessions_in_the_listed_states_of_the_service_only() -> None:
    chosen = select_sessions(SESSIONS, applications=("noa-api",),
                             states=("idle in transaction", "active"), older_than_s=60)
    assert [s.pid for s in chosen.chosen] == [10, 13]
    assert chosen.refused == ((21, "refused: a superuser's session (postgres) is never "
                                    "terminated"),)
    only_idle = select_sessions(SESSIONS, applications=("noa-api",),
                                states=("idle in transaction",), older_than_s=60)
    assert [s.pid for s in only_idle.chosen] == [10]
    younger = select_sessions(SESSIONS, applications=("noa-api",),
                              states=("idle in transaction",), older_than_s=10)
    assert [s.pid for s in younger.chosen] == [10, 11]


def test_replication_superuser_and_our_own_session_are_refused_by_pid_naming_why() -> None:
    picked = select_sessions(SESSIONS, pids=[20, 21, 22, 11, 12, 99, 10], older_than_s=60)
    assert [s.pid for s in picked.chosen] == [10]
    reasons = dict(picked.refused)
    assert reasons[20] == "refused: a replication connection (walsender) is never terminated"
    assert reasons[21] == "refused: a superuser's session (postgres) is never terminated"
    assert reasons[22] == "refused: our own session is never terminated"
    assert reasons[11] == "only 20 s old (older_than_s=60)"
    assert "state 'idle' is not one of" in reasons[12]
    assert reasons[99] == "no such session (already gone?)"
    assert "pid 20: refused: a replication connection" in picked.refusal_message()


def test_an_empty_pid_list_chooses_nothing_and_the_plan_is_empty() -> None:
    picked = select_sessions(SESSIONS, pids=[], older_than_s=0)
    assert picked.chosen == () and picked.refused == ()
    plan = terminate_plan(Target("dev"), picked.chosen, action="terminate")
    assert plan.empty


def test_terminate_plan_names_each_session_and_says_it_cannot_be_undone() -> None:
    picked = select_sessions(SESSIONS, pids=[10, 13], states=("idle in transaction", "active"),
                             older_than_s=60)
    plan = terminate_plan(Target("dev"), picked.chosen, action="terminate")
    assert [c.resource for c in plan.changes] == ["session/dev/10", "session/dev/13"]
    assert {c.after for c in plan.changes} == {"terminated"}
    assert "cannot be revived" in plan.rollback


def test_blockers_are_the_roots_of_the_lock_waits_not_the_queued_waiters() -> None:
    # as PostgreSQL reports a row lock queue: each waiter also names the waiters ahead of it
    chain = Sessions((
        session(1, app="noa-worker"),
        session(2, state="active", wait="Lock", blocked_by=(1,)),
        session(3, state="active", wait="Lock", blocked_by=(2,)),
        session(4, app="noa-worker", state="active", wait="Lock", blocked_by=(2, 3)),
    ), NOW)
    assert [s.pid for s in chain.blockers()] == [1]
    assert [s.pid for s in chain.waiting()] == [2, 3, 4]
    assert Sessions((session(5),), NOW).blockers() == ()


@pytest.mark.parametrize(("call", "name"), [
    (lambda: parse_states("idle in transaction,sleeping"), "states"),
    (lambda: parse_states(" , "), "states"),
    (lambda: parse_pids("4711,abc"), "pids"),
    (lambda: parse_pids("-3"), "pids"),
    (lambda: check_age(-1), "older_than_s"),
    (lambda: db_pool.check_service("web"), "service"),
    (lambda: db_pool.check_window("5 minutes"), "window"),
    (lambda: db_pool.diagnose_pool(Target("dev"), older_than_s=-5, redact=str), "older_than_s"),
    (lambda: db_pool.diagnose_pool(Target("dev"), states="stuck", redact=str), "states"),
    (lambda: db_pool.diagnose_pool(Target("dev"), pids="x", redact=str), "pids"),
    (lambda: latency.diagnose_latency(Target("dev"), min_duration_s=0, redact=str),
     "min_duration_s"),
    (lambda: latency.diagnose_latency(Target("dev"), service="API!", redact=str), "service"),
    (lambda: latency.diagnose_latency(Target("dev"), window="soon", redact=str), "window"),
])
def test_bad_parameters_are_refused_naming_the_parameter_before_anything_is_read(
        call: object, name: str) -> None:
    # Target("dev") has no backends: reaching one would raise something else than ParameterError
    with pytest.raises(ParameterError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.name == name
    assert caught.value.accepted


def test_parameters_parse_to_what_the_guard_rails_use() -> None:
    assert parse_states("idle in transaction, active") == ("idle in transaction", "active")
    assert parse_pids("") == () and parse_pids("12, 13,12") == (12, 13)
    assert db_pool.check_service("worker") == "worker"


def test_scaling_beyond_the_hpa_maximum_is_refused_and_the_automatic_step_stays_within() -> None:
    hpa = ScaleTarget("hpa", "api", "noa", current=8, maximum=10)
    with pytest.raises(UnsafeActionRefused, match="beyond the maximum of HPA api \\(10\\)"):
        scale_plan(Target("dev"), hpa, 11)
    assert latency.scale_to(hpa) == 10
    assert latency.scale_to(ScaleTarget("deployment", "api", "noa", 3, None)) == 5
    with pytest.raises(ParameterError) as caught:
        scale_plan(Target("dev"), hpa, 0)
    assert caught.value.name == "replicas"


def test_the_sandbox_observer_turns_sessions_into_pool_and_latency_effects() -> None:
    slots = {"api": 60, "worker": 20}
    assert effects_of([], slots).empty  # no NOA session: exactly the normal world
    idle = {"app": "noa-api", "state": "idle in transaction", "wait_event_type": "Client",
            "running_s": 40.0}
    half = effects_of([idle] * 30, slots)
    assert dict(half.pool_held) == {"api": 30} and not half.pool_full
    full = effects_of([idle] * 60, slots)
    assert full.pool_full == {"api"} and full.error_5xx["api"] > 0
    waiting = {"app": "noa-worker", "state": "active", "wait_event_type": "Lock",
               "running_s": 3.0}
    slow = effects_of([waiting], slots)
    assert slow.extra_latency_s["worker"] > 1.5 and slow.pool_pressure > 0
    assert effects_of([{**idle, "app": "psql"}], slots).empty  # not one of NOA's services


def test_query_text_is_redacted_before_it_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    from noa_lib.ops.pg_sessions import _session
    from noa_lib.records.redaction import query_redactor

    secret = "Zq8-very-secret-app-password-41"
    monkeypatch.setenv("NOA_APP_DB_PASSWORD", secret)
    monkeypatch.setenv("NOA_CONFIG", "/nonexistent/noa.toml")  # no configuration: env + patterns
    row = {"pid": 7, "application": "noa-api", "backend_type": "client backend",
           "state": "active", "age_s": 3.0,
           "query": f"ALTER ROLE app PASSWORD '{secret}';\n  SELECT   1"}
    kept = _session(row, query_redactor())
    assert secret not in kept.query and "[REDACTED]" in kept.query
    assert kept.query.endswith("SELECT 1")  # whitespace folded
