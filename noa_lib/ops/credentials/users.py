"""What uses a credential: the Secrets holding a role's password or DSN, the Deployments (and
their pods) that read a Secret through ``env.valueFrom.secretKeyRef``, ``envFrom.secretRef`` or a
``secret`` / ``projected`` volume.

Secret values are decoded here only to compare them (a username, a DSN's user); they are never
returned.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from noa_lib.clients import kube_apps, kube_pods
from noa_lib.ops.deploy.context import KubeContext
from noa_lib.ops.deploy.workload import replicas

KeyForm = Literal["password", "dsn", "value"]
_USER_KEY = re.compile(r"(^|_)(user|username|usr|login)$", re.I)
_PASSWORD_KEY = re.compile(r"(password|passwd|pwd)", re.I)
_SECRET_KEY = re.compile(r"(password|passwd|pwd|secret|token|key|credential|dsn|url|uri)", re.I)
_DSN_SCHEMES = ("postgres", "postgresql")


@dataclass(frozen=True)
class SecretKey:
    """One key of a Secret that holds the credential; ``form`` says how to rotate it: the whole
    value (``password``, ``value``) or the password inside a DSN (``dsn``)."""

    secret: str
    key: str
    form: KeyForm


@dataclass(frozen=True)
class SecretUser:
    """A Deployment that reads ``secret``: how (``env DATABASE_PASSWORD``, ``envFrom``, ``volume
    creds``), its pods and how many are Ready."""

    deployment: str
    namespace: str
    secret: str
    via: tuple[str, ...]
    desired: int
    pods: tuple[str, ...]
    ready: int

    def as_row(self) -> dict[str, Any]:
        return {"deployment": self.deployment, "secret": self.secret, "via": ", ".join(self.via),
                "pods": ", ".join(self.pods), "ready": f"{self.ready}/{self.desired}"}


def decoded(secret: Mapping[str, Any]) -> dict[str, str]:
    """A Secret's ``data`` decoded (``stringData`` is write-only and never read back); values
    that are not UTF-8 text are left out."""
    out: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[str(key)] = base64.b64decode(str(value), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            continue
    return out


def dsn_user(value: str) -> str | None:
    """The user of a ``postgres://`` / ``postgresql://`` URL, else ``None``."""
    if not value.startswith(tuple(f"{s}://" for s in _DSN_SCHEMES)):
        return None
    try:
        return urlsplit(value).username
    except ValueError:
        return None


def role_keys(secret: Mapping[str, Any], role: str) -> list[SecretKey]:
    """The keys of ``secret`` that hold ``role``'s password: its password keys when a user key
    names the role, and every DSN whose user is the role."""
    name = str((secret.get("metadata") or {}).get("name", ""))
    data = decoded(secret)
    out: list[SecretKey] = [SecretKey(name, k, "dsn") for k, v in data.items()
                            if dsn_user(v) == role]
    if any(_USER_KEY.search(k) and v == role for k, v in data.items()):
        out += [SecretKey(name, k, "password") for k in data if _PASSWORD_KEY.search(k)]
    return sorted(out, key=lambda k: k.key)


def held_roles(secret: Mapping[str, Any], keys: list[str]) -> list[tuple[str, str]]:
    """``(key, role)`` for each of ``keys`` that holds a database role's password: a DSN's user,
    or a password key beside a user key."""
    data = decoded(secret)
    users = [v for k, v in data.items() if _USER_KEY.search(k)]
    out = [(k, user) for k in keys if (user := dsn_user(data.get(k, "")))]
    out += [(k, u) for k in keys if _PASSWORD_KEY.search(k) for u in users]
    return out


def secret_keys(secret: Mapping[str, Any], key: str = "") -> list[str]:
    """``[key]`` when given (and present), else the keys whose names look secret."""
    data = secret.get("data") or {}
    if key:
        return [key] if key in data else []
    return sorted(k for k in data if _SECRET_KEY.search(k))


def _containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from spec.get("initContainers") or []
    yield from spec.get("containers") or []


def uses(deployment: Mapping[str, Any], secret: str) -> tuple[str, ...]:
    """How ``deployment``'s pod template reads ``secret`` (empty: it does not)."""
    spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    via: list[str] = []
    for c in _containers(spec):
        for env in c.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef") or {}
            if ref.get("name") == secret:
                via.append(f"env {env.get('name')} ({ref.get('key')})")
        for src in c.get("envFrom") or []:
            if (src.get("secretRef") or {}).get("name") == secret:
                via.append(f"envFrom {c.get('name')}")
    for vol in spec.get("volumes") or []:
        if (vol.get("secret") or {}).get("secretName") == secret:
            via.append(f"volume {vol.get('name')}")
        for source in (vol.get("projected") or {}).get("sources") or []:
            if (source.get("secret") or {}).get("name") == secret:
                via.append(f"projected volume {vol.get('name')}")
    return tuple(via)


def secret_users(kc: KubeContext, secret: str,
                 deployments: list[dict[str, Any]] | None = None) -> list[SecretUser]:
    """The Deployments of the namespace that read ``secret``, with their pods.

    Raises:
        Unavailable / Timeout / ClientError: the Kubernetes API could not be read.
    """
    listing = deployments if deployments is not None else kube_apps.list_objects(
        kc.settings, "deployments", kc.namespace)
    out: list[SecretUser] = []
    for dep in listing:
        via = uses(dep, secret)
        if not via:
            continue
        labels = ((dep.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        pods = kube_pods.list_pods(kc.settings, kc.namespace, label_selector=selector or None)
        out.append(SecretUser(
            deployment=str(dep["metadata"]["name"]), namespace=kc.namespace, secret=secret,
            via=via, desired=replicas(dep), pods=tuple(p.name for p in pods),
            ready=sum(1 for p in pods if p.ready)))
    return out


__all__ = ["KeyForm", "SecretKey", "SecretUser", "decoded", "dsn_user", "held_roles", "role_keys",
           "secret_keys", "secret_users", "uses"]
