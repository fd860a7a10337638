"""Tokens bound to RBAC rules: the sandbox enforces the Roles the project ships (deploy/kubernetes).

The ``rules`` role evaluates a Role's rules as Kubernetes does (apiGroups, resources with
``x/y`` subresources, verbs, resourceNames, the Role's namespace), so running a runbook under the
shipped Role proves the Role is enough — and these tests prove the evaluation refuses what the
Role does not grant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from noa_sandbox.kube.auth import Principal, load_tokens, parse_rules

from .conftest import NS, Kube

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "kubernetes" / "rbac-deployment-runbooks.yaml"


def role(name: str) -> dict[str, Any]:
    for doc in yaml.safe_load_all(MANIFEST.read_text()):
        if doc and doc["kind"] == "Role" and doc["metadata"]["name"] == name:
            return dict(doc)
    raise AssertionError(f"no Role {name} in {MANIFEST}")


def principal(name: str) -> Principal:
    doc = role(name)
    return Principal(name, "rules", parse_rules(doc["rules"]), doc["metadata"]["namespace"])


def as_user(kube: Kube, name: str) -> client.ApiClient:
    token = f"{name}-token"
    kube.server.tokens[token] = principal(name)
    return kube.api_client(token)


def deployment(name: str = "api") -> dict[str, Any]:
    labels = {"app": name}
    return {"metadata": {"name": name, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": name, "image": "x:1"}]}}}}


def test_the_deployer_role_may_change_deployments_but_not_read_secrets(kube: Kube) -> None:
    kube.store.create("deployments", NS, deployment())
    apps = client.AppsV1Api(as_user(kube, "noa-deployer"))
    patched = apps.patch_namespaced_deployment("api", NS, {"spec": {"replicas": 2}})
    assert patched.spec.replicas == 2
    scale = apps.patch_namespaced_deployment_scale("api", NS, {"spec": {"replicas": 3}})
    assert scale.spec.replicas == 3
    core = client.CoreV1Api(as_user(kube, "noa-deployer"))
    with pytest.raises(ApiException) as refused:
        core.list_namespaced_secret(NS)
    assert refused.value.status == 403
    assert 'cannot list resource "secrets"' in json.loads(refused.value.body)["message"]


def test_rules_apply_only_in_the_roles_namespace(kube: Kube) -> None:
    kube.store.create("namespaces", None, {"metadata": {"name": "other"}})
    kube.store.create("deployments", "other", deployment())
    apps = client.AppsV1Api(as_user(kube, "noa-deployer"))
    with pytest.raises(ApiException) as refused:
        apps.patch_namespaced_deployment("api", "other", {"spec": {"replicas": 2}})
    assert refused.value.status == 403


def test_the_observer_role_reads_but_may_not_patch(kube: Kube) -> None:
    kube.store.create("deployments", NS, deployment())
    apps = client.AppsV1Api(as_user(kube, "noa-runbooks-observer"))
    assert [d.metadata.name for d in apps.list_namespaced_deployment(NS).items] == ["api"]
    with pytest.raises(ApiException) as refused:
        apps.patch_namespaced_deployment("api", NS, {"spec": {"replicas": 2}})
    message = json.loads(refused.value.body)["message"]
    assert refused.value.status == 403
    assert 'User "noa-runbooks-observer" cannot patch resource "deployments" in API group "apps"' \
        in message
    with pytest.raises(ApiException) as scale:
        apps.patch_namespaced_deployment_scale("api", NS, {"spec": {"replicas": 2}})
    assert scale.value.status == 403  # deployments/scale is a resource of its own


def test_resource_names_narrow_a_rule(kube: Kube) -> None:
    kube.store.create("deployments", NS, deployment("api"))
    kube.store.create("deployments", NS, deployment("web"))
    rules = parse_rules([{"apiGroups": ["apps"], "resources": ["deployments"],
                          "verbs": ["get"], "resourceNames": ["api"]}])
    kube.server.tokens["narrow"] = Principal("narrow", "rules", rules, NS)
    apps = client.AppsV1Api(kube.api_client("narrow"))
    assert apps.read_namespaced_deployment("api", NS).metadata.name == "api"
    with pytest.raises(ApiException) as refused:
        apps.read_namespaced_deployment("web", NS)
    assert refused.value.status == 403


def test_tokens_file_rules_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"t": {"user": "u", "role": "rules", "namespace": NS,
                                      "rules": role("noa-deployer")["rules"]}}))
    loaded = load_tokens(path)["t"]
    assert loaded.role == "rules" and loaded.namespace == NS and loaded.rules
    path.write_text(json.dumps({"t": {"user": "u", "role": "rules", "rules": [{"verbs": "get"}]}}))
    with pytest.raises(ValueError, match="verbs must be a list"):
        load_tokens(path)
