"""``noa sandbox up`` brings the Kubernetes API up on a PRIVATE sandbox, publishes a working
kubeconfig in the target, the simulator's world follows the pods, and ``down`` stops it."""

from __future__ import annotations

import json
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

import noa_sandbox as sandbox
from noa_lib.clients import kubernetes as kube_client
from noa_lib.config import load_config
from noa_sandbox import processes
from noa_sandbox.layout import Layout
from noa_sandbox.simulator.spec import read_spec
from noa_sandbox.state import load_state

pytestmark = pytest.mark.integration


def test_up_publishes_the_kube_api_and_down_stops_it() -> None:
    root = Path(tempfile.mkdtemp(prefix="noa-kube-sbx-"))
    root.chmod(0o755)
    state = root / "state"
    layout = Layout(state)
    try:
        status = sandbox.up(state, load_data=False)
        assert status.healthy, status.to_dict()
        kube = status.service("kubernetes")
        assert kube.state == "running" and kube.endpoint is not None
        target = load_config(layout.target_file, env={}).target("sandbox")
        assert target.kubernetes is not None and target.registry is not None
        assert target.kubernetes.kubeconfig == str(layout.kubeconfig)
        assert (target.kubernetes.context, target.kubernetes.namespace) == ("noa-sandbox", "noa")
        assert target.registry.url == kube.endpoint
        assert stat.S_IMODE(layout.kubeconfig.stat().st_mode) == 0o600
        probe = kube_client.probe(target.kubernetes)
        assert probe.version == "v1.30.0-noa-sandbox"
        # up waited for Prometheus' first scrape of every target: a runbook started now reads live
        # series of every job (kube-state-metrics included), not the gap after a restart
        from noa_lib.clients import prometheus as prom_client

        assert target.prometheus is not None
        prom = prom_client.build(target.prometheus)
        try:
            active = prom_client.targets(prom)["activeTargets"]
        finally:
            prom.close()
        assert {t["labels"]["job"] for t in active} >= {"noa-server", "kube-state-metrics",
                                                        "kubelet", "node-exporter"}
        assert [t["scrapeUrl"] for t in active if t["health"] == "unknown"] == []
        # up waited for the rollout: every deployment is complete and Available
        api = client.ApiClient(config.new_client_from_config(
            config_file=str(layout.kubeconfig), context="noa-sandbox").configuration)
        apps = client.AppsV1Api(api)
        for d in apps.list_namespaced_deployment("noa").items:
            assert d.status.available_replicas == d.spec.replicas, d.metadata.name
            assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
        pods = {p.metadata.name for p in client.CoreV1Api(api).list_namespaced_pod("noa").items}
        world = read_spec(layout.world_file)
        assert {p.name for p in world.pods} == pods  # the simulator serves exactly these
        tokens = json.loads((layout.kube_dir / "tokens.json").read_text())
        assert sorted(e["role"] for e in tokens.values()) == ["admin", "rules", "rules", "view"]
        viewer = client.ApiClient(config.new_client_from_config(
            config_file=str(layout.kubeconfig), context="noa-sandbox-viewer").configuration)
        assert client.AppsV1Api(viewer).read_namespaced_deployment("api", "noa")
        # the shipped Roles, enforced: the deployer may patch (here a server-side dry run),
        # the observer may read but not patch
        deployer = client.AppsV1Api(client.ApiClient(config.new_client_from_config(
            config_file=str(layout.kubeconfig), context="noa-sandbox-deployer").configuration))
        assert deployer.patch_namespaced_deployment(
            "api", "noa", {"spec": {"replicas": 4}}, dry_run="All").spec.replicas == 4
        observer = client.AppsV1Api(client.ApiClient(config.new_client_from_config(
            config_file=str(layout.kubeconfig), context="noa-sandbox-observer").configuration))
        assert observer.read_namespaced_deployment("api", "noa")
        with pytest.raises(ApiException) as refused:
            observer.patch_namespaced_deployment("api", "noa", {"spec": {"replicas": 4}})
        assert refused.value.status == 403
        assert sandbox.up(state, load_data=False).healthy  # idempotent
        pid = load_state(layout.state_file).kubernetes.pid
    finally:
        sandbox.down(state)
    try:
        after = sandbox.status(state)
        assert after.service("kubernetes").state == "stopped"
        assert pid is not None and not processes.is_alive(pid, None)
        assert not layout.target_file.exists()
        assert (layout.kube_dir / "store.json").is_file()  # objects survive down/up
    finally:
        shutil.rmtree(root, ignore_errors=True)
