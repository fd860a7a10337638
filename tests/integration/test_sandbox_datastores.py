"""Redis, postgres_exporter and redis_exporter in the project sandbox: real servers, no mocks.

Prometheus scrapes both exporters; their numbers follow what really happens (sessions opened to
PostgreSQL, the simulator's cache traffic in Redis); no generated secret leaks into a command
line, a log or ``status --json``; the backfilled history carries the exporter series.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

import noa_sandbox as sandbox
from noa_sandbox import exporters, postgres, seed
from noa_sandbox.credentials import load_credentials
from noa_sandbox.models import SandboxStatus
from tests.integration.test_sandbox_prometheus import eventually, prom_url, query, scalar

pytestmark = pytest.mark.integration

DAY = 86_400.0


@pytest.fixture(scope="module")
def project(sandbox_state: Path) -> SandboxStatus:
    status = sandbox.status(sandbox_state)
    assert status.healthy, status.to_dict()
    return status


def _secrets(state_dir: Path) -> tuple[str, ...]:
    """Every generated password and secret key (not the S3 access key *id*, an identifier that
    SeaweedFS logs at start-up)."""
    creds = load_credentials(state_dir / "secrets")
    assert creds is not None
    return (creds.pg_password, creds.pg_superuser_password, creds.s3_secret_access_key,
            creds.redis_password, creds.pg_monitor_password)


def _redis_client(status: SandboxStatus) -> redis.Redis:
    creds = load_credentials(status.state_dir / "secrets")
    assert creds is not None
    port = status.service("redis").endpoint
    assert port is not None
    return redis.Redis.from_url(port, password=creds.redis_password, socket_timeout=5)


def _sim_cache_hits(status: SandboxStatus) -> float:
    import urllib.request

    endpoint = status.service("simulator").endpoint
    assert endpoint is not None
    with urllib.request.urlopen(endpoint, timeout=10) as rsp:
        text = rsp.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("noa_cache_hits_total{"))


def test_both_exporters_are_scraped_with_their_service_monitor_labels(
    project: SandboxStatus,
) -> None:
    url = prom_url(project)
    for job, instance in ((exporters.POSTGRES_JOB, exporters.POSTGRES_INSTANCE),
                          (exporters.REDIS_JOB, exporters.REDIS_INSTANCE)):
        eventually(lambda job=job: scalar(url, f'up{{job="{job}"}}') == 1.0, 20, f"{job} up")
        [series] = query(url, f'up{{job="{job}"}}')
        assert series["metric"]["instance"] == instance
        assert series["metric"]["namespace"] == "noa"
    assert scalar(url, f'pg_up{{job="{exporters.POSTGRES_JOB}"}}') == 1.0
    assert scalar(url, f'redis_up{{job="{exporters.REDIS_JOB}"}}') == 1.0
    for svc in ("redis", "postgres_exporter", "redis_exporter"):
        assert project.service(svc).state == "running", project.service(svc)


def test_max_connections_matches_the_server_setting(project: SandboxStatus) -> None:
    creds = load_credentials(project.state_dir / "secrets")
    assert creds is not None
    pg_port = int(str(project.service("postgres").endpoint).rsplit(":", 1)[1].split("/")[0])
    with postgres.connect(pg_port, user=seed.OPS_ROLE, password=creds.pg_password,
                          dbname=seed.DATABASE) as conn:
        row = conn.execute("SHOW max_connections").fetchone()
    assert row is not None
    url = prom_url(project)
    assert scalar(url, "pg_settings_max_connections") == float(str(row[0]))


def test_opened_sessions_raise_and_closed_ones_lower_the_activity_count(
    project: SandboxStatus,
) -> None:
    creds = load_credentials(project.state_dir / "secrets")
    assert creds is not None
    pg_port = int(str(project.service("postgres").endpoint).rsplit(":", 1)[1].split("/")[0])
    url = prom_url(project)
    promql = 'sum(pg_stat_activity_count{datname="noa"})'
    before = scalar(url, promql)
    assert before is not None
    extra = 6
    conns = [postgres.connect(pg_port, user=seed.OPS_ROLE, password=creds.pg_password,
                              dbname=seed.DATABASE) for _ in range(extra)]
    try:
        for conn in conns:
            conn.execute("SELECT 1")
        took = eventually(lambda: (scalar(url, promql) or 0.0) >= before + extra, 15,
                          f"{extra} more sessions on noa")
        assert took <= 15
        during = scalar(url, promql)
    finally:
        for conn in conns:
            conn.close()
    assert during is not None
    eventually(lambda: (scalar(url, promql) or 1e9) <= during - extra, 15,
               "the closed sessions gone from pg_stat_activity_count")


def test_redis_memory_commands_and_hits_are_real(project: SandboxStatus) -> None:
    url = prom_url(project)
    assert scalar(url, "redis_up") == 1.0
    assert scalar(url, "redis_memory_max_bytes") == 256 * 2**20
    eventually(lambda: 0.25 <= (scalar(url, "redis_memory_used_bytes / redis_memory_max_bytes")
                                or 0.0) <= 0.60, 30, "Redis memory at 25-60 % of maxmemory")
    first = {m: scalar(url, m) for m in ("redis_commands_processed_total",
                                         "redis_keyspace_hits_total")}
    cmds = {r["metric"]["cmd"] for r in query(url, "redis_commands_total")}
    assert {"get", "set", "expire", "del"} <= cmds
    eventually(lambda: all((scalar(url, m) or 0.0) > (v or 0.0) for m, v in first.items()),
               20, "Redis commands and keyspace hits increasing")
    hit_ratio = scalar(url, "rate(redis_keyspace_hits_total[1m]) / (rate(redis_keyspace_hits_total"
                            "[1m]) + rate(redis_keyspace_misses_total[1m]))")
    assert hit_ratio is not None and 0.5 < hit_ratio < 0.99


def test_simulator_cache_hits_are_what_redis_answered(project: SandboxStatus) -> None:
    client = _redis_client(project)
    sim0, redis0 = _sim_cache_hits(project), float(client.info("stats")["keyspace_hits"])
    time.sleep(12)
    sim1, redis1 = _sim_cache_hits(project), float(client.info("stats")["keyspace_hits"])
    sim_delta, redis_delta = sim1 - sim0, redis1 - redis0
    assert redis_delta > 100, (redis0, redis1)
    # the two readings are a tick (1 s) apart at most: within 20 %
    assert abs(sim_delta - redis_delta) <= 0.2 * redis_delta, (sim_delta, redis_delta)


def test_no_generated_secret_in_cmdlines_logs_or_status(project: SandboxStatus) -> None:
    secrets = [s for s in _secrets(project.state_dir) if s]
    assert len(secrets) == 5
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        for secret in secrets:
            assert secret not in cmdline, f"a secret in /proc/{proc.name}/cmdline"
    for log in (project.state_dir / "logs").iterdir():
        text = log.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, f"a secret in {log}"
    out = subprocess.run(
        [sys.executable, "-m", "noa_lib.cli", "sandbox", "status", "--json"],
        capture_output=True, text=True, check=True, timeout=60,
        env={**os.environ, "NOA_SANDBOX_DIR": str(project.state_dir)},
    ).stdout
    names = {s["name"] for s in json.loads(out)["services"]}
    assert {"redis", "postgres_exporter", "redis_exporter"} <= names
    for secret in secrets:
        assert secret not in out


def test_history_holds_the_exporter_series_30_days_ago(project: SandboxStatus) -> None:
    url = prom_url(project)
    history: dict[str, Any] | None = project.history
    assert history is not None and history["series"] > 0
    at = history["end"] - 30 * DAY
    series = (
        'pg_up{job="postgres-exporter"}',
        'pg_stat_activity_count{datname="noa",state="active"}',
        "pg_settings_max_connections",
        'pg_stat_database_numbackends{datname="noa"}',
        'pg_database_size_bytes{datname="noa"}',
        "pg_stat_archiver_archived_count",
        'redis_up{job="redis-exporter"}',
        "redis_memory_used_bytes",
        "redis_memory_max_bytes",
        "redis_connected_clients",
    )
    for promql in series:
        [found] = query(url, promql, at)
        assert float(found["value"][1]) > 0, promql
        assert found["metric"]["namespace"] == "noa", promql
        assert found["metric"]["instance"] in (exporters.POSTGRES_INSTANCE,
                                               exporters.REDIS_INSTANCE), promql
    for counter in ('pg_stat_database_xact_commit{datname="noa"}',
                    'pg_stat_database_blks_hit{datname="noa"}',
                    'redis_commands_total{cmd="get"}', 'redis_commands_total{cmd="set"}',
                    "redis_commands_processed_total", "redis_keyspace_hits_total"):
        rate = scalar(url, f"rate({counter}[5m])", at)
        assert rate is not None and rate > 0, counter
    share = scalar(url, "redis_memory_used_bytes / redis_memory_max_bytes", at)
    assert share is not None and 0.25 < share < 0.6
    [pool] = [i for i in history["incidents"] if i["kind"] == "pool-exhausted"]
    middle = (pool["start"] + pool["end"]) / 2
    active = 'pg_stat_activity_count{datname="noa",state="active"}'
    during, day_before = scalar(url, active, middle), scalar(url, active, middle - DAY)
    assert during is not None and day_before is not None
    assert during > 40 > 3 * day_before, (during, day_before)


def test_the_exporter_role_only_monitors(project: SandboxStatus) -> None:
    import psycopg

    creds = load_credentials(project.state_dir / "secrets")
    assert creds is not None
    pg_port = int(str(project.service("postgres").endpoint).rsplit(":", 1)[1].split("/")[0])
    with postgres.connect(pg_port, user=exporters.MONITOR_ROLE,
                          password=creds.pg_monitor_password, dbname=seed.DATABASE) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls,"
            " pg_has_role(current_user, 'pg_monitor', 'MEMBER') FROM pg_roles"
            " WHERE rolname = current_user").fetchone()
        assert row == (False, False, False, False, False, True)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM users")
    with pytest.raises(Exception, match="password authentication failed"):
        postgres.connect(pg_port, user=exporters.MONITOR_ROLE, password="wrong",
                         dbname=seed.DATABASE)
