"""Pure helpers over Deployment / ReplicaSet / Service dicts: containers, images, template diffs.

A plan shows what changes as before -> after of the *fields* that change: :func:`field_changes`
flattens two objects into dotted paths (list items with a ``name`` are keyed by it, e.g.
``spec.template.spec.containers[api].image``) and keeps only the paths that differ.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from noa_lib.errors import ParameterError
from noa_lib.ops.deploy.params import tag_of
from noa_lib.ops.safety import Change

Obj = dict[str, Any]
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"


def ref(kind: str, namespace: str, name: str) -> str:
    """``deployment/noa/api``: how plans and timelines name an object."""
    return f"{kind}/{namespace}/{name}"


def meta(obj: Mapping[str, Any]) -> Obj:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def template(obj: Mapping[str, Any]) -> Obj:
    """The pod template of a Deployment or ReplicaSet (``{}`` when missing)."""
    spec = obj.get("spec") or {}
    t = spec.get("template") if isinstance(spec, dict) else None
    return t if isinstance(t, dict) else {}


def containers(obj: Mapping[str, Any]) -> list[Obj]:
    pod = template(obj).get("spec") or {}
    return [c for c in pod.get("containers") or [] if isinstance(c, dict)]


def pick_container(obj: Mapping[str, Any], name: str = "") -> Obj:
    """The container called ``name`` (default: the first one) of ``obj``'s pod template.

    Raises:
        ParameterError: no such container (the message lists the ones there are).
    """
    found = containers(obj)
    if not found:
        raise ParameterError(f"{meta(obj).get('name')} has no containers", name="container")
    if not name:
        return found[0]
    for c in found:
        if c.get("name") == name:
            return c
    names = ", ".join(str(c.get("name")) for c in found)
    raise ParameterError(f"container {name!r} is not in {meta(obj).get('name')}; it has: {names}",
                         name="container", accepted=names)


def image_of(obj: Mapping[str, Any], container: str = "") -> str:
    return str(pick_container(obj, container).get("image") or "")


def version_of(obj: Mapping[str, Any], container: str = "") -> str:
    """The image tag the (first or named) container runs."""
    return tag_of(image_of(obj, container))


def replicas(obj: Mapping[str, Any]) -> int:
    spec = obj.get("spec") or {}
    value = spec.get("replicas") if isinstance(spec, dict) else None
    return 1 if value is None else int(value)


def revision(obj: Mapping[str, Any]) -> int | None:
    raw = (meta(obj).get("annotations") or {}).get(REVISION)
    return int(raw) if raw is not None and str(raw).isdigit() else None


def clean_template(tpl: Mapping[str, Any]) -> Obj:
    """A copy of a pod template without the ReplicaSet's ``pod-template-hash`` label (what
    ``kubectl rollout undo`` copies back into the Deployment)."""
    out = copy.deepcopy(dict(tpl))
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return out


TRACK = "track"
"""The pod label that tells a Deployment's pods from its canary's or its other slot's."""


def track_copy(source: Mapping[str, Any], *, name: str, track: str, image: str, container: str,
               annotations: Mapping[str, str], replicas: int | None = None) -> Obj:
    """A new Deployment ``name`` beside ``source``: its spec with ``image`` in ``container``
    and ``track`` in its labels, selector and pod labels (so its pods are told apart from the
    source's), ``annotations`` on it, and ``replicas`` when given (else the source's)."""
    m = meta(source)
    spec = copy.deepcopy(source.get("spec") or {})
    if replicas is not None:
        spec["replicas"] = replicas
    selector = {**((spec.get("selector") or {}).get("matchLabels") or {}), TRACK: track}
    spec["selector"] = {"matchLabels": selector}
    tpl = spec.setdefault("template", {})
    tpl_meta = tpl.setdefault("metadata", {})
    tpl_meta["labels"] = {**(tpl_meta.get("labels") or {}), **selector}
    for c in (tpl.get("spec") or {}).get("containers") or []:
        if c.get("name") == container:
            c["image"] = image
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": m.get("namespace"),
                     "labels": {**(m.get("labels") or {}), TRACK: track},
                     "annotations": dict(annotations)},
        "spec": spec,
    }


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted paths -> leaf values; lists of named dicts are keyed ``[name]``, others ``[i]``."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        if not value and prefix:
            out[prefix] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list):
        if not value and prefix:
            out[prefix] = []
        for i, item in enumerate(value):
            key = item.get("name") if isinstance(item, dict) and "name" in item else i
            out.update(flatten(item, f"{prefix}[{key}]"))
    else:
        out[prefix] = value
    return out


def field_changes(resource: str, before: Any, after: Any, prefix: str = "") -> list[Change]:
    """One :class:`Change` per leaf path that differs between ``before`` and ``after``."""
    a, b = flatten(before, prefix), flatten(after, prefix)
    changes = []
    for path in sorted(set(a) | set(b)):
        if a.get(path) != b.get(path):
            changes.append(Change(resource, path, a.get(path), b.get(path)))
    return changes


__all__ = [
    "HASH_LABEL",
    "REVISION",
    "TRACK",
    "clean_template",
    "containers",
    "field_changes",
    "flatten",
    "image_of",
    "meta",
    "pick_container",
    "ref",
    "replicas",
    "revision",
    "template",
    "track_copy",
    "version_of",
]
