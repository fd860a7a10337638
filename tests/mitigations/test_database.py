"""The database mitigations cure real causes on the private sandbox.

pool-exhausted (NOA sessions held idle in transaction) → ``incident/db_pool_exhausted``;
slow-db (a row lock with NOA statements waiting on it) → ``incident/high_latency``. Each: the
symptom is in Prometheus, the default dry run changes nothing (same sessions in
``pg_stat_activity``, no mutating request in the sandbox API's log), the applied run terminates
the cause, its verify passes, Prometheus shows the metric back under its bar, the incident given
with ``--incident`` ends ``mitigated``; back at ``normal`` no NOA session and no holder is left.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from private_sandbox import PrivateSandbox as MitigationSandbox

import noa_lib as noa
from noa_lib.errors import UnsafeActionRefused
from noa_lib.records.incidents import IncidentStore
from noa_lib.records.runner import RunRequest, RunResult, run
from noa_sandbox import causes, postgres, processes
from noa_sandbox.credentials import PG_SUPERUSER_PASSWORD, read_secret
from noa_sandbox.simulator import catalog
from noa_sandbox.state import load_state

POOL_FULL_PODS = ('count(noa_db_pool_connections_in_use{namespace="noa",service="api"}'
                  ' == noa_db_pool_connections_max{namespace="noa",service="api"})')
POOL_USAGE = ('max(avg_over_time(noa_db_pool_connections_in_use{namespace="noa",service="api"}'
              '[15s]) / avg_over_time(noa_db_pool_connections_max{namespace="noa",'
              'service="api"}[15s])) * 100')
P95 = ('histogram_quantile(0.95, sum by (le) (rate(noa_http_request_duration_seconds_bucket'
       '{namespace="noa",service="api"}[15s])))')
NOA_APPS = ("noa-api", "noa-worker")


def scalar(sb: MitigationSandbox, promql: str) -> float | None:
    endpoint = sb.status.service("prometheus").endpoint
    url = f"{endpoint}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=30) as rsp:  # noqa: S310 - loopback
        result = json.loads(rsp.read())["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def eventually(check: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what}: not seen within {timeout:.0f} s")
        time.sleep(1.0)
    return time.monotonic() - start


def pg_port(sb: MitigationSandbox) -> int:
    port = load_state(sb.layout.state_file).postgres.port
    assert port is not None
    return port


def sessions(sb: MitigationSandbox) -> list[tuple[int, str, str | None, str | None]]:
    """NOA's sessions now: (pid, application, state, wait_event_type)."""
    port = pg_port(sb)
    password = read_secret(sb.layout.secrets_dir, PG_SUPERUSER_PASSWORD)
    with postgres.connect(port, user=postgres.SUPERUSER, password=password,
                          dbname="noa") as conn:
        rows = conn.execute("SELECT pid, application_name, state, wait_event_type FROM "
                            "pg_stat_activity WHERE application_name = ANY(%s) ORDER BY pid",
                            (list(NOA_APPS),)).fetchall()
    return [(int(str(r[0])), str(r[1]), r[2], r[3]) for r in rows]  # type: ignore[misc]


def mutating_requests(sb: MitigationSandbox) -> int:
    log = sb.state / "kube" / "requests.jsonl"
    return sum(1 for line in log.read_text().splitlines() if json.loads(line).get("mutating"))


def runbook(name: str, reports_dir: Path, incident: str | None = None,
            **parameters: str) -> RunResult:
    if incident:
        parameters["incident"] = incident
    started = time.monotonic()
    result = run(RunRequest(name, parameters, reports_dir=reports_dir, html=False,
                            incident=incident))
    assert result.exit_code == 0, result.message
    print(f"\n  {name} {parameters}: {time.monotonic() - started:.1f} s")
    return result


def figures(result: RunResult) -> dict[str, Any]:
    return dict(result.metadata["outcome"]["figures"])


def holder_of(sb: MitigationSandbox) -> tuple[int, int]:
    made = causes.created(sb.layout)["created"]
    return int(made["pid"]), int(made["start_time"])


def assert_nothing_left(sb: MitigationSandbox, holder: tuple[int, int]) -> None:
    assert sessions(sb) == []
    assert not processes.is_alive(*holder)
    assert causes.created(sb.layout) == {}


def test_pool_exhausted_is_cured_by_terminating_the_held_sessions(
        runner_env: MitigationSandbox, reports_dir: Path) -> None:
    sb = runner_env
    started = time.monotonic()
    with sb.scenario("pool-exhausted"):
        held = sessions(sb)
        api_slots = catalog.POOL_MAX["api"] * 3
        assert [s for s in held if s[1] == "noa-api" and s[2] == "idle in transaction"] \
            and len([s for s in held if s[1] == "noa-api"]) == api_slots
        seen = eventually(lambda: (scalar(sb, POOL_FULL_PODS) or 0) >= 3, 30,
                          "every api pod's pool at its max")
        print(f"\n  pool at its max in Prometheus after {seen:.1f} s")
        holder = holder_of(sb)
        time.sleep(max(0.0, 3.0 - seen))  # older than older_than_s below

        # a superuser's session asked for by pid is refused before anything is touched
        password = read_secret(sb.layout.secrets_dir, PG_SUPERUSER_PASSWORD)
        with postgres.connect(pg_port(sb), user=postgres.SUPERUSER, password=password,
                              dbname="noa") as su:
            pid = su.info.backend_pid
            with pytest.raises(UnsafeActionRefused, match=f"pid {pid} refused: a superuser"):
                noa.diagnose_pool(sb.target, pids=str(pid), redact=str)

        writes = mutating_requests(sb)
        dry = runbook("incident/db_pool_exhausted", reports_dir, older_than_s="2")
        assert figures(dry)["mitigation"] == "dry-run" and figures(dry)["candidates"] == api_slots
        assert sessions(sb) == held  # the same sessions, in the same states
        assert mutating_requests(sb) == writes

        incident = IncidentStore(reports_dir).open(title="api pool exhausted", severity="P1",
                                                   commander="tests")
        cured = runbook("incident/db_pool_exhausted", reports_dir, incident.id,
                        older_than_s="2", dry_run="false")
        assert figures(cured)["mitigation"] == "cured", cured.metadata["outcome"]
        assert [s for s in sessions(sb) if s[1] == "noa-api"] == []
        assert processes.is_alive(*holder)  # it still holds the worker's sessions …
        time.sleep(2.0)
        assert [s for s in sessions(sb) if s[1] == "noa-api"] == []  # … and reconnected none
        usage = scalar(sb, POOL_USAGE)
        assert usage is not None and usage < noa.THRESHOLDS["db_connections"].warning
        assert IncidentStore(reports_dir).get(incident.id).status == "mitigated"
        events = [e["kind"] for e in cured.metadata["timeline"]]
        assert "change-applied" in events and "verify-passed" in events
    assert_nothing_left(sb, holder)
    took = time.monotonic() - started
    print(f"\npool-exhausted → db_pool_exhausted cured, end to end {took:.1f} s")
    assert took < 90


def test_slow_db_is_cured_by_terminating_the_blocking_session(
        runner_env: MitigationSandbox, reports_dir: Path) -> None:
    sb = runner_env
    started = time.monotonic()
    with sb.scenario("slow-db"):
        before = sessions(sb)
        assert len([s for s in before if s[3] == "Lock"]) == 5
        seen = eventually(lambda: (scalar(sb, P95) or 0) > 2.0, 30, "api p95 above 2 s")
        print(f"\n  api p95 above 2 s in Prometheus after {seen:.1f} s")
        holder = holder_of(sb)

        writes = mutating_requests(sb)
        dry = runbook("incident/high_latency", reports_dir, window="15s")
        assert figures(dry)["mitigation"] == "dry-run" and figures(dry)["blockers"] == 1
        assert sessions(sb) == before
        assert mutating_requests(sb) == writes

        incident = IncidentStore(reports_dir).open(title="api slow", severity="P1",
                                                   commander="tests")
        cured = runbook("incident/high_latency", reports_dir, incident.id, window="15s",
                        dry_run="false")
        assert figures(cured)["mitigation"] == "cured", cured.metadata["outcome"]
        assert [s for s in sessions(sb) if s[3] == "Lock"] == []
        # the waiters' statements ran and their sessions closed: the holder, left without a
        # session, exits by itself (it never reconnects)
        eventually(lambda: not processes.is_alive(*holder), 15, "the holder exits on its own")
        assert sessions(sb) == []
        p95 = scalar(sb, P95)
        assert p95 is not None and p95 < 2.0
        assert IncidentStore(reports_dir).get(incident.id).status == "mitigated"
    assert_nothing_left(sb, holder)
    took = time.monotonic() - started
    print(f"\nslow-db → high_latency cured, end to end {took:.1f} s")
    assert took < 90


def test_a_scale_up_that_does_not_cure_is_reverted_to_the_old_count(
        mitigation_sandbox: MitigationSandbox) -> None:
    from noa_lib.clients import kube_apps
    from noa_lib.ops.mitigation import Verdict

    sb = mitigation_sandbox
    hpa = lambda: kube_apps.get(sb.target.kubernetes, "horizontalpodautoscalers",  # noqa: E731
                                "api")["spec"]["minReplicas"]
    before = hpa()
    where = noa.scale_target(sb.target, "api")
    assert where.kind == "hpa" and where.current == before
    with pytest.raises(UnsafeActionRefused, match="beyond the maximum of HPA api"):
        noa.scale_plan(sb.target, where, (where.maximum or 0) + 1)
    diagnosis = noa.diagnose_latency(sb.target, service="api", window="1m", redact=str)
    diagnosis = replace(diagnosis, scale=where, selection=replace(diagnosis.selection, chosen=()))
    mitigation = noa.latency_mitigation(sb.target, diagnosis, redact=str)
    assert mitigation.plan.changes[0].after > before
    failing = replace(mitigation, verify=lambda: Verdict(False, "made to fail"),
                      verify_timeout_s=0.5)
    outcome = noa.run_mitigation(failing, dry_run=False)
    assert outcome.status == "reverted"
    assert "reverted because the verify failed" in outcome.findings[-1].message
    assert hpa() == before
