"""What the kube-state-metrics renderers share: families, label sanitising, times, conditions."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from noa_sandbox.exposition import Families
from noa_sandbox.kube.hooks import Obj
from noa_sandbox.kube.kubelet import parse_rfc3339

_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def sanitize(key: str) -> str:
    """A Kubernetes label key as a Prometheus label name (``app.kubernetes.io/name`` ->
    ``app_kubernetes_io_name``), as kube-state-metrics does."""
    return _INVALID.sub("_", key)


def label_labels(labels: Mapping[str, Any] | None) -> dict[str, str]:
    """``label_<key>`` -> value for every Kubernetes label (sorted by sanitised key)."""
    out = {f"label_{sanitize(k)}": str(v) for k, v in (labels or {}).items()}
    return dict(sorted(out.items()))


def timestamp(text: Any) -> float | None:
    """Unix seconds of an RFC 3339 time, or ``None``."""
    return parse_rfc3339(text)


def bool_statuses(status: str | None) -> Iterable[tuple[str, float]]:
    """``(true|false|unknown, 1/0)`` for a condition status ``True``/``False``/other."""
    value = (status or "Unknown").lower()
    value = value if value in ("true", "false") else "unknown"
    for name in ("true", "false", "unknown"):
        yield name, 1.0 if name == value else 0.0


def owner(obj: Obj) -> tuple[str, str, str]:
    """``(owner_kind, owner_name, owner_is_controller)`` of the first owner, or ``<none>``."""
    refs = obj["metadata"].get("ownerReferences") or []
    if not refs:
        return "<none>", "<none>", "<none>"
    ref = next((r for r in refs if r.get("controller")), refs[0])
    return str(ref.get("kind")), str(ref.get("name")), str(bool(ref.get("controller"))).lower()


__all__ = ["Families", "bool_statuses", "label_labels", "owner", "sanitize", "timestamp"]
