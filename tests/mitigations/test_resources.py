"""incident/oom_kills and incident/disk_space cure their scenarios on the private sandbox.

oom: the worker Deployment's limit lowered → OOMKilled restarts in Prometheus → the default dry
run changes nothing (no mutating request in the API server's log, the Deployment's
resourceVersion unchanged) → applied for an incident: the limit raised, pods replaced, no new
OOM kill and memory under 80 % of the limit in Prometheus, the incident ``mitigated``.
disk-filling: usage above 90 % → the dry run changes nothing, an expansion on a class that does
not allow it is refused → applied: capacity grown, usage under the threshold in
Prometheus. ``normal`` removes only what the causes made.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from private_sandbox import PrivateSandbox as MitigationSandbox

from noa_lib.clients import kube_apps, kube_pods
from noa_lib.ops.resources.quantity import parse_bytes
from noa_lib.records.incidents import IncidentStore
from noa_lib.records.runner import RunRequest, RunResult, run
from noa_sandbox import processes
from noa_sandbox.kube.requestlog import read_requests
from tests.kubestack import wait_until

GI = 2**30


def promql(sb: MitigationSandbox, query: str) -> list[dict[str, Any]]:
    assert sb.target.prometheus is not None
    url = f"{sb.target.prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=10) as rsp:  # noqa: S310 - loopback Prometheus
        result: list[dict[str, Any]] = json.load(rsp)["data"]["result"]
    return result


def value(sb: MitigationSandbox, query: str) -> float | None:
    result = promql(sb, query)
    return max(float(r["value"][1]) for r in result) if result else None


def worker(sb: MitigationSandbox) -> dict[str, Any]:
    return kube_apps.get(sb.target.kubernetes, "deployments", "worker", "noa")


def worker_limit(sb: MitigationSandbox) -> str:
    containers = worker(sb)["spec"]["template"]["spec"]["containers"]
    return str(next(c for c in containers if c["name"] == "worker")["resources"]["limits"][
        "memory"])


def worker_pods(sb: MitigationSandbox) -> set[str]:
    return {p.name for p in kube_pods.list_pods(sb.target.kubernetes, "noa",
                                                label_selector="app=worker")}


def quantity(text: str) -> float:
    return parse_bytes(text, "quantity")


def pvc(sb: MitigationSandbox, name: str) -> dict[str, Any]:
    return kube_apps.get(sb.target.kubernetes, "persistentvolumeclaims", name, "noa")


def runbook(reports_dir: Path, name: str, **params: str) -> RunResult:
    """Run ``name``; an ``incident`` parameter is also the run's ``--incident``."""
    return run(RunRequest(name, params, reports_dir=reports_dir, html=False,
                          incident=params.get("incident")))


def figures(result: RunResult) -> dict[str, Any]:
    outcome: dict[str, Any] = result.metadata.get("outcome") or {}
    return dict(outcome.get("figures") or {})


def log_offset(sb: MitigationSandbox) -> int:
    path = sb.state / "kube" / "requests.jsonl"
    return path.stat().st_size if path.exists() else 0


def mutations(sb: MitigationSandbox, since: int) -> list[dict[str, Any]]:
    return [r for r in read_requests(sb.state / "kube" / "requests.jsonl", since)
            if r.get("mutating")]


def test_oom_dry_run_changes_nothing_and_raising_the_limit_cures_it(
        runner_env: MitigationSandbox, reports_dir: Path) -> None:
    sb = runner_env
    killed = ('max(kube_pod_container_status_last_terminated_reason{namespace="noa",'
              'container="worker",reason="OOMKilled"})')
    with sb.scenario("oom"):
        assert worker_limit(sb) == "1Gi"
        wait_until(lambda: value(sb, killed), timeout=60, interval=2, what="OOMKilled in Prom")
        version = worker(sb)["metadata"]["resourceVersion"]
        offset = log_offset(sb)
        started = time.monotonic()
        dry = runbook(reports_dir, "incident/oom_kills")
        dry_s = time.monotonic() - started
        assert dry.exit_code == 0, dry.message
        assert figures(dry)["mitigation"] == "dry-run" and figures(dry)["cause"] == "undersized"
        assert mutations(sb, offset) == []
        assert worker(sb)["metadata"]["resourceVersion"] == version

        old_pods = worker_pods(sb)
        incident = IncidentStore(reports_dir).open(title="worker OOM-killed", severity="P2",
                                                   commander="tests")
        started = time.monotonic()
        applied = runbook(reports_dir, "incident/oom_kills", incident=incident.id,
                          dry_run="false")
        applied_s = time.monotonic() - started
        assert applied.exit_code == 0, applied.message
        assert figures(applied)["mitigation"] == "cured" and figures(applied)["verified"]
        limit = worker_limit(sb)
        assert quantity(limit) > GI
        new_pods = worker_pods(sb)
        assert new_pods and not new_pods & old_pods  # replaced
        pods = "|".join(sorted(new_pods))
        restarts = value(sb, 'sum(kube_pod_container_status_restarts_total{namespace="noa",'
                             f'pod=~"{pods}",container="worker"}})')
        assert restarts == 0  # no new OOM kill
        share = value(sb, f'max(container_memory_working_set_bytes{{namespace="noa",'
                          f'pod=~"{pods}",container="worker"}} / on (pod) group_left '
                          f'kube_pod_container_resource_limits{{namespace="noa",pod=~"{pods}",'
                          'container="worker",resource="memory"})')
        assert share is not None and share < 0.8
        assert IncidentStore(reports_dir).get(incident.id).status == "mitigated"
        generation = worker(sb)["metadata"]["generation"]
    assert worker_limit(sb) == limit  # the mitigation's limit: not the cause's any more
    assert worker(sb)["metadata"]["generation"] == generation
    print(f"oom_kills dry run {dry_s:.1f} s, applied {applied_s:.1f} s")


def test_normal_puts_back_the_limit_the_oom_cause_lowered(runner_env: MitigationSandbox) -> None:
    sb = runner_env
    before = worker_limit(sb)
    with sb.scenario("oom"):
        assert worker_limit(sb) == "1Gi"
    assert worker_limit(sb) == before


def test_disk_filling_is_cured_by_expanding_the_pvc_and_normal_stops_only_the_filler(
        runner_env: MitigationSandbox, reports_dir: Path) -> None:
    sb = runner_env
    usage = ('max(kubelet_volume_stats_used_bytes{namespace="noa",'
             'persistentvolumeclaim="noa-uploads"} / kubelet_volume_stats_capacity_bytes{'
             'namespace="noa",persistentvolumeclaim="noa-uploads"})')
    with sb.scenario("disk-filling"):
        made = json.loads((sb.state / "causes.json").read_text())["created"]
        wait_until(lambda: (value(sb, usage) or 0) > 0.9, timeout=60, interval=2,
                   what="noa-uploads above 90 %")
        before = quantity(pvc(sb, "noa-uploads")["status"]["capacity"]["storage"])
        version = pvc(sb, "noa-uploads")["metadata"]["resourceVersion"]
        offset = log_offset(sb)
        dry = runbook(reports_dir, "incident/disk_space")
        assert dry.exit_code == 0, dry.message
        assert figures(dry)["mitigation"] == "dry-run" and figures(dry)["usage_pct"] > 90
        assert pvc(sb, "noa-uploads")["metadata"]["resourceVersion"] == version
        refused = runbook(reports_dir, "incident/disk_space", pvc="noa-worker-data",
                          grow_to="60Gi", dry_run="false")
        assert refused.exit_code == 1 and "does not allow volume expansion" in refused.message
        assert mutations(sb, offset) == []
        started = time.monotonic()
        applied = runbook(reports_dir, "incident/disk_space", dry_run="false")
        applied_s = time.monotonic() - started
        assert applied.exit_code == 0, applied.message
        assert figures(applied)["mitigation"] == "cured"
        grown = pvc(sb, "noa-uploads")
        capacity = quantity(grown["status"]["capacity"]["storage"])
        assert capacity > before
        seen = value(sb, 'max(kubelet_volume_stats_capacity_bytes{namespace="noa",'
                         'persistentvolumeclaim="noa-uploads"})')
        assert seen == capacity
        now = value(sb, usage)
        assert now is not None and now < 0.8
    assert not Path(made["file"]).exists()
    assert not processes.is_alive(made["pid"], made["pid_start"])
    assert pvc(sb, "noa-uploads")["spec"]["resources"]["requests"]["storage"] == \
        grown["spec"]["resources"]["requests"]["storage"]  # a PVC is not shrunk back
    print(f"disk_space applied {applied_s:.1f} s")
