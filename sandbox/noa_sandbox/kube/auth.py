"""Bearer-token authentication and the two roles of the sandbox API server.

The tokens file (``<state>/tokens.json``) maps tokens to principals::

    {"<token>": {"user": "system:serviceaccount:noa:viewer", "role": "view"}}

Roles: ``admin`` may do everything; ``view`` may get/list/watch every resource except secrets,
read pod logs, and send GET/HEAD requests through the service/pod proxy (health checks); ``rules``
may do exactly what its RBAC ``rules`` (the ``rules`` of a ``rbac.authorization.k8s.io/v1`` Role:
apiGroups, resources incl. ``deployments/scale``-style subresources, verbs, resourceNames) allow,
in its ``namespace`` only — the sandbox loads the Roles the project ships this way, so running a
runbook under them proves they are enough::

    {"<token>": {"user": "noa-deployer", "role": "rules", "namespace": "noa",
                 "rules": [{"apiGroups": ["apps"], "resources": ["deployments"],
                            "verbs": ["get", "patch"]}]}}

Missing or
unknown tokens get 401 Unauthorized; refused requests get 403 Forbidden with the real RBAC message
(``deployments.apps "api" is forbidden: User "..." cannot patch resource "deployments" in API
group "apps" in the namespace "noa"``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from noa_sandbox.kube.errors import ApiError, qualified

Role = Literal["admin", "view", "rules"]
ROLES: tuple[Role, ...] = ("admin", "view", "rules")
READ_VERBS = frozenset({"get", "list", "watch"})


@dataclass(frozen=True)
class PolicyRule:
    """One rule of an RBAC Role (``*`` matches anything, as in Kubernetes)."""

    api_groups: frozenset[str]
    resources: frozenset[str]
    verbs: frozenset[str]
    resource_names: frozenset[str] = frozenset()

    def permits(self, verb: str, group: str, resource: str, name: str | None) -> bool:
        return (
            (group in self.api_groups or "*" in self.api_groups)
            and (resource in self.resources or "*" in self.resources)
            and (verb in self.verbs or "*" in self.verbs)
            and (not self.resource_names or (name is not None and name in self.resource_names))
        )


@dataclass(frozen=True)
class Principal:
    """Who a token authenticates: ``user`` (as in RBAC messages), ``role`` and, for the
    ``rules`` role, its rules and the namespace they apply in."""

    user: str
    role: Role
    rules: tuple[PolicyRule, ...] = ()
    namespace: str | None = None


def parse_rules(raw: object) -> tuple[PolicyRule, ...]:
    """The ``rules`` list of a Role manifest.

    Raises:
        ValueError: not a list of rules with apiGroups/resources/verbs lists.
    """
    if not isinstance(raw, list):
        raise ValueError("rules must be a list")
    rules = []
    for item in raw:
        if not isinstance(item, dict):
            raise ValueError("each rule must be an object")
        lists = {}
        for key in ("apiGroups", "resources", "verbs", "resourceNames"):
            value = item.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"rule {key} must be a list of strings")
            lists[key] = frozenset(value)
        rules.append(PolicyRule(lists["apiGroups"], lists["resources"], lists["verbs"],
                                lists["resourceNames"]))
    return tuple(rules)


def load_tokens(path: Path) -> dict[str, Principal]:
    """Read a tokens file; a missing file means no tokens (every API request is 401)."""
    if not path.exists():
        return {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    tokens: dict[str, Principal] = {}
    for token, entry in raw.items():
        role = entry.get("role")
        if role not in ROLES:
            raise ValueError(f"{path}: role of token for {entry.get('user')!r} must be one of "
                             f"{', '.join(ROLES)}, not {role!r}")
        rules = parse_rules(entry.get("rules", [])) if role == "rules" else ()
        namespace = entry.get("namespace")
        tokens[token] = Principal(str(entry.get("user") or role), cast(Role, role), rules,
                                  str(namespace) if namespace else None)
    return tokens


def authenticate(authorization: str | None, tokens: Mapping[str, Principal]) -> Principal:
    """The principal of an ``Authorization: Bearer <token>`` header; 401 when there is none."""
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        principal = tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if principal is not None:
            return principal
    raise ApiError(401, "Unauthorized", "Unauthorized")


def allowed(
    principal: Principal,
    verb: str,
    plural: str,
    subresource: str | None,
    *,
    group: str = "",
    namespace: str | None = None,
    name: str | None = None,
) -> bool:
    """Whether ``principal`` may ``verb`` the resource (``verb`` as RBAC sees it)."""
    if principal.role == "admin":
        return True
    if principal.role == "rules":
        if principal.namespace is not None and namespace != principal.namespace:
            return False
        resource = f"{plural}/{subresource}" if subresource else plural
        return any(r.permits(verb, group, resource, name) for r in principal.rules)
    if plural == "secrets":
        return False
    if subresource == "log":
        return verb == "get"
    return verb in READ_VERBS


def forbidden(
    principal: Principal,
    verb: str,
    plural: str,
    group: str,
    namespace: str | None,
    name: str | None,
    subresource: str | None,
) -> ApiError:
    """403 with the message the real RBAC authorizer writes."""
    resource = f"{plural}/{subresource}" if subresource else plural
    subject = qualified(plural, group) + (f' "{name}"' if name else "")
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    message = (
        f'{subject} is forbidden: User "{principal.user}" cannot {verb} resource "{resource}" '
        f'in API group "{group}" {scope}'
    )
    details: dict[str, object] = {"group": group, "kind": plural} if group else {"kind": plural}
    if name:
        details = {"name": name, **details}
    return ApiError(403, "Forbidden", message, dict(details))


__all__ = [
    "ROLES",
    "PolicyRule",
    "Principal",
    "Role",
    "allowed",
    "authenticate",
    "forbidden",
    "load_tokens",
    "parse_rules",
]
