"""``noa alerts serve`` over real HTTP: Alertmanager's webhook JSON in, runbook runs out.

Most tests replace the runner with a recording (optionally blocking) fake so de-duplication, the
concurrency cap and the queue limit are deterministic; one test runs the real
``monitoring/alert_response`` notebook and checks the record it leaves.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from noa_lib.records.alert_dispatch import DispatchSettings
from noa_lib.records.alerts_server import AlertsServer, ServerSettings, serve
from noa_lib.records.catalog import Catalog
from noa_lib.records.runner import ExitCode, RunRequest, RunResult

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def alert(name: str = "HighErrorRate", fingerprint: str = "a1b2c3d4e5f60718",
          status: str = "firing", **labels: str) -> dict[str, Any]:
    """One alert exactly as Alertmanager 0.25 puts it in a webhook."""
    return {
        "status": status,
        "labels": {"alertname": name, "severity": "P1", "runbook": "monitoring/alert_response",
                   **labels},
        "annotations": {"summary": f"{name} fired",
                        "runbook_url": f"notebooks/monitoring/alert_response.ipynb?alert={name}"},
        "startsAt": "2026-11-26T22:00:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        "fingerprint": fingerprint,
    }


def webhook(*alerts: dict[str, Any], group_key: str = '{}:{alertname="HighErrorRate"}'
            ) -> dict[str, Any]:
    return {
        "receiver": "noa-runbooks",
        "status": "firing",
        "alerts": list(alerts),
        "groupLabels": {"alertname": str(alerts[0]["labels"].get("alertname", ""))},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
    }


class FakeRunner:
    """Records every request; blocks each run until ``release`` is set (when ``blocking``)."""

    def __init__(self, blocking: bool = False) -> None:
        self.requests: list[RunRequest] = []
        self.release = threading.Event()
        if not blocking:
            self.release.set()
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, request: RunRequest) -> RunResult:
        with self._lock:
            self.requests.append(request)
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            self.release.wait(30)
        finally:
            with self._lock:
                self.active -= 1
        return RunResult("fake", "succeeded", ExitCode.SUCCEEDED, None, None, {}, "fake run")


@pytest.fixture
def start_server(reports_dir: Path) -> Iterator[Callable[..., AlertsServer]]:
    """Servers on a free port; incidents and records go to the test's private reports root."""
    servers: list[AlertsServer] = []

    def start(run: Any = None, catalog: Catalog | None = None, secret: str | None = None,
              max_body: int = 1 << 20, **dispatch: Any) -> AlertsServer:
        settings = ServerSettings("127.0.0.1", 0, secret, max_body, DispatchSettings(**dispatch))
        server = serve(settings, run=run,
                       catalog=catalog or Catalog(ROOT / "notebooks"))
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(timeout=5)


def post(server: AlertsServer, body: bytes | dict[str, Any], headers: dict[str, str] | None = None
         ) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), port, timeout=30)
    try:
        conn.request("POST", "/alerts", body=data,
                     headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def test_healthz_and_unknown_paths(start_server):
    server = start_server(run=FakeRunner())
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), port, timeout=10)
    conn.request("GET", "/healthz")
    response = conn.getresponse()
    assert response.status == 200
    assert json.loads(response.read()) == {"status": "ok", "queued": 0, "running": 0,
                                           "completed": 0, "remembered": 0}
    conn.request("GET", "/nope")
    assert conn.getresponse().status == 404
    conn.close()


def test_firing_alerts_run_alert_response_and_leave_tagged_records(
    start_server, fixture_runbooks: Path, monkeypatch
):
    """Two alerts, two real runs side by side (two kernels), two records."""
    monkeypatch.setenv("NOA_NOTEBOOKS_DIR", str(ROOT / "notebooks"))  # real runbooks
    server = start_server(max_concurrent=2, cell_timeout=300)
    status, answer = post(server, webhook(alert(fingerprint="0123456789abcdef", service="api"),
                                          alert(fingerprint="fedcba9876543210", service="web")))
    assert status == 200
    incident = answer["accepted"][0].get("incident", "")
    assert incident.startswith("INC-20261126-2200")  # the group's incident, from startsAt
    assert answer == {"accepted": [{"fingerprint": "0123456789abcdef",
                                    "runbook": "monitoring/alert_response",
                                    "incident": incident},
                                   {"fingerprint": "fedcba9876543210",
                                    "runbook": "monitoring/alert_response",
                                    "incident": incident}],
                      "duplicates": [], "resolved": []}
    assert server.dispatcher.wait_idle(300)
    records = sorted((fixture_runbooks / "monitoring" / "alert_response").glob("*.ipynb"))
    metas = {m["trigger"]["fingerprint"]: m for m in
             (json.loads(p.read_text())["metadata"]["noa"] for p in records)}
    assert set(metas) == {"0123456789abcdef", "fedcba9876543210"}
    meta = metas["0123456789abcdef"]
    assert meta["trigger"] == {"kind": "alert", "fingerprint": "0123456789abcdef"}
    assert meta["status"] == "succeeded", meta.get("error")
    assert meta["parameters"]["alert_name"] == "HighErrorRate"
    assert json.loads(meta["parameters"]["labels"])["service"] == "api"
    assert meta["outcome"]["status"] == "warning"  # the fixture target has no backends
    assert metas["fedcba9876543210"]["status"] == "succeeded"
    assert {m["incident"] for m in metas.values()} == {incident}  # the runs carry its id
    from noa_lib.records.incidents import IncidentStore

    linked = IncidentStore(fixture_runbooks).get(incident).records
    assert sorted(r["run_id"] for r in linked) == sorted(m["run_id"] for m in metas.values())
    assert sorted(r.metadata["run_id"] for r in server.dispatcher.completed) == sorted(
        m["run_id"] for m in metas.values())


def test_duplicates_of_a_firing_fingerprint_start_one_run(start_server):
    runner = FakeRunner(blocking=True)
    server = start_server(run=runner, dedup_window=600)
    first = post(server, webhook(alert(fingerprint="f00d")))
    again = post(server, webhook(alert(fingerprint="f00d")))  # repeat while the run is in flight
    assert first[1]["accepted"] and again[1] == {"accepted": [], "duplicates": ["f00d"],
                                                 "resolved": []}
    runner.release.set()
    assert server.dispatcher.wait_idle(10)
    later = post(server, webhook(alert(fingerprint="f00d")))  # finished, but within the window
    assert later[1]["duplicates"] == ["f00d"]
    same_call = post(server, webhook(alert(fingerprint="beef"), alert(fingerprint="beef")))
    assert len(same_call[1]["accepted"]) == 1 and same_call[1]["duplicates"] == ["beef"]
    assert server.dispatcher.wait_idle(10)
    assert [r.trigger.fingerprint for r in runner.requests] == ["f00d", "beef"]


def test_a_fingerprint_runs_again_after_the_dedup_window(start_server):
    runner = FakeRunner()
    server = start_server(run=runner, dedup_window=0.5)
    post(server, webhook(alert(fingerprint="cafe")))
    assert server.dispatcher.wait_idle(10)
    time.sleep(0.6)
    assert post(server, webhook(alert(fingerprint="cafe")))[1]["accepted"]
    assert server.dispatcher.wait_idle(10)
    assert len(runner.requests) == 2


def test_resolved_alerts_are_logged_not_run(start_server, caplog):
    runner = FakeRunner()
    server = start_server(run=runner)
    with caplog.at_level("INFO", logger="noa_lib.records.alert_dispatch"):
        status, answer = post(server, webhook(alert(fingerprint="dead", status="resolved")))
    assert status == 200 and answer["resolved"] == ["dead"] and not answer["accepted"]
    assert server.dispatcher.wait_idle(5) and runner.requests == []
    assert "resolved" in caplog.text


def test_parameters_fit_the_runbook_and_the_trigger_carries_the_fingerprint(start_server):
    runner = FakeRunner()
    server = start_server(run=runner, target="sandbox")
    post(server, webhook(alert(fingerprint="1111", service="api"),
                         alert(name="DatabaseConnectionPoolExhausted", fingerprint="2222",
                               runbook="monitoring/database_health"),
                         alert(name="Odd", fingerprint="3333", runbook="monitoring/nope")))
    assert server.dispatcher.wait_idle(10)
    by_fp = {r.trigger.fingerprint: r for r in runner.requests}
    assert by_fp["1111"].runbook == "monitoring/alert_response"
    assert set(by_fp["1111"].parameters) == {"alert_name", "labels"}
    assert json.loads(by_fp["1111"].parameters["labels"])["service"] == "api"
    assert by_fp["1111"].trigger.kind == "alert" and by_fp["1111"].target == "sandbox"
    # a runbook that does not declare alert parameters gets none of them
    assert by_fp["2222"].runbook == "monitoring/database_health"
    assert by_fp["2222"].parameters == {}
    # an unknown runbook falls back to the default
    assert by_fp["3333"].runbook == "monitoring/alert_response"


def test_a_mutating_runbook_is_never_run_by_an_alert(start_server):
    runner = FakeRunner()
    catalog = Catalog(FIXTURES / "notebooks")
    server = start_server(run=runner, catalog=catalog, default_runbook="testing/typed")
    post(server, webhook(alert(fingerprint="4444", runbook="testing/mutating")))
    assert server.dispatcher.wait_idle(10)
    assert [r.runbook for r in runner.requests] == ["testing/typed"]


@pytest.mark.parametrize(("body", "status", "error"), [
    (b"{not json", 400, "not JSON"),
    (b'["alerts"]', 422, "JSON object"),
    (b'{"version": "4"}', 422, "no 'alerts' list"),
    (json.dumps(webhook({"status": "firing", "labels": {}})).encode(), 422, "alertname"),
    (json.dumps(webhook({"status": "weird", "labels": {"alertname": "X"}})).encode(), 422,
     "status"),
    (json.dumps(webhook({"status": "firing", "labels": {"alertname": 5}})).encode(), 422,
     "text to text"),
])
def test_malformed_payloads_get_4xx_and_no_run(start_server, body, status, error):
    runner = FakeRunner()
    server = start_server(run=runner)
    got, answer = post(server, body)
    assert got == status and error in answer["error"]
    assert server.dispatcher.wait_idle(5) and runner.requests == []


def test_an_oversized_body_is_refused_unread(start_server):
    runner = FakeRunner()
    server = start_server(run=runner, max_body=4096)
    big = webhook(*(alert(fingerprint=f"{i:04x}") for i in range(40)))
    status, answer = post(server, big)
    assert status == 413 and "exceeds 4096 bytes" in answer["error"]
    assert runner.requests == []


def test_a_body_without_length_is_refused(start_server):
    runner = FakeRunner()
    server = start_server(run=runner)
    host, port = server.server_address[:2]
    with socket.create_connection((str(host), port), timeout=10) as sock:
        sock.sendall(b"POST /alerts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"2\r\n{}\r\n0\r\n\r\n")
        reply = sock.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 411")
    assert runner.requests == []


def test_shared_secret(start_server):
    runner = FakeRunner()
    server = start_server(run=runner, secret="s3cr3t-token-value")
    body = webhook(alert(fingerprint="abcd"))
    assert post(server, body)[0] == 401
    assert post(server, body, {"Authorization": "Bearer wrong"})[0] == 401
    assert post(server, body, {"Authorization": "Basic s3cr3t-token-value"})[0] == 401
    assert runner.requests == []
    assert post(server, body, {"Authorization": "Bearer s3cr3t-token-value"})[0] == 200
    assert server.dispatcher.wait_idle(10) and len(runner.requests) == 1


def test_concurrent_runs_are_capped_and_a_full_queue_answers_503(start_server):
    runner = FakeRunner(blocking=True)
    server = start_server(run=runner, max_concurrent=2, max_queue=1)
    answers = [post(server, webhook(alert(fingerprint=f"{i:x}0"))) for i in range(3)]
    assert [a[0] for a in answers] == [200, 200, 200]  # two running, one queued
    deadline = time.monotonic() + 5
    while runner.active < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    status, answer = post(server, webhook(alert(fingerprint="40")))
    assert status == 503 and "queue limit 1" in answer["error"]
    both = post(server, webhook(alert(fingerprint="50"), alert(fingerprint="60")))
    assert both[0] == 503  # all or nothing: neither of the two was queued
    assert server.dispatcher.stats()["queued"] == 1
    runner.release.set()
    assert server.dispatcher.wait_idle(10)
    assert runner.peak == 2 and len(runner.requests) == 3
    assert post(server, webhook(alert(fingerprint="40")))[0] == 200  # room again


def test_cli_refuses_a_literal_secret(capsys):
    from noa_lib.cli import main

    assert main(["alerts", "serve", "--port", "0", "--shared-secret", "hunter2"]) == 2
    err = capsys.readouterr().err
    assert "reference" in err and "hunter2" not in err


def test_noa_alerts_serve_command(tmp_path: Path, fixture_runbooks: Path):
    """The CLI: secret from an env reference, health, a resolved alert (no run), clean stop."""
    import os
    import signal
    import subprocess
    import sys

    from promstack import free_port

    port = free_port()
    env = {**os.environ, "NOA_TEST_ALERTS_SECRET": "a-long-shared-secret"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "noa_lib.cli", "alerts", "serve", "--port", str(port),
         "--shared-secret", "env:NOA_TEST_ALERTS_SECRET", "--max-concurrent", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                assert conn.getresponse().status == 200
                break
            except OSError:
                time.sleep(0.2)
        body = json.dumps(webhook(alert(fingerprint="9999", status="resolved"))).encode()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/alerts", body=body,
                     headers={"Authorization": "Bearer a-long-shared-secret"})
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read())["resolved"] == ["9999"]
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "bearer token required" in err and "a-long-shared-secret" not in err + out


def test_alerts_of_one_group_open_one_incident_and_the_runs_carry_its_id(
    start_server, reports_dir: Path
):
    """Through the receiver's HTTP endpoint: the first firing alert of a group opens an incident
    (severity from its label), a second alert of the group joins it, another group opens its own."""
    from noa_lib.records.incidents import IncidentStore

    runner = FakeRunner()
    server = start_server(run=runner)
    first = post(server, webhook(alert(fingerprint="aa01", severity="P0")))[1]
    second = post(server, webhook(alert(fingerprint="aa02", service="web")))[1]
    other = post(server, webhook(alert("DiskFull", fingerprint="bb01", severity="warning"),
                                 group_key='{}:{alertname="DiskFull"}'))[1]
    assert server.dispatcher.wait_idle(10)
    incident = first["accepted"][0]["incident"]
    assert second["accepted"][0]["incident"] == incident
    assert other["accepted"][0]["incident"] not in (incident, None)
    assert [(r.trigger.fingerprint, r.incident) for r in runner.requests] == [
        ("aa01", incident), ("aa02", incident), ("bb01", other["accepted"][0]["incident"])]
    store = IncidentStore(reports_dir)
    opened = store.get(incident)
    assert opened.severity == "P0" and opened.status == "detected"
    assert opened.group_keys == ['{}:{alertname="HighErrorRate"}']
    assert opened.detected_at == "2026-11-26T22:00:00.000000Z"  # the alert's startsAt
    notes = [h["text"] for h in opened.history if h["action"] == "note"]
    assert [n.split(" the incident")[0] for n in notes] == [
        "alert HighErrorRate (aa01) opened", "alert HighErrorRate (aa02) joined"]
    assert store.get(other["accepted"][0]["incident"]).severity == "P2"
    store.resolve(incident)  # a resolved incident is not joined: the group opens a new one
    later = post(server, webhook(alert(fingerprint="aa03")))[1]
    assert later["accepted"][0]["incident"] not in (incident, None)
    assert server.dispatcher.wait_idle(10)


def test_an_incident_store_that_fails_never_stops_the_run(start_server, tmp_path: Path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the records root should be")
    runner = FakeRunner()
    server = start_server(run=runner, reports_dir=blocked)
    status, answer = post(server, webhook(alert(fingerprint="cc01")))
    assert status == 200 and answer["accepted"] == [
        {"fingerprint": "cc01", "runbook": "monitoring/alert_response"}]  # no incident named
    assert server.dispatcher.wait_idle(10)
    assert [(r.trigger.fingerprint, r.incident) for r in runner.requests] == [("cc01", None)]
