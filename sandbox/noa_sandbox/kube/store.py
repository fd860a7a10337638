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

This module is the public API and its locking; the parts live in :mod:`.objects` (copies,
timestamps, keys, the Scale view), :mod:`.table` (objects and the resourceVersion counter),
:mod:`.writechecks` and :mod:`.writes` (what each write checks and does) and :mod:`.changefeed`
(change log, subscribers, watch streams).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from noa_sandbox.kube import writes
from noa_sandbox.kube.changefeed import Change, ChangeFeed, ChangeList, Subscriber
from noa_sandbox.kube.errors import ApiError, conflict
from noa_sandbox.kube.objects import Obj, ObjList, clone, meta_of, now_rfc3339, scale_of
from noa_sandbox.kube.patches import apply_patch
from noa_sandbox.kube.resources import by_plural
from noa_sandbox.kube.selectors import parse_field_selector, parse_label_selector
from noa_sandbox.kube.snapshot import Snapshotter
from noa_sandbox.kube.table import Table
from noa_sandbox.kube.validation import check_type_meta, require_object
from noa_sandbox.kube.writechecks import (
    check_identity,
    check_preconditions,
    check_propagation,
    check_pvc_resize,
    check_rv,
    check_subresource,
    scalable,
)

BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Store:
    """All objects of the sandbox cluster; see the module docstring."""

    def __init__(self, persist_path: Path | None = None, *, window: int = 5000) -> None:
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._feed = ChangeFeed(self._cond, window)
        self._table = Table(self._feed)
        self._snapshots: Snapshotter | None = None
        if persist_path is not None and persist_path.exists():
            self._table.load(persist_path)
        else:
            for name in BOOTSTRAP_NAMESPACES:
                self.create("namespaces", None, {"metadata": {"name": name}})
            self._feed.drop_pending()
        self._feed.window_start = self._table.rv
        if persist_path is not None:
            self._snapshots = Snapshotter(persist_path, self._dump)
            self._feed.on_record = self._snapshots.mark
            self._snapshots.mark()

    # ------------------------------------------------------------------------------ reading

    @property
    def resource_version(self) -> int:
        """The resourceVersion of the latest change."""
        with self._lock:
            return self._table.rv

    def get(self, plural: str, namespace: str | None, name: str) -> Obj:
        """A copy of one object; 404 NotFound when it does not exist."""
        rt = by_plural(plural)
        with self._lock:
            return clone(self._table.require(rt, namespace, name))

    def try_get(self, plural: str, namespace: str | None, name: str) -> Obj | None:
        """Like :meth:`get`, ``None`` when the object does not exist."""
        rt = by_plural(plural)
        with self._lock:
            obj = self._table.find(rt, namespace, name)
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
                for key, obj in sorted(self._table.objects[rt.plural].items())
                if (namespace is None or not rt.namespaced or key[0] == namespace)
                and labels.matches(obj["metadata"].get("labels"))
                and fields.matches(obj)
            ]
            return items, self._table.rv

    def get_scale(self, plural: str, namespace: str | None, name: str) -> Obj:
        """The ``autoscaling/v1`` Scale of a deployment or replicaset."""
        rt = scalable(plural)
        with self._lock:
            return scale_of(rt, self._table.require(rt, namespace, name))

    # ------------------------------------------------------------------------------ writing

    def create(
        self, plural: str, namespace: str | None, obj: Obj, *, dry_run: bool = False
    ) -> Obj:
        """Create ``obj``; returns the stored object (with uid, resourceVersion...)."""
        rt = by_plural(plural)
        with self._lock:
            result = writes.create(self._table, rt, namespace, obj, dry_run)
        self._feed.dispatch()
        return result

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
        check_subresource(rt, subresource)
        if subresource == "scale":
            with self._lock:
                cur = self._table.require(rt, namespace, name)
                check_rv(rt, cur, meta_of(body).get("resourceVersion"))
                result = writes.apply_scale(self._table, rt, cur, body, dry_run)
            self._feed.dispatch()
            return result
        check_type_meta(rt, body)
        check_identity(rt, body, namespace, name)
        with self._lock:
            cur = self._table.require(rt, namespace, name)
            check_rv(rt, cur, meta_of(body).get("resourceVersion"))
            new = writes.updated(rt, cur, body, subresource)
            check_pvc_resize(rt, cur, new, self._classes())
            result = writes.commit(self._table, rt, cur, new, dry_run)
        self._feed.dispatch()
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
        check_subresource(rt, subresource)
        with self._lock:
            cur = self._table.require(rt, namespace, name)
            doc = scale_of(rt, cur) if subresource == "scale" else clone(cur)
            patched = apply_patch(doc, patch, content_type)
            if not isinstance(patched, dict):
                raise ApiError(422, "Invalid", "the patched object is not a JSON object")
            rv = (patched.get("metadata") or {}).get("resourceVersion")
            if rv is not None and str(rv) != cur["metadata"]["resourceVersion"]:
                raise conflict(rt.plural, rt.group, name)
            if subresource == "scale":
                result = writes.apply_scale(self._table, rt, cur, patched, dry_run)
            else:
                check_type_meta(rt, patched)
                check_identity(rt, patched, namespace, name)
                new = writes.updated(rt, cur, patched, subresource)
                check_pvc_resize(rt, cur, new, self._classes())
                result = writes.commit(self._table, rt, cur, new, dry_run)
        self._feed.dispatch()
        return result

    def _classes(self) -> dict[str, Obj]:
        """StorageClasses by name (under the lock)."""
        rt = by_plural("storageclasses")
        classes = self._table.objects.get(rt.plural, {})
        return {str(sc["metadata"]["name"]): sc for sc in classes.values()}

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
            cur = self._table.require(rt, namespace, name)
            result = writes.mutated(self._table, rt, cur, fn, status_only)
        self._feed.dispatch()
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
        check_propagation(propagation)
        with self._lock:
            cur = self._table.require(rt, namespace, name)
            check_preconditions(rt, cur, precondition_uid, precondition_rv)
            if dry_run:
                return clone(cur)
            result = writes.delete(self._table, rt, cur, propagation)
        self._feed.dispatch()
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
        check_propagation(propagation)
        with self._lock:
            items, _ = self.list(
                plural, namespace, label_selector=label_selector, field_selector=field_selector
            )
            if dry_run:
                return items
            deleted: ObjList = []
            for item in items:
                meta = item["metadata"]
                cur = self._table.find(rt, meta.get("namespace"), meta["name"])
                if cur is not None:
                    deleted.append(writes.delete(self._table, rt, cur, propagation))
        self._feed.dispatch()
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
        with self._lock:
            written = writes.record_event(self._table, involved, reason, message, type_,
                                          component)
        if written:
            self._feed.dispatch()

    # ------------------------------------------------------------------------ change feeds

    def subscribe(self, fn: Subscriber) -> None:
        """Call ``fn(type, plural, obj)`` after every change (in the writer's thread, unlocked).

        Exceptions raised by ``fn`` are logged and swallowed.
        """
        self._feed.subscribe(fn)

    def events_since(self, resource_version: int) -> ChangeList:
        """The changes after ``resource_version``, oldest first; 410 Expired when too old."""
        with self._lock:
            return self._feed.changes_after(resource_version)

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
                    for _, obj in sorted(self._table.objects[rt.plural].items())
                    if matches(obj)
                ]
                start = self._table.rv
            else:
                self._feed.check_window(resource_version)
                initial = []
                start = resource_version
        return self._feed.stream(rt.plural, matches, initial, start, timeout_s, stop)

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
            return self._table.dump()


__all__ = [
    "BOOTSTRAP_NAMESPACES",
    "ApiError",
    "Change",
    "Obj",
    "ObjList",
    "Store",
    "clone",
    "now_rfc3339",
    "scale_of",
]
