"""URL routing of the sandbox API server: which endpoint a request path names.

:func:`route` maps a path to a :class:`Route`:

- ``health`` (``/healthz``, ``/livez``, ``/readyz``), ``version`` (``/version``);
- ``discovery`` (``/api``, ``/apis``, ``/api/v1``, ``/apis/{g}``, ``/apis/{g}/{v}``);
- ``resource``: ``/api/v1/namespaces/{ns}/{plural}[/{name}[/{sub}[/{path...}]]]`` and
  ``/apis/{g}/{v}/namespaces/{ns}/...`` for namespaced types, ``/api/v1/{plural}`` and
  ``/apis/{g}/{v}/{plural}`` (cluster-scoped types, and all-namespaces lists), with ``name:port``
  for the ``proxy`` subresource;
- ``registry`` (``/v2/...``) and ``faults`` (``/sandbox/faults``).

:func:`verb_of` gives the RBAC verb of a resource request (get, list, watch, create, update,
patch, delete, deletecollection); ``None`` means 405 Method Not Allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from noa_sandbox.kube.errors import ApiError
from noa_sandbox.kube.resources import ResourceType, by_path

HEALTH_PATHS = ("/healthz", "/livez", "/readyz")
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class Route:
    """What a request path names (``endpoint`` says which fields are set)."""

    endpoint: str  # health | version | discovery | resource | registry | faults
    group: str = ""
    version: str = ""
    rt: ResourceType | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    port: str | None = None  # proxy: the port (number or name) after "name:"
    rest: str = ""  # proxy: the (decoded) path after /proxy, from "/"; registry: after /v2


def not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def method_not_allowed() -> ApiError:
    return ApiError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
        {},
    )


def route(path: str) -> Route:
    """Route a request path (without query string); 404 NotFound for unknown paths."""
    if path in HEALTH_PATHS or any(path.startswith(p + "/") for p in HEALTH_PATHS):
        return Route("health")
    if path in ("/version", "/version/"):
        return Route("version")
    if path in ("/sandbox/faults", "/sandbox/faults/"):
        return Route("faults")
    if path == "/v2" or path.startswith("/v2/"):
        return Route("registry", rest=path[3:] or "/")
    raw = path.rstrip("/").split("/")[1:] if path != "/" else []
    if not raw:
        raise not_found()
    if raw[0] == "api":
        if len(raw) == 1:
            return Route("discovery")
        group, version, parts = "", raw[1], raw[2:]
    elif raw[0] == "apis":
        if len(raw) <= 2:
            return Route("discovery", group=raw[1] if len(raw) == 2 else "")
        group, version, parts = raw[1], raw[2], raw[3:]
    else:
        raise not_found()
    if not parts:
        return Route("discovery", group=group, version=version)
    return _resource_route(group, version, parts, path)


def _resource_route(group: str, version: str, raw_parts: list[str], path: str) -> Route:
    parts = [unquote(p) for p in raw_parts]
    if parts[0] == "namespaces" and len(parts) >= 3 and parts[2] not in _NAMESPACE_SUBRESOURCES:
        namespace: str | None = parts[1]
        plural, rest = parts[2], parts[3:]
        rt = by_path(group, version, plural)
        if rt is None or not rt.namespaced:
            raise not_found()
    else:
        namespace = None
        plural, rest = parts[0], parts[1:]
        rt = by_path(group, version, plural)
        if rt is None or (rt.namespaced and rest):
            raise not_found()
    name = rest[0] if rest else None
    subresource = rest[1] if len(rest) > 1 else None
    port = None
    proxy_rest = ""
    if subresource is not None and subresource not in rt.subresources:
        raise not_found()
    if subresource == "proxy" and name is not None:
        pieces = name.split(":")
        if len(pieces) == 3:
            name, port = pieces[1], pieces[2]
        elif len(pieces) == 2:
            name, port = pieces
        proxy_rest = "/" + "/".join(rest[2:])  # decoded, as the real server does
        if path.endswith("/") and proxy_rest != "/":
            proxy_rest += "/"
    elif len(rest) > 2:
        raise not_found()
    return Route(
        "resource",
        group=group,
        version=version,
        rt=rt,
        namespace=namespace,
        name=name,
        subresource=subresource,
        port=port,
        rest=proxy_rest,
    )


_PROXY_VERBS = {
    "GET": "get",
    "HEAD": "get",
    "OPTIONS": "get",
    "POST": "create",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


def verb_of(route_: Route, method: str, watch: bool) -> str | None:
    """The RBAC verb of a resource request, or ``None`` when the method is not allowed."""
    if route_.subresource == "proxy":
        return _PROXY_VERBS.get(method)
    if route_.subresource == "log":
        return "get" if method == "GET" else None
    if route_.subresource is not None:
        return {"GET": "get", "PUT": "update", "PATCH": "patch"}.get(method)
    if route_.name is None:
        if method == "GET":
            return "watch" if watch else "list"
        if method == "POST":
            return "create" if route_.rt is not None and (
                route_.rt.namespaced == (route_.namespace is not None)
            ) else None
        if method == "DELETE":
            return "deletecollection"
        return None
    return {"GET": "watch" if watch else "get", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete"}.get(method)


__all__ = ["HEALTH_PATHS", "Route", "method_not_allowed", "not_found", "route", "verb_of"]
