"""The documents of ``/version`` and the discovery endpoints (``/api``, ``/apis``...).

``/version`` carries every field of ``version.Info`` (the official client's ``VersionInfo``
requires them); discovery answers the legacy (unaggregated) documents: ``APIVersions``,
``APIGroupList``, ``APIGroup`` and ``APIResourceList`` with verbs, short names and subresources
(``deployments/scale``, ``pods/log``...).
"""

from __future__ import annotations

from typing import Any

from noa_sandbox.kube.resources import ResourceType, group_versions, types_in

Obj = dict[str, Any]

GIT_VERSION = "v1.30.0-noa-sandbox"

VERSION: Obj = {
    "major": "1",
    "minor": "30",
    "gitVersion": GIT_VERSION,
    "gitCommit": "7c48c2bd72b9bf5c44d21d7338cc7bea77d0ad2a",
    "gitTreeState": "clean",
    "buildDate": "2024-04-17T17:27:03Z",
    "goVersion": "go1.22.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_SUBRESOURCE_DOCS: dict[str, tuple[str, str, str, list[str]]] = {
    # subresource -> (group, version, kind; "" = the parent's) and verbs
    "status": ("", "", "", ["get", "patch", "update"]),
    "scale": ("autoscaling", "v1", "Scale", ["get", "patch", "update"]),
    "log": ("", "", "Pod", ["get"]),
}


def api_versions(server_address: str) -> Obj:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(group: str) -> Obj:
    versions = [
        {"groupVersion": f"{g}/{v}", "version": v} for g, v in group_versions() if g == group
    ]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list() -> Obj:
    groups = [g for g, _ in group_versions() if g]
    unique = list(dict.fromkeys(groups))
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(g) for g in unique]}


def api_group(group: str) -> Obj | None:
    if group not in {g for g, _ in group_versions() if g}:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group)}


def _resource_docs(rt: ResourceType) -> list[Obj]:
    verbs = [v for v in _VERBS if not (rt.plural == "namespaces" and v == "deletecollection")]
    main: Obj = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": verbs,
    }
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    docs = [main]
    for sub in sorted(rt.subresources):
        if sub == "proxy":
            group, version, kind = "", "", f"{rt.kind}ProxyOptions"
            sub_verbs = ["create", "delete", "get", "patch", "update"]
        else:
            group, version, kind, sub_verbs = _SUBRESOURCE_DOCS[sub]
            kind = kind or rt.kind
        doc: Obj = {
            "name": f"{rt.plural}/{sub}",
            "singularName": "",
            "namespaced": rt.namespaced,
            "kind": kind,
            "verbs": sub_verbs,
        }
        if group:
            doc["group"] = group
            doc["version"] = version
        docs.append(doc)
    return docs


def api_resource_list(group: str, version: str) -> Obj | None:
    types = types_in(group, version)
    if not types:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [doc for rt in types for doc in _resource_docs(rt)],
    }


__all__ = ["GIT_VERSION", "VERSION", "api_group", "api_group_list", "api_resource_list",
           "api_versions"]
