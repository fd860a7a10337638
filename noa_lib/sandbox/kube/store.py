"""The object store behind the sandbox Kubernetes API server (thread-safe, persisted).

One :class:`Store` holds every object of every served type (see :mod:`.resources`), keyed by
plural, namespace and name, under one ``RLock``. It implements the API semantics the HTTP server
(:mod:`.server`) exposes and the simulated cluster (:mod:`.cluster`) builds on:

- one global, monotonically increasing ``resourceVersion`` (a string in objects); ``uid``,
  ``creationTimestamp``, ``generation`` (bumped when ``spec`` changes) set by the store;
- create/replace/patch/delete with the real server's conflicts (409), validation (422, see
  :mod:`.validation`) and the ``status``/``scale`` subresource rules; ``dry_run=True`` computes
  the answer and stores nothing;
- delete cascades to dependents by ``ownerReferences`` (Background/Foreground: deleted at once,
  recursively; Orphan: their ownerReference is removed); deleting a namespace deletes its objects;
- a change log of the last ``window`` changes for watches (:meth:`Store.watch`; older
  resourceVersions get 410 Expired) and subscribers (:meth:`Store.subscribe`), called after every
  change in the writing thread, outside the lock (so they may call the store);
- controller writes (:meth:`Store.mutate`): atomic read-modify-write with no resourceVersion
  check, a no-op when nothing changed;
- persistence: a JSON snapshot written atomically (temp file + ``os.replace``) at most twice a
  second by a background thread, and on :meth:`Store.flush`/:meth:`Store.close`; a new Store on
  the same file continues with the same objects and resourceVersion.

Objects in the store are never modified in place (every write stores a new dict), and every
object handed out is a copy, so callers may edit what they get.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from noa_lib.sandbox.kube.errors import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    gone,
    invalid,
    not_found,
)
from noa_lib.sandbox.kube.patches import apply_patch
from noa_lib.sandbox.kube.resources import RESOURCE_TYPES, ResourceType, by_kind, by_plural
from noa_lib.sandbox.kube.selectors import (
    parse_field_selector,
    parse_label_selector,
    selector_string,
)
from noa_lib.sandbox.kube.snapshot import Snapshotter, read_snapshot, snapshot_text
from noa_lib.sandbox.kube.validation import (
    apply_defaults,
    check_name,
    check_type_meta,
    require_object,
    validate,
)

Obj = dict[str, Any]
_T = TypeVar("_T")
ObjList = list[Obj]
Subscriber = Callable[[str, str, Obj], None]

log = logging.getLogger(__name__)

BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
PROPAGATION_POLICIES = ("Background", "Foreground", "Orphan")
_NO_GENERATION = {
    "namespaces",
    "services",
    "persistentvolumeclaims",
    "configmaps",
    "secrets",
    "events",
    "serviceaccounts",
}
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_WATCH_POLL_S = 0.5


def now_rfc3339() -> str:
    """The current time as the API server writes it (``2024-05-01T12:00:00Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clone(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


def clone(value: _T) -> _T:
    """A deep copy of a JSON-shaped value."""
    return cast(_T, _clone(value))


@dataclass(frozen=True)
class Change:
    """One entry of the change log: ``obj`` after the change, ``old`` before (``None``: added)."""

    resource_version: int
    type: str  # ADDED | MODIFIED | DELETED
    plural: str
    obj: Obj
    old: Obj | None


ChangeList = list[Change]
EventList = list[tuple[str, Obj]]
DependentList = list[tuple[ResourceType, Obj]]


def _key(rt: ResourceType, namespace: str | None, name: str) -> tuple[str, str]:
    return ((namespace or "") if rt.namespaced else "", name)


def _meta(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise bad_request("metadata must be a JSON object")
    return meta


class Store:
    """All objects of the sandbox cluster; see the module docstring."""

    def __init__(self, persist_path: Path | None = None, *, window: int = 5000) -> None:
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {
            rt.plural: {} for rt in RESOURCE_TYPES
        }
        self._rv = 0
        self._log: deque[Change] = deque(maxlen=window)
        self._window_start = 0
        self._subscribers: list[Subscriber] = []
        self._pending: deque[Change] = deque()
        self._snapshots: Snapshotter | None = None
        if persist_path is not None and persist_path.exists():
            self._load(persist_path)
        else:
            for name in BOOTSTRAP_NAMESPACES:
                self.create("namespaces", None, {"metadata": {"name": name}})
            self._pending.clear()
        self._window_start = self._rv
        if persist_path is not None:
            self._snapshots = Snapshotter(persist_path, self._dump)
            self._snapshots.mark()

    # ------------------------------------------------------------------------------ reading

    @property
    def resource_version(self) -> int:
        """The resourceVersion of the latest change."""
        with self._lock:
            return self._rv

    def get(self, plural: str, namespace: str | None, name: str) -> Obj:
        """A copy of one object; 404 NotFound when it does not exist."""
        rt = by_plural(plural)
        with self._lock:
            return clone(self._require(rt, namespace, name))

    def try_get(self, plural: str, namespace: str | None, name: str) -> Obj | None:
        """Like :meth:`get`, ``None`` when the object does not exist."""
        rt = by_plural(plural)
        with self._lock:
            obj = self._objects[rt.plural].get(_key(rt, namespace, name))
            return clone(obj) if obj is not None else None

    def list(
        self,
        plural: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[ObjList, int]:
        """Matching objects (ordered by namespace, name) and the current resourceVersion."""
        rt = by_plural(plural)
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector, plural)
        with self._lock:
            items = [
                clone(obj)
                for key, obj in sorted(self._objects[rt.plural].items())
                if (namespace is None or not rt.namespaced or key[0] == namespace)
                and labels.matches(obj["metadata"].get("labels"))
                and fields.matches(obj)
            ]
            return items, self._rv

    def get_scale(self, plural: str, namespace: str | None, name: str) -> Obj:
        """The ``autoscaling/v1`` Scale of a deployment or replicaset."""
        rt = self._scalable(plural)
        with self._lock:
            return scale_of(rt, self._require(rt, namespace, name))

    # ------------------------------------------------------------------------------ writing

    def create(
        self, plural: str, namespace: str | None, obj: Obj, *, dry_run: bool = False
    ) -> Obj:
        """Create ``obj``; returns the stored object (with uid, resourceVersion...)."""
        rt = by_plural(plural)
        with self._lock:
            result = self._create_locked(rt, namespace, obj, dry_run)
        self._dispatch()
        return result

    def _create_locked(
        self, rt: ResourceType, namespace: str | None, obj: Obj, dry_run: bool
    ) -> Obj:
        body = clone(require_object(obj))
        check_type_meta(rt, body)
        meta = _meta(body)
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
        if rt.namespaced and ("", str(namespace)) not in self._objects["namespaces"]:
            raise not_found("namespaces", "", str(namespace))
        name = meta.get("name")
        if not name:
            prefix = meta.get("generateName")
            if not prefix:
                raise invalid(rt.kind, rt.group, "", [
                    ("metadata.name", "Required value: name or generateName is required")
                ])
            name = self._generate_name(rt, namespace, str(prefix))
            meta["name"] = name
        check_name(rt, str(name))
        if _key(rt, namespace, name) in self._objects[rt.plural]:
            raise already_exists(rt.plural, rt.group, name)
        for field in ("resourceVersion", "deletionTimestamp", "selfLink", "managedFields"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        apply_defaults(rt, body)
        validate(rt, body, None)
        if "spec" in body and rt.plural not in _NO_GENERATION:
            meta["generation"] = 1
        if dry_run:
            return clone(body)
        self._put(rt, body, None)
        return clone(body)

    def replace(
        self,
        plural: str,
        namespace: str | None,
        name: str,
        obj: Obj,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """PUT: replace the object (or its ``status``/``scale``); 409 on a stale resourceVersion.

        A missing ``metadata.resourceVersion`` in ``obj`` means an unconditional update.
        """
        rt = by_plural(plural)
        body = clone(require_object(obj))
        self._check_subresource(rt, subresource)
        if subresource == "scale":
            with self._lock:
                cur = self._require(rt, namespace, name)
                self._check_rv(rt, cur, _meta(body).get("resourceVersion"))
                result = self._apply_scale(rt, cur, body, dry_run)
            self._dispatch()
            return result
        check_type_meta(rt, body)
        self._check_identity(rt, body, namespace, name)
        with self._lock:
            cur = self._require(rt, namespace, name)
            self._check_rv(rt, cur, _meta(body).get("resourceVersion"))
            new = self._updated(rt, cur, body, subresource)
            result = self._commit(rt, cur, new, dry_run)
        self._dispatch()
        return result

    def patch(
        self,
        plural: str,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """PATCH with a JSON, merge or strategic merge patch (see :mod:`.patches`)."""
        rt = by_plural(plural)
        self._check_subresource(rt, subresource)
        with self._lock:
            cur = self._require(rt, namespace, name)
            doc = scale_of(rt, cur) if subresource == "scale" else clone(cur)
            patched = apply_patch(doc, patch, content_type)
            if not isinstance(patched, dict):
                raise ApiError(422, "Invalid", "the patched object is not a JSON object")
            rv = (patched.get("metadata") or {}).get("resourceVersion")
            if rv is not None and str(rv) != cur["metadata"]["resourceVersion"]:
                raise conflict(rt.plural, rt.group, name)
            if subresource == "scale":
                result = self._apply_scale(rt, cur, patched, dry_run)
            else:
                check_type_meta(rt, patched)
                self._check_identity(rt, patched, namespace, name)
                new = self._updated(rt, cur, patched, subresource)
                result = self._commit(rt, cur, new, dry_run)
        self._dispatch()
        return result

    def mutate(
        self,
        plural: str,
        namespace: str | None,
        name: str,
        fn: Callable[[Obj], None],
        *,
        status_only: bool = False,
    ) -> Obj:
        """Controller write: ``fn`` edits a copy in place under the lock; no resourceVersion check.

        Bumps resourceVersion (and generation when ``spec`` changed); a no-op (no new
        resourceVersion, no event) when ``fn`` changed nothing. ``status_only`` keeps everything
        but ``status`` as it was. Returns the object after the write.
        """
        rt = by_plural(plural)
        with self._lock:
            cur = self._require(rt, namespace, name)
            new = clone(cur)
            fn(new)
            if status_only:
                kept = clone(cur)
                if new.get("status") is None:
                    kept.pop("status", None)
                else:
                    kept["status"] = new["status"]
                new = kept
            meta = _meta(new)
            meta["name"] = cur["metadata"]["name"]
            meta["uid"] = cur["metadata"]["uid"]
            if rt.namespaced:
                meta["namespace"] = cur["metadata"]["namespace"]
            result = self._commit(rt, cur, new, False)
        self._dispatch()
        return result

    def delete(
        self,
        plural: str,
        namespace: str | None,
        name: str,
        *,
        propagation: str = "Background",
        precondition_rv: str | None = None,
        precondition_uid: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Delete one object (and its dependents, per ``propagation``); returns it as it was."""
        rt = by_plural(plural)
        self._check_propagation(propagation)
        with self._lock:
            cur = self._require(rt, namespace, name)
            meta = cur["metadata"]
            if precondition_uid is not None and precondition_uid != meta["uid"]:
                raise conflict(
                    rt.plural, rt.group, name,
                    f"Precondition failed: UID in precondition: {precondition_uid}, UID in object "
                    f"meta: {meta['uid']}",
                )
            if precondition_rv is not None and str(precondition_rv) != meta["resourceVersion"]:
                raise conflict(
                    rt.plural, rt.group, name,
                    f"Precondition failed: ResourceVersion in precondition: {precondition_rv}, "
                    f"ResourceVersion in object meta: {meta['resourceVersion']}",
                )
            if dry_run:
                return clone(cur)
            result = self._delete_locked(rt, cur, propagation)
        self._dispatch()
        return result

    def delete_collection(
        self,
        plural: str,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        propagation: str = "Background",
        dry_run: bool = False,
    ) -> ObjList:
        """Delete every matching object; returns them as they were."""
        rt = by_plural(plural)
        self._check_propagation(propagation)
        with self._lock:
            items, _ = self.list(
                plural, namespace, label_selector=label_selector, field_selector=field_selector
            )
            if dry_run:
                return items
            deleted: ObjList = []
            for item in items:
                meta = item["metadata"]
                cur = self._objects[rt.plural].get(_key(rt, meta.get("namespace"), meta["name"]))
                if cur is not None:
                    deleted.append(self._delete_locked(rt, cur, propagation))
        self._dispatch()
        return deleted

    def record_event(
        self,
        involved: Obj,
        reason: str,
        message: str,
        type_: str = "Normal",
        *,
        component: str = "noa-sandbox",
    ) -> None:
        """Create (or count up) a core/v1 Event about ``involved`` in its namespace."""
        meta = involved.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        kind = str(involved.get("kind") or "")
        rt = by_kind(kind)
        api_version = involved.get("apiVersion") or (rt.api_version if rt else "v1")
        events = by_plural("events")
        now = now_rfc3339()
        with self._lock:
            if ("", namespace) not in self._objects["namespaces"]:
                return
            for (ns, _), event in self._objects["events"].items():
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
                    updated = clone(event)
                    updated["count"] = int(updated.get("count") or 1) + 1
                    updated["lastTimestamp"] = now
                    self._put(events, updated, event)
                    break
            else:
                event_name = f"{meta.get('name', 'object')}.{uuid.uuid4().hex[:16]}"
                self._create_locked(events, namespace, {
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
        self._dispatch()

    # ------------------------------------------------------------------------ change feeds

    def subscribe(self, fn: Subscriber) -> None:
        """Call ``fn(type, plural, obj)`` after every change (in the writer's thread, unlocked).

        Exceptions raised by ``fn`` are logged and swallowed.
        """
        with self._lock:
            self._subscribers.append(fn)

    def events_since(self, resource_version: int) -> ChangeList:
        """The changes after ``resource_version``, oldest first; 410 Expired when too old."""
        with self._lock:
            return self._changes_after(resource_version)

    def watch(
        self,
        plural: str,
        namespace: str | None,
        *,
        resource_version: int | None,
        label_selector: str | None,
        field_selector: str | None,
        timeout_s: float,
        stop: threading.Event | None = None,
    ) -> Iterator[tuple[str, Obj]]:
        """The watch stream of one collection: ``(type, obj)`` until ``timeout_s`` or ``stop``.

        No (or ``0``) ``resource_version``: synthetic ``ADDED`` events for the current objects
        first, then live changes. Otherwise the changes after it; :class:`ApiError` 410 (raised
        here, before the first event) when it is older than the retained window. Objects that
        enter/leave the selectors through a change are reported as ADDED/DELETED, as by the real
        server.
        """
        rt = by_plural(plural)
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector, plural)

        def matches(obj: Obj) -> bool:
            meta = obj["metadata"]
            if namespace is not None and rt.namespaced and meta.get("namespace") != namespace:
                return False
            return labels.matches(meta.get("labels")) and fields.matches(obj)

        with self._lock:
            if not resource_version:
                initial = [
                    ("ADDED", clone(obj))
                    for _, obj in sorted(self._objects[rt.plural].items())
                    if matches(obj)
                ]
                start = self._rv
            else:
                self._check_window(resource_version)
                initial = []
                start = resource_version
        return self._stream(rt, matches, initial, start, timeout_s, stop)

    def _stream(
        self,
        rt: ResourceType,
        matches: Callable[[Obj], bool],
        initial: EventList,
        start: int,
        timeout_s: float,
        stop: threading.Event | None,
    ) -> Iterator[tuple[str, Obj]]:
        deadline = time.monotonic() + timeout_s
        yield from initial
        last = start
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                return
            with self._cond:
                changes = self._changes_after(last)
                if not changes:
                    self._cond.wait(min(remaining, _WATCH_POLL_S))
                    changes = self._changes_after(last)
            for change in changes:
                last = change.resource_version
                if change.plural != rt.plural:
                    continue
                kind = _watch_type(change, matches)
                if kind is not None:
                    yield kind, clone(change.obj)

    # ---------------------------------------------------------------------------- persisting

    def flush(self) -> None:
        """Write the snapshot now (no-op without a persist path)."""
        if self._snapshots is not None:
            self._snapshots.flush()

    def close(self) -> None:
        """Stop the background writer and write a final snapshot."""
        if self._snapshots is not None:
            self._snapshots.close()

    def _dump(self) -> str:
        with self._lock:
            return snapshot_text(self._rv, {
                plural: [objects[key] for key in sorted(objects)]
                for plural, objects in self._objects.items()
            })

    def _load(self, path: Path) -> None:
        self._rv, by_plural_items = read_snapshot(path)
        for plural, items in by_plural_items.items():
            if plural not in self._objects:
                continue
            rt = by_plural(plural)
            for obj in items:
                meta = obj["metadata"]
                self._objects[plural][_key(rt, meta.get("namespace"), meta["name"])] = obj

    # ------------------------------------------------------------------------------ internals

    def _require(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self._objects[rt.plural].get(_key(rt, namespace, name))
        if obj is None:
            raise not_found(rt.plural, rt.group, name)
        return obj

    def _scalable(self, plural: str) -> ResourceType:
        rt = by_plural(plural)
        if "scale" not in rt.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return rt

    @staticmethod
    def _check_subresource(rt: ResourceType, subresource: str | None) -> None:
        if subresource is None:
            return
        if subresource not in ("status", "scale") or subresource not in rt.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")

    @staticmethod
    def _check_propagation(propagation: str) -> None:
        if propagation not in PROPAGATION_POLICIES:
            raise invalid("DeleteOptions", "", "", [(
                "propagationPolicy",
                f'Unsupported value: "{propagation}": supported values: "Foreground", '
                '"Background", "Orphan", "nil"',
            )])

    @staticmethod
    def _check_rv(rt: ResourceType, cur: Obj, rv: Any) -> None:
        if rv not in (None, "") and str(rv) != cur["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, cur["metadata"]["name"])

    @staticmethod
    def _check_identity(rt: ResourceType, body: Obj, namespace: str | None, name: str) -> None:
        meta = _meta(body)
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

    def _updated(self, rt: ResourceType, cur: Obj, body: Obj, subresource: str | None) -> Obj:
        """The object an update of ``cur`` with ``body`` stores (before the RV/generation)."""
        if subresource == "status":
            new = clone(cur)
            if body.get("status") is None:
                new.pop("status", None)
            else:
                new["status"] = body["status"]
            return new
        new = body
        meta = _meta(new)
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

    def _commit(self, rt: ResourceType, cur: Obj, new: Obj, dry_run: bool) -> Obj:
        """Store ``new`` in place of ``cur`` unless nothing changed; returns a copy of it."""
        meta = _meta(new)
        meta["resourceVersion"] = cur["metadata"]["resourceVersion"]
        if new == cur:
            return clone(cur)
        if new.get("spec") != cur.get("spec") and rt.plural not in _NO_GENERATION:
            meta["generation"] = int(cur["metadata"].get("generation") or 0) + 1
        if dry_run:
            return clone(new)
        self._put(rt, new, cur)
        return clone(new)

    def _apply_scale(self, rt: ResourceType, cur: Obj, scale: Obj, dry_run: bool) -> Obj:
        replicas = (scale.get("spec") or {}).get("replicas")
        name = cur["metadata"]["name"]
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise invalid("Scale", "autoscaling", name, [(
                "spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0"
            )])
        new = clone(cur)
        new.setdefault("spec", {})["replicas"] = replicas
        return scale_of(rt, self._commit(rt, cur, new, dry_run))

    def _put(self, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        """Store ``obj`` with a new resourceVersion and log the change (lock held)."""
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        meta = obj["metadata"]
        self._objects[rt.plural][_key(rt, meta.get("namespace"), meta["name"])] = obj
        self._record(Change(self._rv, "ADDED" if old is None else "MODIFIED", rt.plural, obj, old))

    def _drop(self, rt: ResourceType, obj: Obj) -> Obj:
        """Remove ``obj``; the DELETED event carries the deletion's resourceVersion."""
        meta = obj["metadata"]
        del self._objects[rt.plural][_key(rt, meta.get("namespace"), meta["name"])]
        self._rv += 1
        gone_obj = clone(obj)
        gone_obj["metadata"]["resourceVersion"] = str(self._rv)
        self._record(Change(self._rv, "DELETED", rt.plural, gone_obj, obj))
        return clone(obj)

    def _record(self, change: Change) -> None:
        if self._log.maxlen is not None and len(self._log) == self._log.maxlen:
            self._window_start = self._log[0].resource_version
        self._log.append(change)
        self._pending.append(change)
        if self._snapshots is not None:
            self._snapshots.mark()
        self._cond.notify_all()

    def _delete_locked(self, rt: ResourceType, cur: Obj, propagation: str) -> Obj:
        if rt.plural == "namespaces":
            name = cur["metadata"]["name"]
            for other in RESOURCE_TYPES:
                if not other.namespaced:
                    continue
                for key in [k for k in self._objects[other.plural] if k[0] == name]:
                    self._drop(other, self._objects[other.plural][key])
            return self._drop(rt, cur)
        uid = cur["metadata"]["uid"]
        for dep_rt, dependent in self._dependents(rt, cur):
            dmeta = dependent["metadata"]
            key = _key(dep_rt, dmeta.get("namespace"), dmeta["name"])
            if self._objects[dep_rt.plural].get(key) is not dependent:
                continue
            if propagation == "Orphan":
                orphan = clone(dependent)
                refs = [r for r in dmeta.get("ownerReferences") or [] if r.get("uid") != uid]
                if refs:
                    orphan["metadata"]["ownerReferences"] = refs
                else:
                    orphan["metadata"].pop("ownerReferences", None)
                self._put(dep_rt, orphan, dependent)
            else:
                self._delete_locked(dep_rt, dependent, propagation)
        return self._drop(rt, cur)

    def _dependents(self, rt: ResourceType, owner: Obj) -> DependentList:
        uid = owner["metadata"]["uid"]
        namespace = owner["metadata"].get("namespace")
        found: DependentList = []
        for other in RESOURCE_TYPES:
            for key, obj in self._objects[other.plural].items():
                if rt.namespaced and other.namespaced and key[0] != namespace:
                    continue
                refs = obj["metadata"].get("ownerReferences") or []
                if any(ref.get("uid") == uid for ref in refs):
                    found.append((other, obj))
        return found

    def _generate_name(self, rt: ResourceType, namespace: str | None, prefix: str) -> str:
        for _ in range(16):
            suffix = "".join(random.choices(_GENERATE_ALPHABET, k=5))  # noqa: S311
            name = f"{prefix}{suffix}"
            if _key(rt, namespace, name) not in self._objects[rt.plural]:
                return name
        raise already_exists(rt.plural, rt.group, prefix)

    def _check_window(self, resource_version: int) -> None:
        if resource_version < self._window_start:
            raise gone(f"too old resource version: {resource_version} ({self._window_start + 1})")

    def _changes_after(self, resource_version: int) -> ChangeList:
        self._check_window(resource_version)
        newer: ChangeList = []
        for change in reversed(self._log):
            if change.resource_version <= resource_version:
                break
            newer.append(change)
        newer.reverse()
        return newer

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    return
                change = self._pending.popleft()
                subscribers = list(self._subscribers)
            for fn in subscribers:
                try:
                    fn(change.type, change.plural, clone(change.obj))
                except Exception:  # noqa: BLE001 - a subscriber must not break a write
                    log.exception("store subscriber failed")


def _watch_type(change: Change, matches: Callable[[Obj], bool]) -> str | None:
    """How a filtered watch reports ``change``: entering/leaving the selection is ADDED/DELETED."""
    now_in = matches(change.obj)
    was_in = change.old is not None and matches(change.old)
    if change.type == "ADDED":
        return "ADDED" if now_in else None
    if change.type == "DELETED":
        return "DELETED" if now_in or was_in else None
    if now_in and was_in:
        return "MODIFIED"
    if now_in:
        return "ADDED"
    return "DELETED" if was_in else None


def scale_of(rt: ResourceType, obj: Obj) -> Obj:
    """The ``autoscaling/v1`` Scale view of a deployment or replicaset."""
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    scale_meta = {
        key: meta[key]
        for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        if key in meta
    }
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": {"replicas": int(spec.get("replicas") or 0)},
        "status": {
            "replicas": int(status.get("replicas") or 0),
            "selector": selector_string(spec.get("selector")),
        },
    }


__all__ = ["ApiError", "Change", "Obj", "Store", "clone", "now_rfc3339", "scale_of"]
