"""Release incidents end to end on the private mitigation sandbox: a bad release rolled out to
the api (``error-spike``) and a release that crash-loops on every api pod (``complete-outage``)
are real rollouts; ``incident/high_error_rate`` and ``incident/complete_outage`` roll them back,
and the cure is read back from Prometheus. A dry run sends no mutating request; a verify that
fails rolls forward again; a protected target refuses without ``confirm``; a lost database is
handed over to ``backup/pitr_restore``; ``normal`` leaves the Deployment as the mitigation left
it."""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubestack import wait_until

from noa_lib.clients import kube_apps
from noa_lib.errors import UnsafeActionRefused
from noa_lib.ops.error_rate import diagnose_error_rate, error_rate_mitigation
from noa_lib.ops.mitigation import run_mitigation
from noa_lib.ops.outage import diagnose_outage
from noa_lib.records.incidents import IncidentStore
from noa_lib.records.runner import ExitCode, RunRequest, run
from noa_sandbox import causes
from noa_sandbox.releases import list_releases

pytestmark = pytest.mark.integration

FAST = {"window": "20s", "verify_window": "20s", "verify_timeout_s": "60"}
ERROR_SHARE = ('sum(rate(noa_http_requests_total{namespace="noa",service="api",status=~"5.."}'
               '[20s])) / sum(rate(noa_http_requests_total{namespace="noa",service="api"}[20s]))')
BY_VERSION = ('sum by (version) (rate(noa_http_requests_total{namespace="noa",service="api",'
              'status=~"5.."}[20s])) / sum by (version) (rate(noa_http_requests_total{'
              'namespace="noa",service="api"}[20s]))')
API_RPS = 'sum(rate(noa_http_requests_total{namespace="noa",service="api"}[20s]))'
UNAVAILABLE = 'max(kube_deployment_status_replicas_unavailable{namespace="noa",deployment="api"})'


def prom(sandbox: Any, promql: str) -> dict[str, float]:
    """``{"version=…" or "": value}`` of an instant query on the sandbox's Prometheus."""
    url = f"{sandbox.target.prometheus.url}/api/v1/query?" + urllib.parse.urlencode(
        {"query": promql})
    with urllib.request.urlopen(url, timeout=10) as rsp:
        result = json.load(rsp)["data"]["result"]
    return {",".join(f"{k}={v}" for k, v in sorted(r["metric"].items())): float(r["value"][1])
            for r in result if r["value"][1] not in ("NaN", "+Inf")}


def scalar(sandbox: Any, promql: str) -> float | None:
    values = list(prom(sandbox, promql).values())
    return values[0] if values else None


def api(sandbox: Any) -> dict[str, Any]:
    return kube_apps.get(sandbox.target.kubernetes, "deployments", "api", "noa")


def image(dep: dict[str, Any]) -> str:
    return dep["spec"]["template"]["spec"]["containers"][0]["image"]


def revision(dep: dict[str, Any]) -> str:
    return dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"]


def mutations(sandbox: Any, since: int) -> list[dict[str, Any]]:
    log = sandbox.layout.kube_dir / "requests.jsonl"
    with log.open() as f:
        f.seek(since)
        rows = [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if r.get("mutating")]


def log_offset(sandbox: Any) -> int:
    return (sandbox.layout.kube_dir / "requests.jsonl").stat().st_size


def meta_of(result: Any) -> dict[str, Any]:
    return json.loads(Path(result.record).read_text())["metadata"]["noa"]


def settled_on(sandbox: Any, want: str) -> bool:
    s = api(sandbox).get("status") or {}
    return image(api(sandbox)) == want and s.get("availableReplicas") == 3 \
        and s.get("updatedReplicas") == 3 and s.get("replicas") == 3


def test_error_spike_is_rolled_back_and_the_incident_mitigated(runner_env,
                                                               reports_dir: Path) -> None:
    sandbox = runner_env
    t0 = time.monotonic()
    before = image(api(sandbox))
    with sandbox.scenario("error-spike"):
        made = causes.created(sandbox.layout)["created"]
        bad = made["release"]
        assert image(api(sandbox)) == made["image"] != before
        wait_until(lambda: (scalar(sandbox, ERROR_SHARE) or 0) > 0.10, timeout=40,
                   interval=1, what="api 5xx share above 10 % in Prometheus")
        assert prom(sandbox, BY_VERSION)[f"version={bad}"] > 0.10  # the bad version is visible

        offset, rev = log_offset(sandbox), revision(api(sandbox))
        dry = run(RunRequest("incident/high_error_rate", dict(FAST), html=False))
        meta = meta_of(dry)
        assert dry.exit_code == ExitCode.SUCCEEDED, meta.get("error")
        figures = meta["outcome"]["figures"]
        assert (figures["decision"], figures["mitigation"]) == ("rollback", "dry-run")
        assert mutations(sandbox, offset) == []
        assert revision(api(sandbox)) == rev and image(api(sandbox)) == made["image"]
        protected = dataclasses.replace(sandbox.target, protected=True)
        mitigation = error_rate_mitigation(protected, diagnose_error_rate(protected, "api",
                                                                          window="20s"))
        with pytest.raises(UnsafeActionRefused, match="confirm"):
            run_mitigation(mitigation, dry_run=False)
        assert mutations(sandbox, offset) == [] and revision(api(sandbox)) == rev

        incident = IncidentStore(reports_dir).open(title="api 5xx", severity="P1",
                                                          commander="tests")
        applied = run(RunRequest("incident/high_error_rate", {**FAST, "dry_run": "false"},
                                 incident=incident.id, html=False))
        meta = meta_of(applied)
        assert applied.exit_code == ExitCode.SUCCEEDED, meta.get("error")
        assert meta["outcome"]["figures"]["mitigation"] == "cured"
        kinds = [e["kind"] for e in meta["timeline"]]
        assert "change-applied" in kinds and "verify-passed" in kinds
        assert image(api(sandbox)) == before
        share = scalar(sandbox, ERROR_SHARE)
        assert share is not None and share < 0.10, share  # cured, in Prometheus
        assert IncidentStore(reports_dir).get(incident.id).status == "mitigated"
    # normal: the mitigation already rolled back — the Deployment stays, the release is unmarked
    assert image(api(sandbox)) == before
    assert next(r for r in list_releases(sandbox.state) if r.version == bad).healthy
    print(f"\nerror-spike → rolled back, cured: {time.monotonic() - t0:.0f} s")


def test_a_verify_that_fails_rolls_forward_again(runner_env) -> None:
    sandbox = runner_env
    t0 = time.monotonic()
    before = image(api(sandbox))
    with sandbox.scenario("error-spike"):
        made = causes.created(sandbox.layout)["created"]
        wait_until(lambda: (scalar(sandbox, ERROR_SHARE) or 0) > 0.10, timeout=40,
                   interval=1, what="api 5xx share above 10 % in Prometheus")
        result = run(RunRequest("incident/high_error_rate", {
            **FAST, "verify_timeout_s": "0", "dry_run": "false"}, html=False))
        meta = meta_of(result)
        assert result.exit_code == ExitCode.FAILED  # the run says the verify failed
        assert meta["outcome"]["figures"]["mitigation"] == "reverted"
        kinds = [e["kind"] for e in meta["timeline"]]
        assert kinds.count("change-applied") == 2 and "verify-failed" in kinds
        assert "change-reverted" in kinds
        assert "not cured" in json.dumps(meta["error"])
        assert image(api(sandbox)) == made["image"]  # rolled forward to the bad release
        wait_until(lambda: settled_on(sandbox, made["image"]), timeout=40, interval=0.5,
                   what="the roll-forward to settle")
    # normal: the Deployment runs the cause's release again, so the cause rolls it back
    assert settled_on(sandbox, before)
    print(f"\nfailed verify → rolled forward: {time.monotonic() - t0:.0f} s")


def test_complete_outage_is_rolled_back_to_the_last_good_release(runner_env) -> None:
    sandbox = runner_env
    t0 = time.monotonic()
    before = image(api(sandbox))
    with sandbox.scenario("complete-outage"):
        made = causes.created(sandbox.layout)["created"]
        wait_until(lambda: (scalar(sandbox, UNAVAILABLE) or 0) >= 3, timeout=40, interval=1,
                   what="every api replica unavailable in Prometheus")
        assert (api(sandbox)["status"].get("readyReplicas") or 0) == 0
        seen = {f.check: f for f in diagnose_outage(sandbox.target, "api", window="20s").findings}
        assert seen["pods of api"].status == "critical"
        assert "CrashLoopBackOff" in seen["pods of api"].message
        assert made["release"] in seen["pods of api"].message
        assert seen["tier: PostgreSQL"].status == "ok" and seen["tier: pods web"].status == "ok"
        result = run(RunRequest("incident/complete_outage", {**FAST, "dry_run": "false"},
                                html=False))
        meta = meta_of(result)
        assert result.exit_code == ExitCode.SUCCEEDED, meta.get("error")
        figures = meta["outcome"]["figures"]
        assert (figures["decision"], figures["mitigation"]) == ("rollback", "cured")
        assert figures["ready_pods"] == 0 and figures["database"] == "ok"
        assert image(api(sandbox)) == before != made["image"]
        assert (scalar(sandbox, API_RPS) or 0) > 0  # traffic back, in Prometheus
        wait_until(lambda: scalar(sandbox, UNAVAILABLE) == 0, timeout=30, interval=1,
                   what="no api replica unavailable in Prometheus")
    assert settled_on(sandbox, before)
    assert next(r for r in list_releases(sandbox.state) if r.version == made["release"]).healthy
    print(f"\ncomplete-outage → rolled back, serving: {time.monotonic() - t0:.0f} s")



def test_a_lost_database_hands_over_to_pitr_restore_instead_of_rolling_back(runner_env) -> None:
    """The DR decision point: api down AND NOA's tables gone → no rollback, the pitr command."""
    from noa_lib.clients import postgres

    sandbox = runner_env
    t0 = time.monotonic()
    with sandbox.scenario("complete-outage"):
        made = causes.created(sandbox.layout)["created"]
        with postgres.connect(sandbox.target.postgres) as conn:
            postgres.query(conn, "ALTER TABLE organizations RENAME TO organizations_lost")
        try:
            offset, rev = log_offset(sandbox), revision(api(sandbox))
            result = run(RunRequest("incident/complete_outage", {**FAST, "dry_run": "false"},
                                    html=False))
            meta = meta_of(result)
            assert result.exit_code == ExitCode.SUCCEEDED, meta.get("error")
            figures = meta["outcome"]["figures"]
            assert (figures["database"], figures["decision"], figures["mitigation"]) == (
                "corrupt", "hand over", "nothing to do")
            decision = next(f for f in meta["outcome"]["findings"] if f["check"] == "decision")
            assert "not the release" in decision["message"]
            assert decision["evidence"]["command"].startswith(
                "noa run backup/pitr_restore --target sandbox -p target_time")
            assert mutations(sandbox, offset) == []  # no rollback was sent
            assert revision(api(sandbox)) == rev and image(api(sandbox)) == made["image"]
        finally:
            with postgres.connect(sandbox.target.postgres) as conn:
                postgres.query(conn, "ALTER TABLE organizations_lost RENAME TO organizations")
    print(f"\nlost database → DR hand-over: {time.monotonic() - t0:.0f} s")
