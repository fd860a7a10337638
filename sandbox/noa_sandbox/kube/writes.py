"""How a write changes the store's :class:`~.table.Table` (the store's lock held throughout).

The :class:`~.store.Store` methods check the request, take the lock and call these:
:func:`create` (namespace and name rules, ``generateName``, uid, creationTimestamp, defaults and
validation, ``generation`` 1), :func:`updated` + :func:`commit` (a replace or patch: identity
fields kept, ``status`` only through the status subresource, ``generation`` bumped when ``spec``
changed, a no-op when nothing changed), :func:`apply_scale` (the ``scale`` subresource),
:func:`mutated` (a controller's read-modify-write), :func:`delete` (cascading to dependents by
``ownerReferences``, or orphaning them; a namespace takes its objects along) and
:func:`record_event` (a core/v1 Event, or one more ``count`` of an identical one). Every one
honours ``dry_run`` by computing the answer without storing it. The request checks shared by the
store's methods (:mod:`.writechecks`) come first.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable

from noa_sandbox.kube.errors import already_exists, bad_request, invalid, not_found
from noa_sandbox.kube.objects import Obj, clone, key, meta_of, now_rfc3339, scale_of
from noa_sandbox.kube.resources import RESOURCE_TYPES, ResourceType, by_kind, by_plural
from noa_sandbox.kube.table import Table
from noa_sandbox.kube.validation import (
    apply_defaults,
    check_name,
    check_type_meta,
    require_object,
    validate,
)

DependentList = list[tuple[ResourceType, Obj]]

NO_GENERATION = {
    "namespaces",
    "services",
    "persistentvolumeclaims",
    "configmaps",
    "secrets",
    "events",
    "serviceaccounts",
}
"""Types without ``metadata.generation``."""
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def create(table: Table, rt: ResourceType, namespace: str | None, obj: Obj,
           dry_run: bool) -> Obj:
    """Store a new object made from ``obj``; returns a copy of it."""
    body = clone(require_object(obj))
    check_type_meta(rt, body)
    meta = meta_of(body)
    if rt.namespaced:
        body_ns = meta.get("namespace")
        if namespace is None:
            namespace = body_ns
        if not namespace:
            raise bad_request("an empty namespace may not be set during creation")
        if body_ns not in (None, "", namespace):
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
        namespace = None
    if rt.namespaced and ("", str(namespace)) not in table.objects["namespaces"]:
        raise not_found("namespaces", "", str(namespace))
    name = meta.get("name")
    if not name:
        prefix = meta.get("generateName")
        if not prefix:
            raise invalid(rt.kind, rt.group, "", [
                ("metadata.name", "Required value: name or generateName is required")
            ])
        name = _generate_name(table, rt, namespace, str(prefix))
        meta["name"] = name
    check_name(rt, str(name))
    if key(rt, namespace, name) in table.objects[rt.plural]:
        raise already_exists(rt.plural, rt.group, name)
    for field in ("resourceVersion", "deletionTimestamp", "selfLink", "managedFields"):
        meta.pop(field, None)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now_rfc3339()
    apply_defaults(rt, body)
    validate(rt, body, None)
    if "spec" in body and rt.plural not in NO_GENERATION:
        meta["generation"] = 1
    if dry_run:
        return clone(body)
    table.put(rt, body, None)
    return clone(body)


def _generate_name(table: Table, rt: ResourceType, namespace: str | None, prefix: str) -> str:
    for _ in range(16):
        suffix = "".join(random.choices(_GENERATE_ALPHABET, k=5))  # noqa: S311
        name = f"{prefix}{suffix}"
        if key(rt, namespace, name) not in table.objects[rt.plural]:
            return name
    raise already_exists(rt.plural, rt.group, prefix)


def updated(rt: ResourceType, cur: Obj, body: Obj, subresource: str | None) -> Obj:
    """The object an update of ``cur`` with ``body`` stores (before the RV/generation)."""
    if subresource == "status":
        new = clone(cur)
        if body.get("status") is None:
            new.pop("status", None)
        else:
            new["status"] = body["status"]
        return new
    new = body
    meta = meta_of(new)
    cur_meta = cur["metadata"]
    meta["name"] = cur_meta["name"]
    if rt.namespaced:
        meta["namespace"] = cur_meta["namespace"]
    for field in ("uid", "creationTimestamp", "generation", "deletionTimestamp"):
        if field in cur_meta:
            meta[field] = cur_meta[field]
        else:
            meta.pop(field, None)
    meta.pop("managedFields", None)
    if rt.has_status:
        if cur.get("status") is None:
            new.pop("status", None)
        else:
            new["status"] = clone(cur["status"])
    apply_defaults(rt, new)
    validate(rt, new, cur)
    return new


def commit(table: Table, rt: ResourceType, cur: Obj, new: Obj, dry_run: bool) -> Obj:
    """Store ``new`` in place of ``cur`` unless nothing changed; returns a copy of it."""
    meta = meta_of(new)
    meta["resourceVersion"] = cur["metadata"]["resourceVersion"]
    if new == cur:
        return clone(cur)
    if new.get("spec") != cur.get("spec") and rt.plural not in NO_GENERATION:
        meta["generation"] = int(cur["metadata"].get("generation") or 0) + 1
    if dry_run:
        return clone(new)
    table.put(rt, new, cur)
    return clone(new)


def apply_scale(table: Table, rt: ResourceType, cur: Obj, scale: Obj, dry_run: bool) -> Obj:
    """Write ``scale``'s ``spec.replicas`` into ``cur``; returns the Scale after it."""
    replicas = (scale.get("spec") or {}).get("replicas")
    name = cur["metadata"]["name"]
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise invalid("Scale", "autoscaling", name, [(
            "spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0"
        )])
    new = clone(cur)
    new.setdefault("spec", {})["replicas"] = replicas
    return scale_of(rt, commit(table, rt, cur, new, dry_run))


def mutated(table: Table, rt: ResourceType, cur: Obj, fn: Callable[[Obj], None],
            status_only: bool) -> Obj:
    """Commit what ``fn`` makes of a copy of ``cur`` (identity kept; ``status_only``: only the
    status taken)."""
    new = clone(cur)
    fn(new)
    if status_only:
        kept = clone(cur)
        if new.get("status") is None:
            kept.pop("status", None)
        else:
            kept["status"] = new["status"]
        new = kept
    meta = meta_of(new)
    meta["name"] = cur["metadata"]["name"]
    meta["uid"] = cur["metadata"]["uid"]
    if rt.namespaced:
        meta["namespace"] = cur["metadata"]["namespace"]
    return commit(table, rt, cur, new, False)


def delete(table: Table, rt: ResourceType, cur: Obj, propagation: str) -> Obj:
    """Delete ``cur`` and (per ``propagation``) its dependents; returns a copy of it."""
    if rt.plural == "namespaces":
        name = cur["metadata"]["name"]
        for other in RESOURCE_TYPES:
            if not other.namespaced:
                continue
            for k in [k for k in table.objects[other.plural] if k[0] == name]:
                table.drop(other, table.objects[other.plural][k])
        return table.drop(rt, cur)
    uid = cur["metadata"]["uid"]
    for dep_rt, dependent in _dependents(table, rt, cur):
        dmeta = dependent["metadata"]
        if table.find(dep_rt, dmeta.get("namespace"), dmeta["name"]) is not dependent:
            continue
        if propagation == "Orphan":
            orphan = clone(dependent)
            refs = [r for r in dmeta.get("ownerReferences") or [] if r.get("uid") != uid]
            if refs:
                orphan["metadata"]["ownerReferences"] = refs
            else:
                orphan["metadata"].pop("ownerReferences", None)
            table.put(dep_rt, orphan, dependent)
        else:
            delete(table, dep_rt, dependent, propagation)
    return table.drop(rt, cur)


def _dependents(table: Table, rt: ResourceType, owner: Obj) -> DependentList:
    uid = owner["metadata"]["uid"]
    namespace = owner["metadata"].get("namespace")
    found: DependentList = []
    for other in RESOURCE_TYPES:
        for k, obj in table.objects[other.plural].items():
            if rt.namespaced and other.namespaced and k[0] != namespace:
                continue
            refs = obj["metadata"].get("ownerReferences") or []
            if any(ref.get("uid") == uid for ref in refs):
                found.append((other, obj))
    return found


def record_event(table: Table, involved: Obj, reason: str, message: str, type_: str,
                 component: str) -> bool:
    """Create (or count up) a core/v1 Event about ``involved``; ``False`` (nothing written)
    when its namespace does not exist."""
    meta = involved.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    kind = str(involved.get("kind") or "")
    rt = by_kind(kind)
    api_version = involved.get("apiVersion") or (rt.api_version if rt else "v1")
    events = by_plural("events")
    now = now_rfc3339()
    if ("", namespace) not in table.objects["namespaces"]:
        return False
    for (ns, _), event in table.objects["events"].items():
        ref = event.get("involvedObject") or {}
        if (
            ns == namespace
            and ref.get("uid") == meta.get("uid")
            and ref.get("name") == meta.get("name")
            and ref.get("kind") == kind
            and event.get("reason") == reason
            and event.get("message") == message
            and event.get("type") == type_
        ):
            repeated = clone(event)
            repeated["count"] = int(repeated.get("count") or 1) + 1
            repeated["lastTimestamp"] = now
            table.put(events, repeated, event)
            return True
    event_name = f"{meta.get('name', 'object')}.{uuid.uuid4().hex[:16]}"
    create(table, events, namespace, {
        "metadata": {"name": event_name, "namespace": namespace},
        "involvedObject": {
            "kind": kind,
            "namespace": meta.get("namespace"),
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "apiVersion": api_version,
            "resourceVersion": meta.get("resourceVersion"),
        },
        "reason": reason,
        "message": message,
        "type": type_,
        "count": 1,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": "",
    }, False)
    return True


__all__ = [
    "NO_GENERATION",
    "apply_scale",
    "commit",
    "create",
    "delete",
    "mutated",
    "record_event",
    "updated",
]
