"""The sandbox end to end: real PostgreSQL and SeaweedFS processes, no mocks.

The tests share one sandbox per module and run in file order: start, inspect, crash and restart
services, stop. The state directory is a private temporary directory made traversable (0755)
rather than pytest's ``tmp_path`` because, as root, PostgreSQL runs as the ``postgres`` user and
pytest keeps its temporary root at 0700 (and re-tightens it whenever another pytest run starts).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore
import psycopg
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import noa_sandbox as sandbox
from noa_lib.clients import pgserver
from noa_lib.config import load_config
from noa_sandbox import processes, seaweed
from noa_sandbox.models import SandboxStatus

pytestmark = pytest.mark.integration

SECRET_FILES = ("pg_password", "pg_superuser_password", "s3_access_key_id", "s3_secret_access_key",
                "redis_password", "pg_monitor_password")


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def state_dir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="noa-sbx-test-"))
    root.chmod(0o755)
    state = root / "state"
    try:
        yield state
    finally:
        sandbox.down(state)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def started(state_dir: Path) -> dict[str, Any]:
    lines: list[str] = []
    t0 = time.monotonic()
    status = sandbox.up(state_dir, progress=lines.append)
    return {"status": status, "lines": lines, "seconds": time.monotonic() - t0}


def secret(state_dir: Path, name: str) -> str:
    return (state_dir / "secrets" / name).read_text().strip()


def pg_port(status: SandboxStatus) -> int:
    endpoint = status.service("postgres").endpoint
    assert endpoint is not None
    return int(endpoint.rsplit(":", 1)[1].split("/", 1)[0])


def s3_endpoint(status: SandboxStatus) -> str:
    endpoint = status.service("s3").endpoint
    assert endpoint is not None
    return endpoint


def connect_ops(state_dir: Path, port: int) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(
        host="127.0.0.1",
        port=port,
        user="noa_ops",
        password=secret(state_dir, "pg_password"),
        dbname="noa",
        connect_timeout=5,
        autocommit=True,
    )


def s3_client(endpoint: str, key_id: str | None, secret_key: str | None) -> Any:
    config = Config(
        connect_timeout=2,
        read_timeout=10,
        retries={"max_attempts": 1},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    if key_id is None:
        config = config.merge(Config(signature_version=botocore.UNSIGNED))
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret_key,
        config=config,
    )


def good_s3(state_dir: Path, status: SandboxStatus) -> Any:
    return s3_client(
        s3_endpoint(status),
        secret(state_dir, "s3_access_key_id"),
        secret(state_dir, "s3_secret_access_key"),
    )


def psql(
    port: int,
    *args: str,
    user: str = "noa_ops",
    password: str | None = None,
    host: str = "127.0.0.1",
) -> subprocess.CompletedProcess[str]:
    bins = pgserver.find_binaries()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(PGPASSFILE=os.devnull, PGCONNECT_TIMEOUT="5")
    if password is not None:
        env["PGPASSWORD"] = password
    return subprocess.run(
        [
            str(bins.bindir / "psql"),
            "-w",
            "-X",
            "-At",
            "-h",
            host,
            "-p",
            str(port),
            "-U",
            user,
            "-d",
            "noa",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )


def port_closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def pid_gone(pid: int) -> bool:
    return processes.process_start_time(pid) is None


def round_trip(status: SandboxStatus) -> dict[str, Any]:
    data = json.loads(json.dumps(status.to_dict()))
    assert data["state_dir"] == str(status.state_dir)
    assert data["healthy"] == status.healthy
    assert [s["name"] for s in data["services"]] == [
        "postgres",
        "s3",
        "prometheus",
        "simulator",
        "alertmanager",
        "redis",
        "postgres_exporter",
        "redis_exporter",
        "kubernetes",
    ]
    return data


# --------------------------------------------------------------------------- tests


def test_status_of_unused_dir_reports_stopped_and_writes_nothing(tmp_path: Path) -> None:
    unused = tmp_path / "never-started"
    status = sandbox.status(unused)
    assert not status.healthy
    assert {s.name: s.state for s in status.services} == {
        "postgres": "stopped",
        "s3": "stopped",
        "prometheus": "stopped",
        "simulator": "stopped",
        "alertmanager": "stopped",
        "redis": "stopped",
        "postgres_exporter": "stopped",
        "redis_exporter": "stopped",
        "kubernetes": "stopped",
    }
    assert status.target_file is None
    assert not unused.exists()
    assert sandbox.down(unused).healthy is False  # a no-op
    assert not unused.exists()


def test_up_starts_healthy_sandbox_and_publishes_target(
    state_dir: Path, started: dict[str, Any]
) -> None:
    status: SandboxStatus = started["status"]
    assert status.healthy, status.to_dict()
    assert status.target_file == state_dir / "target.toml"
    pg, s3 = status.service("postgres"), status.service("s3")
    assert pg.detail.startswith("PostgreSQL ") and s3.detail.startswith("SeaweedFS ")
    assert pg.pid and s3.pid
    lines = "\n".join(started["lines"])
    assert "initialising PostgreSQL" in lines and "loading NOA schema and data" in lines
    assert f"PostgreSQL ready on 127.0.0.1:{pg_port(status)}" in lines
    assert started["seconds"] < 60, f"cold up took {started['seconds']:.1f}s"
    assert round_trip(status)["healthy"] is True
    print(f"\ncold up: {started['seconds']:.1f}s")


def test_target_file_matches_config_schema_and_holds_no_secret(
    state_dir: Path, started: dict[str, Any], tmp_path: Path
) -> None:
    text = (state_dir / "target.toml").read_text()
    for name in SECRET_FILES:
        assert secret(state_dir, name) not in text
    raw = tomllib.loads(text)["targets"]["sandbox"]
    assert raw["postgres"]["password"] == "file:secrets/pg_password"
    assert raw["protected"] is False

    noa_toml = tmp_path / "noa.toml"
    noa_toml.write_text(f'include = ["{state_dir / "target.toml"}"]\n')
    target = load_config(noa_toml, env={}).target("sandbox")
    assert target.postgres is not None and target.s3 is not None
    assert target.postgres.port == pg_port(started["status"])
    assert target.postgres.user == "noa_ops" and target.postgres.dbname == "noa"
    assert target.postgres.password is not None
    assert target.postgres.password.resolve() == secret(state_dir, "pg_password")
    assert target.s3.endpoint_url == s3_endpoint(started["status"])
    assert target.s3.secret_access_key is not None
    assert target.s3.secret_access_key.resolve() == secret(state_dir, "s3_secret_access_key")
    assert (target.s3.backup_bucket, target.s3.records_bucket) == ("noa-backups", "noa-records")


def test_secrets_are_private_files(state_dir: Path, started: dict[str, Any]) -> None:
    secrets_dir = state_dir / "secrets"
    assert secrets_dir.stat().st_mode & 0o777 == 0o700
    for name in SECRET_FILES:
        st = (secrets_dir / name).stat()
        assert st.st_mode & 0o777 == 0o600
        assert st.st_uid == os.geteuid()
    state_text = (state_dir / "state.json").read_text()
    for name in SECRET_FILES:
        assert secret(state_dir, name) not in state_text


def test_postgres_requires_the_password(state_dir: Path, started: dict[str, Any]) -> None:
    port = pg_port(started["status"])
    ok = psql(port, "-c", "SELECT current_user", password=secret(state_dir, "pg_password"))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "noa_ops"

    missing = psql(port, "-c", "SELECT 1")
    assert missing.returncode != 0 and "no password supplied" in missing.stderr
    wrong = psql(port, "-c", "SELECT 1", password="not-the-password")
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr
    superuser = psql(port, "-c", "SELECT 1", user="postgres", password="postgres")
    assert superuser.returncode != 0 and "password authentication failed" in superuser.stderr
    # The unix socket is password-protected as well (no trust/peer anywhere).
    socket_dir = str(state_dir / "pg" / "run")
    local = psql(port, "-c", "SELECT 1", user="postgres", host=socket_dir)
    assert local.returncode != 0 and "no password supplied" in local.stderr

    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            host="127.0.0.1",
            port=port,
            user="noa_ops",
            password="wrong",
            dbname="noa",
            connect_timeout=5,
        )
    # Listening on loopback only.
    with connect_ops(state_dir, port) as conn:
        row = conn.execute("SHOW listen_addresses").fetchone()
        assert row is not None and row[0] == "127.0.0.1"


def test_noa_database_is_seeded(state_dir: Path, started: dict[str, Any]) -> None:
    with connect_ops(state_dir, pg_port(started["status"])) as conn:

        def one(query: str) -> Any:
            row = conn.execute(query.encode()).fetchone()
            assert row is not None
            return row[0]

        counts = {
            table: one(f"SELECT count(*) FROM {table}")
            for table in (
                "organizations",
                "users",
                "api_keys",
                "sessions",
                "request_log",
                "jobs",
                "ai_provider_calls",
                "schema_migrations",
                "invoices",
            )
        }
        assert counts["organizations"] == 2000
        assert counts["users"] == 20000
        assert counts["jobs"] == 50000
        assert 250_000 <= counts["request_log"] <= 350_000
        assert 80_000 <= counts["ai_provider_calls"] <= 120_000
        assert counts["api_keys"] > 0 and counts["sessions"] > 0 and counts["invoices"] > 0
        assert counts["schema_migrations"] > 10

        # Owned by noa_ops, who has what runbooks need.
        assert one("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'noa'") == (
            "noa_ops"
        )
        assert (
            one(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                "AND tableowner <> 'noa_ops'"
            )
            == 0
        )
        assert one("SELECT rolcreatedb FROM pg_roles WHERE rolname = 'noa_ops'") is True
        assert one("SELECT pg_has_role('noa_ops', 'pg_monitor', 'member')") is True
        # Keys are stored hashed only.
        assert one("SELECT min(octet_length(key_hash)) FROM api_keys") == 32
        assert one("SELECT max(length(prefix)) FROM api_keys") <= 12
        # Foreign keys, indexes, statistics.
        assert one("SELECT count(*) FROM pg_constraint WHERE contype = 'f'") >= 8
        assert one("SELECT count(*) FROM pg_indexes WHERE tablename = 'request_log'") >= 4
        assert one("SELECT count(*) FROM pg_stats WHERE tablename = 'request_log'") > 0
        # request_log spans 30 days with a daily pattern; jobs form a live queue.
        span = one("SELECT extract(day FROM max(created_at) - min(created_at)) FROM request_log")
        assert 28 <= span <= 30
        hours = dict(
            conn.execute(
                "SELECT extract(hour FROM created_at AT TIME ZONE 'UTC')::int, count(*) "
                "FROM request_log GROUP BY 1"
            ).fetchall()
        )
        assert max(hours.values()) > 2 * min(hours.values())
        states = dict(conn.execute("SELECT state, count(*) FROM jobs GROUP BY 1").fetchall())
        assert set(states) == {"queued", "running", "done", "failed"}
        providers = {r[0] for r in conn.execute("SELECT DISTINCT provider FROM ai_provider_calls")}
        assert {"openai", "anthropic"} <= providers


def test_wal_archiving_produces_segments(state_dir: Path, started: dict[str, Any]) -> None:
    s3 = good_s3(state_dir, started["status"])
    with connect_ops(state_dir, pg_port(started["status"])) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS wal_probe (id serial, note text)")
        conn.execute(
            "INSERT INTO wal_probe (note) SELECT md5(g::text) FROM generate_series(1, 5000) g"
        )
        row = conn.execute(
            "SELECT pg_walfile_name(pg_current_wal_lsn()),"
            " (SELECT system_identifier::text FROM pg_control_system())"
        ).fetchone()
        assert row is not None
        segment, system_id = str(row[0]), str(row[1])
        conn.execute("SELECT pg_switch_wal()")
        key = f"wal/{system_id}/{segment}"

        def archived() -> bool:
            listing = s3.list_objects_v2(Bucket="noa-backups", Prefix=key)
            return bool(listing.get("Contents"))

        assert processes.wait_for(archived, timeout=30), f"{key} not archived into noa-backups"
        failed = conn.execute("SELECT failed_count FROM pg_stat_archiver").fetchone()
        assert failed is not None and failed[0] == 0
    # `up` takes a first base backup so PITR works from the start
    listing = s3.list_objects_v2(Bucket="noa-backups", Prefix=f"basebackups/{system_id}/")
    names = {o["Key"].rsplit("/", 1)[-1] for o in listing.get("Contents", [])}
    assert {"base.tar.gz", "manifest.json"} <= names


def test_s3_buckets_exist_and_credentials_are_enforced(
    state_dir: Path, started: dict[str, Any]
) -> None:
    status: SandboxStatus = started["status"]
    s3 = good_s3(state_dir, status)
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {"noa-backups", "noa-records"} <= names
    assert s3.get_bucket_versioning(Bucket="noa-backups").get("Status") == "Enabled"
    s3.put_object(Bucket="noa-records", Key="probe/hello.txt", Body=b"hello")
    assert s3.get_object(Bucket="noa-records", Key="probe/hello.txt")["Body"].read() == b"hello"

    key_id = secret(state_dir, "s3_access_key_id")
    refused = {
        "anonymous": s3_client(s3_endpoint(status), None, None),
        "wrong secret": s3_client(s3_endpoint(status), key_id, "wrong-secret"),
        "unknown key": s3_client(s3_endpoint(status), "NOAUNKNOWNKEY0000000", "whatever"),
    }
    for who, client in refused.items():
        for call in (
            lambda c: c.list_buckets(),
            lambda c: c.list_objects_v2(Bucket="noa-records"),
            lambda c: c.get_object(Bucket="noa-records", Key="probe/hello.txt"),
            lambda c: c.put_object(Bucket="noa-records", Key="probe/intruder", Body=b"x"),
        ):
            with pytest.raises(ClientError) as info:
                call(client)
            assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403, who
    # The filer's own HTTP port must not bypass the S3 credentials (JWT-protected).
    filer = int(s3_endpoint(status).rsplit(":", 1)[1]) - seaweed.S3_OFFSET + 2
    for method, data in (("GET", None), ("PUT", b"x")):
        request = urllib.request.Request(
            f"http://127.0.0.1:{filer}/buckets/noa-records/probe/hello.txt",
            data=data,
            method=method,
        )
        with pytest.raises(urllib.error.HTTPError) as http_error:
            urllib.request.urlopen(request, timeout=5)
        assert http_error.value.code == 401
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="noa-records").get("Contents", [])]
    assert keys == ["probe/hello.txt"]


def test_up_twice_is_a_no_op(state_dir: Path, started: dict[str, Any]) -> None:
    before: SandboxStatus = started["status"]
    lines: list[str] = []
    t0 = time.monotonic()
    again = sandbox.up(state_dir, progress=lines.append)
    assert time.monotonic() - t0 < 5
    assert again.healthy
    assert [s.pid for s in again.services] == [s.pid for s in before.services]
    assert any("already running" in line for line in lines)


def test_killed_s3_is_reported_crashed_and_restarted_with_its_data(
    state_dir: Path, started: dict[str, Any]
) -> None:
    before = sandbox.status(state_dir)
    weed_pid = before.service("s3").pid
    pg_pid = before.service("postgres").pid
    assert weed_pid is not None
    os.kill(weed_pid, signal.SIGKILL)
    assert processes.wait_for(lambda: pid_gone(weed_pid), timeout=10)

    crashed = sandbox.status(state_dir)
    s3 = crashed.service("s3")
    assert s3.state == "crashed" and not crashed.healthy
    assert str(weed_pid) in s3.detail and "s3.log" in s3.detail
    assert len(s3.detail.splitlines()) > 2  # carries the log tail
    assert crashed.service("postgres").state == "running"
    data = round_trip(crashed)
    assert data["services"][1]["state"] == "crashed"

    lines: list[str] = []
    t0 = time.monotonic()
    restarted = sandbox.up(state_dir, progress=lines.append)
    print(f"\nrestart s3: {time.monotonic() - t0:.1f}s")
    assert restarted.healthy
    assert restarted.service("s3").pid != weed_pid
    assert restarted.service("postgres").pid == pg_pid
    assert restarted.service("s3").endpoint == before.service("s3").endpoint
    assert any("s3 crashed" in line for line in lines)
    body = good_s3(state_dir, restarted).get_object(Bucket="noa-records", Key="probe/hello.txt")
    assert body["Body"].read() == b"hello"


def test_killed_postgres_is_reported_crashed_and_restarted_with_its_data(
    state_dir: Path, started: dict[str, Any]
) -> None:
    before = sandbox.status(state_dir)
    pg_pid = before.service("postgres").pid
    assert pg_pid is not None
    os.kill(pg_pid, signal.SIGKILL)
    assert processes.wait_for(lambda: pid_gone(pg_pid), timeout=10)

    crashed = sandbox.status(state_dir)
    assert crashed.service("postgres").state == "crashed"
    assert "postgres.log" in crashed.service("postgres").detail

    restarted = sandbox.up(state_dir)
    assert restarted.healthy
    assert restarted.service("postgres").pid != pg_pid
    assert restarted.service("s3").pid == before.service("s3").pid
    # postgres_exporter follows the new server; Redis is left alone
    assert restarted.service("postgres_exporter").pid != before.service("postgres_exporter").pid
    assert restarted.service("redis").pid == before.service("redis").pid
    with connect_ops(state_dir, pg_port(restarted)) as conn:
        row = conn.execute("SELECT count(*) FROM wal_probe").fetchone()
        assert row is not None and row[0] == 5000
        row = conn.execute("SELECT count(*) FROM organizations").fetchone()
        assert row is not None and row[0] == 2000


def test_down_stops_everything_and_withdraws_the_target(
    state_dir: Path, started: dict[str, Any]
) -> None:
    running = sandbox.status(state_dir)
    assert running.healthy
    pids = [s.pid for s in running.services if s.pid is not None]
    port = pg_port(running)
    s3_port = int(s3_endpoint(running).rsplit(":", 1)[1])

    t0 = time.monotonic()
    stopped = sandbox.down(state_dir)
    print(f"\ndown: {time.monotonic() - t0:.1f}s")
    assert {s.state for s in stopped.services} == {"stopped"}
    assert stopped.target_file is None and not (state_dir / "target.toml").exists()
    assert all(pid_gone(pid) for pid in pids)
    assert port_closed(port) and port_closed(s3_port)
    assert round_trip(stopped)["healthy"] is False
    # Nothing of ours keeps running under the state directory.
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    assert str(state_dir) not in ps.stdout

    again = sandbox.down(state_dir)  # a no-op
    assert {s.state for s in again.services} == {"stopped"}
    assert sandbox.status(state_dir).to_dict() == again.to_dict()
