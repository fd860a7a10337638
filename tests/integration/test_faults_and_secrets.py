"""End to end through the `noa` command against the real sandbox: secrets never leak, and a dead
backend becomes an "unreachable" finding, not a crash."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from runbook_plans import INCIDENT_RUNS, PREREQUISITES, incident_parameters

from noa_lib.records.catalog import Catalog

ROOT = Path(__file__).resolve().parents[2]
NOA = Path(sys.executable).parent / "noa"
RUNBOOKS = [b.id for b in Catalog(ROOT / "notebooks").runbooks()]

pytestmark = pytest.mark.integration


def noa(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(NOA), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NOA_")}
    base["NOA_REPORTS_DIR"] = str(tmp_path / "reports")
    return base


def scripted_incident(runs: list[tuple[str, dict[str, str]]], env: dict[str, str],
                      logs: list[str]) -> str:
    """Open an incident through the CLI, run ``runs`` for it, resolve it; return its id."""
    opened = noa("incident", "open", "--severity", "P2", "--title", "secrets test", env=env)
    assert opened.returncode == 0, opened.stderr
    incident = opened.stdout.strip()
    for name, params in runs:
        args = [arg for item in params.items() for arg in ("-p", *item)]
        proc = noa("run", name, "--target", "sandbox", "--incident", incident, *args, env=env)
        assert proc.returncode == 0, proc.stderr
        logs += [proc.stdout, proc.stderr]
    for step in (("update", incident, "--status", "mitigated"), ("resolve", incident)):
        proc = noa("incident", *step, env=env)
        assert proc.returncode == 0, proc.stderr
    return incident


@pytest.mark.timeout(900)  # every runbook (and its prerequisites) through the CLI, one by one
def test_planted_secrets_appear_in_no_record_html_index_or_log(sandbox_target, env, tmp_path):
    pg_password = sandbox_target.postgres.password.resolve()
    s3_secret = sandbox_target.s3.secret_access_key.resolve()
    planted = "planted-env-secret-5f2b9c"
    env["NOA_PLANTED_API_TOKEN"] = planted
    logs = []
    runs = 0
    for runbook in RUNBOOKS:
        own = incident_parameters(runbook, tmp_path / "reports")
        for name, params in [*PREREQUISITES.get(runbook, []), (runbook, own)]:
            if name == runbook and runbook in INCIDENT_RUNS:  # a resolved incident to review
                params = {"incident": scripted_incident(INCIDENT_RUNS[runbook], env, logs)}
                runs += len(INCIDENT_RUNS[runbook])
            args = [arg for item in params.items() for arg in ("-p", *item)]
            proc = noa("run", name, "--target", "sandbox", *args, env=env)
            assert proc.returncode == 0, proc.stderr
            logs += [proc.stdout, proc.stderr]
            runs += 1
    files = [p for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    assert len([p for p in files if p.suffix == ".ipynb"]) == runs
    assert any(p.suffix == ".html" for p in files) and any(".sqlite" in p.name for p in files)
    listing = noa("reports", "list", "--json", env=env)
    logs += [listing.stdout, listing.stderr]
    blobs = logs + [p.read_bytes().decode("utf-8", "replace") for p in files]
    for secret in (pg_password, s3_secret, planted):
        assert len(secret) >= 8
        leaked = [i for i, blob in enumerate(blobs) if secret in blob]
        assert not leaked, f"secret leaked into {len(leaked)} artefacts"


def test_backend_down_is_an_unreachable_finding_not_a_crash(sandbox_state, env, tmp_path):
    config = tmp_path / "noa.toml"
    config.write_text(
        f'include = ["{sandbox_state / "target.toml"}"]\n'
        "[targets.broken.postgres]\n"
        f'host = "127.0.0.1"\nport = {closed_port()}\npassword = "env:BROKEN_PG_PASSWORD"\n'
        "connect_timeout = 2\n"
        "[targets.broken.s3]\n"
        f'endpoint_url = "http://127.0.0.1:{closed_port()}"\n'
        'access_key_id = "env:BROKEN_KEY"\nsecret_access_key = "env:BROKEN_SECRET"\ntimeout = 2\n'
    )
    env.update(NOA_CONFIG=str(config), BROKEN_PG_PASSWORD="broken-pw-77aa",
               BROKEN_KEY="broken-key", BROKEN_SECRET="broken-secret-88bb")
    proc = noa("run", "monitoring/connectivity_check", "--target", "broken", env=env)
    assert proc.returncode == 0, proc.stderr
    record = Path(proc.stdout.splitlines()[0])
    meta = json.loads(record.read_text())["metadata"]["noa"]
    assert meta["status"] == "succeeded"
    assert meta["outcome"]["status"] == "unreachable"
    by_check = {f["check"]: f for f in meta["outcome"]["findings"]}
    unreachable = [f for f in by_check.values() if f["status"] == "unreachable"]
    assert len(unreachable) == 2, by_check
    assert "unreachable" in proc.stderr  # the operator sees it in the summary line
    text = record.read_text()
    assert "broken-pw-77aa" not in text and "broken-secret-88bb" not in text
    assert "Traceback" not in text
    # for cron and alerts, the same outcome can turn into a failing exit code
    failing = noa("run", "monitoring/connectivity_check", "--target", "broken",
                  "--fail-on", "unreachable", env=env)
    assert failing.returncode == 1


def test_database_health_against_a_dead_database_reports_unreachable(sandbox_state, env,
                                                                     tmp_path):
    config = tmp_path / "noa.toml"
    config.write_text(
        "[targets.broken.postgres]\n"
        f'host = "127.0.0.1"\nport = {closed_port()}\npassword = "env:BROKEN_PG_PASSWORD"\n'
        "connect_timeout = 2\n"
    )
    env.update(NOA_CONFIG=str(config), BROKEN_PG_PASSWORD="broken-pw-77aa")
    proc = noa("run", "monitoring/database_health", "--target", "broken", env=env)
    assert proc.returncode == 0, proc.stderr
    record = Path(proc.stdout.splitlines()[0])
    meta = json.loads(record.read_text())["metadata"]["noa"]
    assert meta["status"] == "succeeded"
    assert meta["outcome"]["status"] == "unreachable"
    assert any("unreachable" in f["message"] for f in meta["outcome"]["findings"])
    assert "broken-pw-77aa" not in record.read_text()
