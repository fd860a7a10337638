"""What the sandbox's Kubernetes API serves is shaped like the real thing: every seeded object (and
the ReplicaSets and Pods its controller makes) validates against the Kubernetes 1.30 OpenAPI
schemas, strictly — an invented or misspelt field fails here before a runbook learns to rely on
it."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest

from .conftest import ADMIN, NS, Running, http_call

K8S_VERSION = "1.30"
COLLECTIONS = [
    "/apis/apps/v1/namespaces/noa/deployments",
    "/apis/apps/v1/namespaces/noa/replicasets",
    "/api/v1/namespaces/noa/pods",
    "/api/v1/namespaces/noa/services",
    "/api/v1/namespaces/noa/configmaps",
    "/api/v1/namespaces/noa/secrets",
    "/api/v1/namespaces/noa/serviceaccounts",
    "/api/v1/namespaces/noa/persistentvolumeclaims",
    "/api/v1/namespaces/noa/events",
    "/apis/autoscaling/v2/namespaces/noa/horizontalpodautoscalers",
    "/apis/batch/v1/namespaces/noa/cronjobs",
    "/api/v1/namespaces",
    "/api/v1/nodes",
    "/apis/storage.k8s.io/v1/storageclasses",
]


def items(cluster: Running, path: str) -> list[dict[str, Any]]:
    status, _, body = http_call(cluster, "GET", path)
    assert status == 200, body
    listing = json.loads(body)
    return list(listing["items"])


@pytest.mark.parametrize("path", COLLECTIONS, ids=lambda p: p.rsplit("/", 1)[-1])
def test_served_objects_validate_against_the_kubernetes_schemas(seeded: Running, path: str
                                                                ) -> None:
    found = items(seeded, path)
    assert found, f"the seeded sandbox serves no {path.rsplit('/', 1)[-1]}"
    for obj in found:
        where = f"{obj.get('kind')}/{obj['metadata'].get('name')}"
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{where}: {exc}") from None


def test_a_real_client_reads_every_kind_without_complaint(seeded: Running) -> None:
    # the official client deserializes strictly (types, required fields): read each kind with it
    from kubernetes import client

    api = seeded.api_client(ADMIN)
    assert client.AppsV1Api(api).list_namespaced_deployment(NS).items
    assert client.CoreV1Api(api).list_namespaced_pod(NS).items
    assert client.AutoscalingV2Api(api).list_namespaced_horizontal_pod_autoscaler(NS).items
    assert client.BatchV1Api(api).list_namespaced_cron_job(NS).items
    assert client.CoreV1Api(api).list_namespaced_event(NS).items
