"""Validation and defaulting of objects written to the sandbox API server.

What the real API server would reject with 422 Invalid (names, label keys/values, a Deployment
or ReplicaSet selector that does not match its template, immutable selectors) is rejected here
with the real messages; and the defaults the real server fills in (Deployment strategy and
replicas, pod spec and container defaults, Service type/ports/clusterIP, Secret ``stringData``,
namespace phase) are filled in, so objects read back look like a real cluster's.
"""

from __future__ import annotations

import base64
import re
import zlib
from typing import Any

from noa_sandbox.kube.errors import ApiError, bad_request, invalid
from noa_sandbox.kube.resources import ResourceType
from noa_sandbox.kube.selectors import matches_label_selector

Obj = dict[str, Any]

SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


def name_problem(name: str, *, label: bool) -> str | None:
    """Why ``name`` is not a valid object name (``None`` when it is)."""
    if label:
        if len(name) > 63:
            return f'Invalid value: "{name}": must be no more than 63 characters'
        if not LABEL.match(name):
            return f'Invalid value: "{name}": {_LABEL_MSG}'
        return None
    if len(name) > 253:
        return f'Invalid value: "{name}": must be no more than 253 characters'
    if not SUBDOMAIN.match(name):
        return f'Invalid value: "{name}": {_SUBDOMAIN_MSG}'
    return None


def check_name(rt: ResourceType, name: str) -> None:
    problem = name_problem(name, label=rt.label_name_rule)
    if problem:
        raise invalid(rt.kind, rt.group, name, [("metadata.name", problem)])


def _label_problems(labels: Any, field: str) -> list[tuple[str, str]]:
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [(field, "Invalid value: must be a map of string keys to string values")]
    problems: list[tuple[str, str]] = []
    for key, value in labels.items():
        name = key.rsplit("/", 1)[-1]
        prefix = key.rsplit("/", 1)[0] if "/" in key else None
        if len(name) > 63 or not _LABEL_NAME.match(name) or (
            prefix is not None and not SUBDOMAIN.match(prefix)
        ):
            problems.append((field, f'Invalid value: "{key}": name part must consist of '
                             "alphanumeric characters, '-', '_' or '.', and must start and end "
                             "with an alphanumeric character"))
        if not isinstance(value, str) or (value and (len(value) > 63
                                                     or not _LABEL_NAME.match(value))):
            problems.append((field, f'Invalid value: "{value}": a valid label must be an empty '
                             "string or consist of alphanumeric characters, '-', '_' or '.', "
                             "and must start and end with an alphanumeric character"))
    return problems


def validate(rt: ResourceType, obj: Obj, old: Obj | None) -> None:
    """Raise 422 Invalid for what the real server refuses (``old`` set on updates)."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name", ""))
    causes: list[tuple[str, str]] = []
    causes += _label_problems(meta.get("labels"), "metadata.labels")
    annotations = meta.get("annotations")
    if annotations is not None and (
        not isinstance(annotations, dict)
        or not all(isinstance(v, str) for v in annotations.values())
    ):
        causes.append(("metadata.annotations", "Invalid value: values must be strings"))
    spec = obj.get("spec")
    if rt.plural in ("deployments", "replicasets"):
        causes += _workload_problems(spec, old)
    if rt.plural == "services" and isinstance(spec, dict):
        for n, port in enumerate(spec.get("ports") or []):
            if not isinstance(port, dict) or not isinstance(port.get("port"), int):
                causes.append((f"spec.ports[{n}].port", "Required value"))
    if rt.plural == "pods" and isinstance(spec, dict) and not spec.get("containers"):
        causes.append(("spec.containers", "Required value"))
    if causes:
        raise invalid(rt.kind, rt.group, name, causes)


def _workload_problems(spec: Any, old: Obj | None) -> list[tuple[str, str]]:
    if not isinstance(spec, dict):
        return [("spec", "Required value")]
    causes: list[tuple[str, str]] = []
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        causes.append(("spec.selector", "Required value"))
    else:
        if not matches_label_selector(labels, selector):
            causes.append((
                "spec.template.metadata.labels",
                f"Invalid value: {_go_map(labels)}: `selector` does not match template `labels`",
            ))
        old_selector = ((old or {}).get("spec") or {}).get("selector")
        if old is not None and old_selector is not None and old_selector != selector:
            causes.append((
                "spec.selector",
                f"Invalid value: {_go_selector(selector)}: field is immutable",
            ))
    replicas = spec.get("replicas")
    if replicas is not None and (not isinstance(replicas, int) or replicas < 0):
        causes.append((
            "spec.replicas",
            f"Invalid value: {replicas}: must be greater than or equal to 0",
        ))
    containers = ((template.get("spec") or {}).get("containers"))
    if not containers:
        causes.append(("spec.template.spec.containers", "Required value"))
    return causes


def _go_map(labels: dict[str, Any]) -> str:
    inner = ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items()))
    return f"map[string]string{{{inner}}}"


def _go_selector(selector: dict[str, Any]) -> str:
    return f"v1.LabelSelector{{MatchLabels:{_go_map(selector.get('matchLabels') or {})}}}"


def check_type_meta(rt: ResourceType, obj: Obj) -> None:
    """Fill in missing apiVersion/kind; 400 when they name another type."""
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if api_version in (None, ""):
        obj["apiVersion"] = rt.api_version
    elif api_version != rt.api_version:
        raise bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({rt.api_version})"
        )
    if kind in (None, ""):
        obj["kind"] = rt.kind
    elif kind != rt.kind:
        raise bad_request(f"the kind in the data ({kind}) does not match the expected kind "
                          f"({rt.kind})")


# --------------------------------------------------------------------------------- defaults


def _container_defaults(container: Obj) -> None:
    image = str(container.get("image", ""))
    tag = image.rsplit("/", 1)[-1]
    if "imagePullPolicy" not in container:
        latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
        container["imagePullPolicy"] = "Always" if latest else "IfNotPresent"
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def pod_spec_defaults(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for field in ("containers", "initContainers"):
        for container in spec.get(field) or []:
            if isinstance(container, dict):
                _container_defaults(container)


def _template_defaults(spec: Obj) -> None:
    template = spec.get("template")
    if isinstance(template, dict):
        template.setdefault("metadata", {})
        if isinstance(template.get("spec"), dict):
            pod_spec_defaults(template["spec"])


def _cluster_ip(namespace: str, name: str) -> str:
    digest = zlib.crc32(f"{namespace}/{name}".encode())
    return f"10.96.{(digest >> 8) % 254 + 1}.{digest % 254 + 1}"


def apply_defaults(rt: ResourceType, obj: Obj) -> None:
    """Fill in what the real API server defaults for this kind (in place)."""
    spec = obj.get("spec")
    meta = obj.setdefault("metadata", {})
    if rt.plural == "deployments" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            strategy["type"] = "RollingUpdate"
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxSurge", "25%")
            rolling.setdefault("maxUnavailable", "25%")
        _template_defaults(spec)
    elif rt.plural == "replicasets" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        _template_defaults(spec)
    elif rt.plural == "pods":
        if isinstance(spec, dict):
            pod_spec_defaults(spec)
        status = obj.setdefault("status", {})
        if isinstance(status, dict):
            status.setdefault("phase", "Pending")
    elif rt.plural == "services" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec.get("clusterIP") != "None":
            ip = spec.get("clusterIP") or _cluster_ip(
                str(meta.get("namespace", "")), str(meta.get("name", ""))
            )
            spec["clusterIP"] = ip
            spec.setdefault("clusterIPs", [ip])
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
        obj.setdefault("status", {"loadBalancer": {}})
    elif rt.plural == "namespaces":
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        status = obj.setdefault("status", {})
        if isinstance(status, dict):
            status.setdefault("phase", "Active")
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta.get("name", "")
    elif rt.plural == "secrets":
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict):
            data = obj.setdefault("data", {})
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
    elif rt.plural == "cronjobs" and isinstance(spec, dict):
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        job_template = spec.get("jobTemplate")
        if isinstance(job_template, dict) and isinstance(job_template.get("spec"), dict):
            _job_defaults(job_template["spec"])
    elif rt.plural == "jobs" and isinstance(spec, dict):
        _job_defaults(spec)


def _job_defaults(spec: Obj) -> None:
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    template_spec = (spec.get("template") or {}).get("spec")
    if isinstance(template_spec, dict):
        template_spec.setdefault("restartPolicy", "Never")
    _template_defaults(spec)


def require_object(body: Any) -> Obj:
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the request body must be a JSON object")
    return body


__all__ = [
    "apply_defaults",
    "check_name",
    "check_type_meta",
    "name_problem",
    "pod_spec_defaults",
    "require_object",
    "validate",
]
