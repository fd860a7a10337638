"""Tokens that arrive from the systems a runbook reads reach no record, HTML, index or CLI output.

Against the project sandbox, tokens of real formats (generated here) are planted where an
application carries them: (a) the text of a long-running query in PostgreSQL (a real session),
(b) NOA Server's environment in the ``api`` Deployment, which it logs as its effective
configuration at start-up, (c) the ``noa-config`` ConfigMap and (d) an alert's labels. The
runbooks that display each (``database_health``, ``log_investigation``, ``rollback`` of the
configuration as a dry run, ``alert_response``) run through the ``noa`` CLI; the records must keep
the evidence around each token, with ``[REDACTED]``.
"""

from __future__ import annotations

import base64
import json
import os
import random
import sqlite3
import string
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kubernetes import client as k8s

from noa_lib.clients.kubernetes import api_client
from noa_lib.records.redaction import MASK

ROOT = Path(__file__).resolve().parents[2]
NOA = Path(sys.executable).parent / "noa"

pytestmark = pytest.mark.integration


def _rand(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def make_tokens() -> dict[str, str]:
    """One fresh token of each kind, realistic in format."""
    rng = random.Random()  # noqa: S311 - test data, not secrets
    jwt = ".".join([_b64({"alg": "HS256", "typ": "JWT"}),
                    _b64({"sub": _rand(rng, 10), "iat": rng.randrange(10**9, 2 * 10**9)}),
                    _rand(rng, 43, string.ascii_letters + string.digits + "-_")])
    return {
        "openai": f"sk-proj-{_rand(rng, 48)}T3BlbkFJ{_rand(rng, 20)}",
        "anthropic": f"sk-ant-api03-{_rand(rng, 93)}-{_rand(rng, 6)}AA",
        "slack": f"xoxb-{rng.randrange(10**11, 10**12)}-{rng.randrange(10**12, 10**13)}-"
                 f"{_rand(rng, 24)}",
        "github": f"ghp_{_rand(rng, 36)}",
        "gitlab": f"glpat-{_rand(rng, 20, string.ascii_letters + string.digits + '_-')}",
        "jwt": jwt,
        "aws_secret": _rand(rng, 40, string.ascii_letters + string.digits + "/+"),
        "stripe": f"sk_live_{_rand(rng, 24)}",
    }


def noa(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(NOA), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def _leaks(tokens: dict[str, str], blobs: dict[str, str]) -> list[str]:
    return [f"{kind} in {where}" for kind, token in tokens.items()
            for where, blob in blobs.items() if token in blob]


def _artefacts(reports: Path, procs: list[subprocess.CompletedProcess[str]]) -> dict[str, str]:
    """Every file under ``reports`` (records, HTML, the index's rows) and the CLI's output."""
    blobs = {str(p): p.read_bytes().decode("utf-8", "replace")
             for p in reports.rglob("*") if p.is_file()}
    for p in reports.rglob("*.sqlite*"):
        if p.suffix == ".sqlite":
            with sqlite3.connect(p) as db:
                tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master "
                                                   "WHERE type = 'table'")]
                blobs[f"{p} rows"] = json.dumps(
                    [list(row) for t in tables for row in db.execute(f'SELECT * FROM "{t}"')],
                    default=str)
    for i, proc in enumerate(procs):
        blobs[f"run {i} stdout"] = proc.stdout
        blobs[f"run {i} stderr"] = proc.stderr
    return blobs


def _record(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.splitlines()[0]).read_text()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NOA_")}
    base["NOA_REPORTS_DIR"] = str(tmp_path / "reports")
    return base


@pytest.fixture
def tokens() -> dict[str, str]:
    return make_tokens()


@pytest.fixture
def kube(sandbox_target: Any) -> Iterator[Any]:
    with api_client(sandbox_target.kubernetes) as api:
        yield api


def _long_query(target: Any, text: str, started: threading.Event) -> threading.Thread:
    pg = target.postgres

    def hold() -> None:
        with psycopg.connect(host=pg.host, port=pg.port, dbname=pg.dbname, user=pg.user,
                             password=pg.password.resolve(), autocommit=True) as conn:
            started.set()
            try:
                conn.execute(text)
            except psycopg.errors.QueryCanceled:
                pass

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    return thread


def _cancel(target: Any, marker: str) -> None:
    pg = target.postgres
    with psycopg.connect(host=pg.host, port=pg.port, dbname=pg.dbname, user=pg.user,
                         password=pg.password.resolve(), autocommit=True) as conn:
        conn.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                     "WHERE query LIKE %s AND pid <> pg_backend_pid()", (f"%{marker}%",))


@pytest.mark.timeout(300)
def test_tokens_in_a_long_query_are_masked_in_database_health(sandbox_target, env, tmp_path,
                                                              tokens):
    marker = f"noa_planted_{random.randrange(10**9)}"  # noqa: S311
    text = (f"SELECT pg_sleep(60) /* {marker} openai={tokens['openai']} "
            f"slack {tokens['slack']} password=Hunter2Hunter2 jwt {tokens['jwt']} "
            f"aws_secret_access_key={tokens['aws_secret']} */")
    started = threading.Event()
    thread = _long_query(sandbox_target, text, started)
    try:
        assert started.wait(20)
        time.sleep(2.5)
        proc = noa("run", "monitoring/database_health", "--target", "sandbox",
                   "-p", "long_query_seconds", "1", env=env)
        record = _record(proc)
    finally:
        _cancel(sandbox_target, marker)
        thread.join(10)
    leaked = _leaks(tokens, _artefacts(tmp_path / "reports", [proc]))
    assert not leaked, leaked
    assert "Hunter2Hunter2" not in record
    # the evidence stays: the query is shown, with its secrets masked
    assert marker in record and "pg_sleep(60)" in record
    assert f"openai={MASK}" in record and f"slack {MASK}" in record


def _wait_pods(kube: Any, predicate: Any, timeout: float = 120.0) -> list[Any]:
    core = k8s.CoreV1Api(kube)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod("noa", label_selector="app=api").items
        if pods and all(predicate(p) for p in pods) and all(
                p.status.phase == "Running" for p in pods):
            return list(pods)
        time.sleep(1.0)
    raise AssertionError("the api pods did not roll out in time")


def _env_names(pod: Any) -> set[str]:
    return {e.name for c in pod.spec.containers for e in (c.env or [])}


@pytest.mark.timeout(400)
def test_tokens_in_the_servers_environment_are_masked_in_its_logs(sandbox_target, kube, env,
                                                                  tmp_path, tokens):
    apps = k8s.AppsV1Api(kube)
    deployment = apps.read_namespaced_deployment("api", "noa")
    container = deployment.spec.template.spec.containers[0].name
    planted = [{"name": "NOA_AI_PROVIDER_API_KEY", "value": tokens["anthropic"]},
               {"name": "NOA_SLACK_BOT_TOKEN", "value": tokens["slack"]},
               {"name": "NOA_GITHUB_TOKEN", "value": tokens["github"]},
               {"name": "NOA_LOG_FORMAT", "value": "json"}]
    original = list(deployment.spec.template.spec.containers[0].env or [])
    body = {"spec": {"template": {"spec": {"containers": [
        {"name": container, "env": [*kube.sanitize_for_serialization(original), *planted]}]}}}}
    apps.patch_namespaced_deployment("api", "noa", body)
    try:
        _wait_pods(kube, lambda p: "NOA_SLACK_BOT_TOKEN" in _env_names(p))
        proc = noa("run", "monitoring/log_investigation", "--target", "sandbox",
                   "-p", "min_level", "info", "-p", "grep", "effective configuration",
                   "-p", "window", "15m", env=env)
        record = _record(proc)
    finally:  # a merge patch keeps list entries: put the environment back whole
        restored = apps.read_namespaced_deployment("api", "noa")
        restored.spec.template.spec.containers[0].env = original
        apps.replace_namespaced_deployment("api", "noa", restored)
        _wait_pods(kube, lambda p: "NOA_SLACK_BOT_TOKEN" not in _env_names(p))
    leaked = _leaks(tokens, _artefacts(tmp_path / "reports", [proc]))
    assert not leaked, leaked
    # the log pattern and its example stay, with the tokens masked
    assert "effective configuration" in record and "NOA_LOG_FORMAT=json" in record
    assert f"NOA_SLACK_BOT_TOKEN={MASK}" in record
    assert f"NOA_AI_PROVIDER_API_KEY={MASK}" in record


@pytest.mark.timeout(300)
def test_tokens_in_a_configmap_are_masked_in_the_rollback_plan(sandbox_target, kube, env,
                                                               tmp_path, tokens):
    core = k8s.CoreV1Api(kube)
    current = core.read_namespaced_config_map("noa-config", "noa")
    original = dict(current.data or {})
    history = f"noa-config-rev-{random.randrange(900, 999)}"  # noqa: S311
    core.create_namespaced_config_map("noa", {
        "metadata": {"name": history, "labels": {"noa.io/config-history": "noa-config"},
                     "annotations": {"noa.io/revision": "900",
                                     "noa.io/saved-at": "2026-01-01T00:00:00Z"}},
        "data": original,
    })
    planted = {
        "ai_provider_api_key": tokens["openai"],
        "gitlab_token": tokens["gitlab"],
        "payments": f"stripe key {tokens['stripe']} (rotated monthly)",
        "session_jwt": tokens["jwt"],
    }
    core.patch_namespaced_config_map("noa-config", "noa", {"data": planted})
    try:
        proc = noa("run", "deployment/rollback", "--target", "sandbox",
                   "-p", "what", "configuration", env=env)
        record = _record(proc)
    finally:
        core.replace_namespaced_config_map("noa-config", "noa", {
            "metadata": {"name": "noa-config"}, "data": original})
        core.delete_namespaced_config_map(history, "noa")
    leaked = _leaks(tokens, _artefacts(tmp_path / "reports", [proc]))
    assert not leaked, leaked
    # the plan still names each changed key, its values masked
    for key in planted:
        assert f"data.{key}" in record
    assert "stripe key" in record and MASK in record


@pytest.mark.timeout(300)
def test_tokens_in_alert_labels_are_masked_in_alert_response(sandbox_state, env, tmp_path,
                                                             tokens):
    labels = {"service": "api", "severity": "critical",
              "slack_webhook": f"https://hooks.slack.com/services/T0{tokens['github'][4:12]}/"
                               f"B0{tokens['github'][12:20]}/{tokens['stripe'][8:]}",
              "note": f"rotated key {tokens['anthropic']}"}
    params = tmp_path / "alert.yaml"  # as the receiver passes them: never on a command line
    params.write_text(json.dumps({"alert_name": "HighErrorRate", "labels": json.dumps(labels)}))
    proc = noa("run", "monitoring/alert_response", "--target", "sandbox", "-f", str(params),
               env=env)
    record = _record(proc)
    hook = labels["slack_webhook"]
    leaked = _leaks({**tokens, "slack_webhook": hook}, _artefacts(tmp_path / "reports", [proc]))
    assert not leaked, leaked
    assert "rotated key" in record and "HighErrorRate" in record and MASK in record
