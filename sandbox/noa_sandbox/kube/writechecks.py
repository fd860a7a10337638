"""Request checks of the store's writes, made before anything changes (the real server's errors).

PersistentVolumeClaims only grow, on a StorageClass that allows it (:func:`check_pvc_resize`).
Subresources (only ``status``/``scale``, and only where the type serves them: 404 otherwise),
``propagationPolicy`` (422), a stale ``resourceVersion`` (409 Conflict), a body whose name or
namespace differs from the URL's (400), and a delete's uid/resourceVersion preconditions (409).
"""

from __future__ import annotations

from typing import Any

from noa_sandbox.kube.errors import ApiError, bad_request, conflict, invalid
from noa_sandbox.kube.objects import Obj, meta_of
from noa_sandbox.kube.quantity import parse_quantity
from noa_sandbox.kube.resources import ResourceType, by_plural


def _requested(pvc: Obj) -> Any:
    return (((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}).get(
        "storage")


def check_pvc_resize(rt: ResourceType, cur: Obj, new: Obj, classes: dict[str, Obj]) -> None:
    """A PVC's storage request may only grow, and only on a class with
    ``allowVolumeExpansion`` (the real API server's messages: 422 / 403)."""
    if rt.plural != "persistentvolumeclaims":
        return
    before, after = _requested(cur), _requested(new)
    if before is None or after is None or before == after:
        return
    try:
        old, wanted = parse_quantity(before), parse_quantity(after)
    except ValueError:
        return
    name = str(cur["metadata"]["name"])
    if wanted < old:
        raise invalid("PersistentVolumeClaim", "", name, [(
            "spec.resources.requests.storage", "Forbidden: field can not be less than "
            "previous value")])
    sc = classes.get(str((cur.get("spec") or {}).get("storageClassName") or ""))
    if wanted > old and not (sc and sc.get("allowVolumeExpansion")):
        raise ApiError(403, "Forbidden", f'persistentvolumeclaims "{name}" is forbidden: only '
                       "dynamically provisioned pvc can be resized and the storageclass that "
                       "provisions the pvc must support resize")


PROPAGATION_POLICIES = ("Background", "Foreground", "Orphan")


def scalable(plural: str) -> ResourceType:
    """The type of ``plural`` when it has a ``scale`` subresource; 404 otherwise."""
    rt = by_plural(plural)
    if "scale" not in rt.subresources:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    return rt


def check_subresource(rt: ResourceType, subresource: str | None) -> None:
    """404 unless ``subresource`` is ``None`` or a ``status``/``scale`` the type serves."""
    if subresource is None:
        return
    if subresource not in ("status", "scale") or subresource not in rt.subresources:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")


def check_propagation(propagation: str) -> None:
    """422 for a ``propagationPolicy`` other than Background, Foreground, Orphan."""
    if propagation not in PROPAGATION_POLICIES:
        raise invalid("DeleteOptions", "", "", [(
            "propagationPolicy",
            f'Unsupported value: "{propagation}": supported values: "Foreground", '
            '"Background", "Orphan", "nil"',
        )])


def check_rv(rt: ResourceType, cur: Obj, rv: Any) -> None:
    """409 Conflict when a resourceVersion is given and is not ``cur``'s."""
    if rv not in (None, "") and str(rv) != cur["metadata"]["resourceVersion"]:
        raise conflict(rt.plural, rt.group, cur["metadata"]["name"])


def check_identity(rt: ResourceType, body: Obj, namespace: str | None, name: str) -> None:
    """400 when ``body`` names another object than the URL does."""
    meta = meta_of(body)
    body_name = meta.get("name")
    if body_name not in (None, "") and body_name != name:
        raise bad_request(
            f"the name of the object ({body_name}) does not match the name on the URL ({name})"
        )
    body_ns = meta.get("namespace")
    if rt.namespaced and body_ns not in (None, "") and namespace and body_ns != namespace:
        raise bad_request(
            "the namespace of the provided object does not match the namespace sent on the "
            "request"
        )


def check_preconditions(rt: ResourceType, cur: Obj, uid: str | None, rv: str | None) -> None:
    """409 when a delete's uid or resourceVersion precondition does not hold for ``cur``."""
    meta = cur["metadata"]
    name = meta["name"]
    if uid is not None and uid != meta["uid"]:
        raise conflict(
            rt.plural, rt.group, name,
            f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
            f"{meta['uid']}",
        )
    if rv is not None and str(rv) != meta["resourceVersion"]:
        raise conflict(
            rt.plural, rt.group, name,
            f"Precondition failed: ResourceVersion in precondition: {rv}, "
            f"ResourceVersion in object meta: {meta['resourceVersion']}",
        )


__all__ = [
    "PROPAGATION_POLICIES",
    "check_identity",
    "check_preconditions",
    "check_propagation",
    "check_pvc_resize",
    "check_rv",
    "check_subresource",
    "scalable",
]
