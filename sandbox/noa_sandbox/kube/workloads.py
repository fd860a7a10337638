"""The parts of the API answered by the workloads: pod logs, the proxy and the registry.

- pod logs (``GET /api/v1/namespaces/{ns}/pods/{name}/log``): the query is validated like the
  real server does it (a container is required when the pod has several, unknown containers and
  ``previous`` without a previous termination are 400 with the real messages); the text comes from
  ``hooks.pod_logs`` (``tailLines`` and ``limitBytes`` are applied again here, which is harmless);
- the service proxy picks the Ready pods the service selects (none: 503 ``no endpoints available
  for service "x"``), the pod proxy needs a Running pod; ``hooks.proxy`` answers (the
  ``Authorization`` header is not passed on);
- the registry (``/v2/``, ``/v2/{repository}/manifests/{reference}``) answers digests from
  ``hooks.image_digest`` with ``Docker-Content-Digest`` and an OCI manifest content type.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from noa_sandbox.kube.errors import ApiError, bad_request, not_found
from noa_sandbox.kube.hooks import Hooks, LogQuery, ProxyRequest
from noa_sandbox.kube.messages import Request, Response, json_response
from noa_sandbox.kube.objects import pod_ready
from noa_sandbox.kube.routes import Route
from noa_sandbox.kube.selectors import matches_map
from noa_sandbox.kube.store import Store

Obj = dict[str, Any]
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class KubeApi(Protocol):
    """What these handlers need of the server."""

    @property
    def store(self) -> Store: ...

    @property
    def hooks(self) -> Hooks: ...


def pod_log(server: KubeApi, request: Request, target: Route) -> Response:
    """``GET .../pods/{name}/log``: the validated query answered by ``hooks.pod_logs``."""
    assert target.name is not None
    pod = server.store.get("pods", target.namespace, target.name)
    spec = pod.get("spec") or {}
    names = [c.get("name") for c in spec.get("containers") or []]
    init_names = [c.get("name") for c in spec.get("initContainers") or []]
    ephemeral = [c.get("name") for c in spec.get("ephemeralContainers") or []]
    container = request.query.get("container") or ""
    pod_name = target.name
    if not container:
        if len(names) == 1:
            container = str(names[0])
        else:
            message = (f"a container name must be specified for pod {pod_name}, choose one "
                       f"of: [{' '.join(map(str, names))}]")
            if init_names:
                message += f" or one of the init containers: [{' '.join(map(str, init_names))}]"
            raise bad_request(message)
    elif container not in names + init_names + ephemeral:
        raise bad_request(f"container {container} is not valid for pod {pod_name}")
    previous = request.flag("previous")
    if previous:
        status = pod.get("status") or {}
        statuses = (status.get("containerStatuses") or []) + \
            (status.get("initContainerStatuses") or [])
        entry: Obj = next((s for s in statuses if s.get("name") == container), {})
        if not ((entry.get("lastState") or {}).get("terminated")):
            raise bad_request(
                f'previous terminated container "{container}" in pod "{pod_name}" not found'
            )
    since_seconds = request.int_param("sinceSeconds")
    since_time = request.query.get("sinceTime") or None
    if since_seconds is not None and since_time is not None:
        raise bad_request("at most one of sinceTime or sinceSeconds may be specified")
    tail = request.int_param("tailLines")
    limit = request.int_param("limitBytes")
    query = LogQuery(
        container=container,
        tail_lines=tail,
        since_seconds=since_seconds,
        since_time=since_time,
        timestamps=request.flag("timestamps"),
        previous=previous,
        limit_bytes=limit,
    )
    hook = server.hooks.pod_logs
    text = hook(pod, query) if hook is not None else ""
    if tail is not None and tail >= 0:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-tail:]) if tail else ""
    data = text.encode("utf-8")
    if limit is not None and limit > 0:
        data = data[:limit]
    return Response(200, data, "text/plain; charset=utf-8")

def proxy(server: KubeApi, request: Request, target: Route) -> Response:
    """``.../services|pods/{name}[:port]/proxy/...``: Ready pods, answered by ``hooks.proxy``."""
    assert target.rt is not None and target.name is not None
    store = server.store
    ns = target.namespace
    if target.rt.plural == "services":
        service = store.get("services", ns, target.name)
        selector = (service.get("spec") or {}).get("selector")
        candidates, _ = store.list("pods", ns)
        pods = tuple(
            p for p in candidates
            if matches_map((p.get("metadata") or {}).get("labels"), selector)
            and pod_ready(p) and not p["metadata"].get("deletionTimestamp")
        )
        if not pods:
            raise ApiError(503, "ServiceUnavailable",
                           f'no endpoints available for service "{target.name}"')
    else:
        pod = store.get("pods", ns, target.name)
        phase = (pod.get("status") or {}).get("phase")
        if phase != "Running":
            raise ApiError(503, "ServiceUnavailable",
                           f'pod "{target.name}" is not running (phase {phase})')
        pods = (pod,)
    hook = server.hooks.proxy
    if hook is None:
        raise not_found(target.rt.plural, "", target.name)
    path = target.rest or "/"
    if request.raw_query:
        path = f"{path}?{request.raw_query}"
    headers = {k: v for k, v in request.headers.items() if k != "authorization"}
    answer = hook(ProxyRequest(request.method, path, headers, request.body, pods))
    return Response(answer.status, answer.body, answer.content_type)

def registry(server: KubeApi, request: Request, target: Route) -> Response:
    """``GET|HEAD /v2/`` and ``/v2/{repository}/manifests/{reference}`` (no auth)."""
    headers = {"Docker-Distribution-API-Version": "registry/2.0"}
    if request.method not in ("GET", "HEAD"):
        return json_response(405, {"errors": [{"code": "UNSUPPORTED",
                                               "message": "the operation is unsupported"}]},
                             headers)
    rest = target.rest.strip("/")
    if not rest:
        return json_response(200, {}, headers)
    repository, sep, reference = rest.rpartition("/manifests/")
    if not sep or not repository or not reference:
        return json_response(404, {"errors": [{"code": "NAME_UNKNOWN",
                                               "message": "repository name not known to "
                                               "registry"}]}, headers)
    hook = server.hooks.image_digest
    digest = hook(repository, reference) if hook is not None else None
    if digest is None:
        return json_response(404, {"errors": [{"code": "MANIFEST_UNKNOWN",
                                               "message": "manifest unknown"}]}, headers)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": digest,
            "size": 2,
        },
        "layers": [],
        "annotations": {"org.opencontainers.image.ref.name": reference},
    }
    body = json.dumps(manifest, separators=(",", ":")).encode()
    return Response(200, body, OCI_MANIFEST, {**headers, "Docker-Content-Digest": digest})


__all__ = ["OCI_MANIFEST", "pod_log", "proxy", "registry"]
