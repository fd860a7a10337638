"""Triage logic without backends: labels, rollback candidates, next runbooks, and the Kubernetes
rollout reader against a tiny stand-in API server; webhook parsing and runbook choice."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from noa_lib.clients import kubernetes
from noa_lib.config import KubernetesSettings, Target
from noa_lib.errors import ParameterError
from noa_lib.ops import alert_triage
from noa_lib.ops.findings import Status
from noa_lib.records.alert_dispatch import PayloadError, parse_webhook, runbook_of


def test_labels_from_json_text():
    assert alert_triage.parse_labels("") == {}
    assert alert_triage.parse_labels('{"service": "api", "n": 3}') == {"service": "api", "n": "3"}
    for bad in ("[1]", "{nope", '"text"'):
        with pytest.raises(ParameterError, match="labels"):
            alert_triage.parse_labels(bad)


def test_empty_alert_name_is_refused():
    with pytest.raises(ParameterError, match="alert_name"):
        alert_triage.triage(Target("bare"), " ", "{}")


def _row(name: str, minutes: float | None, revision: int = 3, previous: int | None = 2
         ) -> alert_triage.RecentRollout:
    return alert_triage.RecentRollout(deployment=name, revision=revision,
                                      previous_revision=previous, rolled_out=None,
                                      minutes_ago=minutes, images="")


def test_a_rollout_under_thirty_minutes_is_a_rollback_candidate():
    finding = alert_triage.rollback_finding(
        [_row("noa-worker", 5.0), _row("noa-api", 12.0)], "api", "noa")
    assert finding.status is Status.WARNING
    assert finding.message.startswith("rollback candidate: noa-api rolled out revision 3 12 min")
    assert finding.evidence["recent"] == ["noa-api r3", "noa-worker r3"]


def test_no_candidate_when_old_or_without_previous_revision():
    old = alert_triage.rollback_finding([_row("noa-api", 45.0)], None, "noa")
    assert old.status is Status.OK and "latest: noa-api revision 3, 45 min ago" in old.message
    first = alert_triage.rollback_finding([_row("noa-api", 3.0, 1, None)], None, "noa")
    assert first.status is Status.OK and "none with a previous revision" in first.message
    assert alert_triage.rollback_finding([], None, "noa").status is Status.OK


def test_next_runbooks_put_existing_ones_first():
    names = [r.runbook for r in alert_triage.next_runbooks("HighErrorRate")]
    assert names[:5] == ["incident/high_error_rate", "deployment/rollback",
                         "monitoring/log_investigation", "monitoring/database_health",
                         "monitoring/daily_health"]
    assert [r.planned for r in alert_triage.next_runbooks("HighLatency")][-1] is True
    assert [r.runbook for r in alert_triage.next_runbooks("Whatever")] == [
        "monitoring/daily_health"]


# --------------------------------------------------------------------------- rollouts


def _replicaset(name: str, owner: str, revision: int, created: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "noa", "creationTimestamp": created,
                     "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                          "name": owner, "uid": f"uid-{owner}",
                                          "controller": True}]},
        "spec": {"selector": {"matchLabels": {"app": owner}},
                 "template": {"metadata": {"labels": {"app": owner}},
                              "spec": {"containers": [{"name": owner, "image": image}]}}},
    }


@pytest.fixture
def api_server() -> Iterator[str]:
    listing = {"apiVersion": "apps/v1", "kind": "ReplicaSetList", "metadata": {}, "items": [
        _replicaset("noa-api-1", "noa-api", 1, "2026-11-26T10:00:00Z", "noa:2.13.0"),
        _replicaset("noa-api-2", "noa-api", 2, "2026-11-26T12:00:00Z", "noa:2.14.0"),
        _replicaset("noa-web-1", "noa-web", 1, "2026-11-26T09:00:00Z", "web:1"),
    ]}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            ok = self.path.startswith("/apis/apps/v1/namespaces/noa/replicasets")
            body = json.dumps(listing if ok else {"kind": "Status", "code": 404}).encode()
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_rollouts_from_replicasets(api_server):
    rollouts = kubernetes.rollouts(KubernetesSettings(api_url=api_server, timeout=5))
    assert [(r.deployment, r.revision, r.previous_revision) for r in rollouts] == [
        ("noa-api", 2, 1), ("noa-web", 1, None)]
    assert rollouts[0].images == ("noa:2.14.0",)
    assert rollouts[0].created is not None and rollouts[0].created.hour == 12


# --------------------------------------------------------------------------- webhook parsing


def test_runbook_choice():
    assert runbook_of({"runbook": "monitoring/database_health"}, {}) == "monitoring/database_health"
    assert runbook_of({}, {"runbook": "incident/x"}) == "incident/x"
    url = "https://git/noa/blob/main/notebooks/incident/high_error_rate.ipynb?alert=X"
    assert runbook_of({}, {"runbook_url": url}) == "incident/high_error_rate"
    assert runbook_of({"runbook": "../../etc/passwd"}, {}) == "monitoring/alert_response"
    assert runbook_of({}, {}) == "monitoring/alert_response"


def test_parse_webhook_keeps_what_runs_need():
    body = json.dumps({"version": "4", "alerts": [
        {"status": "firing", "labels": {"alertname": "HighLatency", "service": "api"},
         "annotations": {}, "startsAt": "2026-11-26T22:00:00Z", "fingerprint": "abc123"},
        {"status": "resolved", "labels": {"alertname": "X"}, "fingerprint": "../bad"},
    ]}).encode()
    firing, resolved = parse_webhook(body)
    assert (firing.alert_name, firing.fingerprint, firing.runbook) == (
        "HighLatency", "abc123", "monitoring/alert_response")
    assert json.loads(firing.parameters()["labels"]) == {"alertname": "HighLatency",
                                                         "service": "api"}
    assert resolved.status == "resolved" and len(resolved.fingerprint) == 16  # recomputed


@pytest.mark.parametrize("body", [b"", b"null", b"{}", b'{"alerts": {}}',
                                  b'{"alerts": [{"status": "firing"}]}'])
def test_parse_webhook_rejects_wrong_shapes(body):
    with pytest.raises(PayloadError):
        parse_webhook(body)


def test_next_runbooks_exist_exactly_when_not_planned():
    from noa_lib.records.catalog import Catalog

    catalog = Catalog(Path(__file__).resolve().parents[2] / "notebooks")
    for alert in [*alert_triage._NEXT, "Whatever"]:
        for step in alert_triage.next_runbooks(alert):
            exists = (catalog.root / f"{step.runbook}.ipynb").is_file()
            assert exists != step.planned, f"{alert}: {step.runbook} planned={step.planned}"
