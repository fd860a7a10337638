"""RBAC hints for ``403 Forbidden`` answers of the Kubernetes API.

The API server says *who* may not do *what* (``User "x" cannot patch resource "deployments" in
API group "apps" in the namespace "noa"``); :func:`rbac_hint` turns that into a short sentence
naming the verb, resource and namespace and the Role rule that would allow it, so a finding can
tell the SRE exactly what to ask for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FORBIDDEN = re.compile(
    r'User "(?P<user>[^"]+)" cannot (?P<verb>[a-z]+) resource "(?P<resource>[^"]+)"'
    r'(?: in API group "(?P<group>[^"]*)")?(?: in the namespace "(?P<namespace>[^"]+)")?'
)


@dataclass(frozen=True)
class Denied:
    """What the API server refused: ``user`` may not ``verb`` ``resource`` (in ``namespace``)."""

    user: str
    verb: str
    resource: str
    group: str
    namespace: str | None

    def rule(self) -> str:
        """The RBAC rule that would allow it, in Role YAML flow style."""
        return (f'apiGroups: ["{self.group}"], resources: ["{self.resource}"], '
                f'verbs: ["{self.verb}"]')

    def hint(self) -> str:
        """``User "u" cannot patch deployments.apps in namespace "noa" — RBAC: …``."""
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        scope = f'namespace "{self.namespace}"' if self.namespace else "the cluster"
        role = "Role" if self.namespace else "ClusterRole"
        return (f'User "{self.user}" cannot {self.verb} {what} in {scope} — RBAC: needs a '
                f"{role} rule {{{self.rule()}}} bound to that user")


def parse_forbidden(message: str) -> Denied | None:
    """The refusal in a 403 message, or ``None`` when the message is not the usual RBAC text."""
    match = _FORBIDDEN.search(message)
    if match is None:
        return None
    return Denied(
        user=match["user"],
        verb=match["verb"],
        resource=match["resource"],
        group=match["group"] or "",
        namespace=match["namespace"],
    )


def rbac_hint(message: str) -> str | None:
    """A one-line RBAC hint for a 403 message (see :meth:`Denied.hint`), or ``None``."""
    denied = parse_forbidden(message)
    return denied.hint() if denied else None


__all__ = ["Denied", "parse_forbidden", "rbac_hint"]
