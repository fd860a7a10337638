"""The store's object table: every object by plural and key, and the resourceVersion counter.

A :class:`Table` is the state behind the :class:`~.store.Store` lock: objects of every served
type keyed by :func:`~.objects.key`, and the one global ``resourceVersion``. Its writes
(:meth:`Table.put`, :meth:`Table.drop`) take the next resourceVersion and record the change in the
:class:`~.changefeed.ChangeFeed`; :meth:`Table.dump`/:meth:`Table.load` are the snapshot form
(:mod:`.snapshot`). Callers hold the store's lock for every call.
"""

from __future__ import annotations

from pathlib import Path

from noa_sandbox.kube.changefeed import Change, ChangeFeed
from noa_sandbox.kube.errors import not_found
from noa_sandbox.kube.objects import Obj, clone, key
from noa_sandbox.kube.resources import RESOURCE_TYPES, ResourceType, by_plural
from noa_sandbox.kube.snapshot import read_snapshot, snapshot_text


class Table:
    """Objects and resourceVersion of one store (see the module docstring)."""

    def __init__(self, feed: ChangeFeed) -> None:
        self.objects: dict[str, dict[tuple[str, str], Obj]] = {
            rt.plural: {} for rt in RESOURCE_TYPES
        }
        self.rv = 0
        self.feed = feed

    def find(self, rt: ResourceType, namespace: str | None, name: str) -> Obj | None:
        """The stored object (not a copy), ``None`` when missing."""
        return self.objects[rt.plural].get(key(rt, namespace, name))

    def require(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        """The stored object (not a copy); 404 NotFound when missing."""
        obj = self.find(rt, namespace, name)
        if obj is None:
            raise not_found(rt.plural, rt.group, name)
        return obj

    def put(self, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        """Store ``obj`` with a new resourceVersion and log the change."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        meta = obj["metadata"]
        self.objects[rt.plural][key(rt, meta.get("namespace"), meta["name"])] = obj
        self.feed.record(Change(self.rv, "ADDED" if old is None else "MODIFIED", rt.plural, obj,
                                old))

    def drop(self, rt: ResourceType, obj: Obj) -> Obj:
        """Remove ``obj``; the DELETED event carries the deletion's resourceVersion."""
        meta = obj["metadata"]
        del self.objects[rt.plural][key(rt, meta.get("namespace"), meta["name"])]
        self.rv += 1
        gone_obj = clone(obj)
        gone_obj["metadata"]["resourceVersion"] = str(self.rv)
        self.feed.record(Change(self.rv, "DELETED", rt.plural, gone_obj, obj))
        return clone(obj)

    def dump(self) -> str:
        """The snapshot text of every object and the resourceVersion."""
        return snapshot_text(self.rv, {
            plural: [objects[k] for k in sorted(objects)]
            for plural, objects in self.objects.items()
        })

    def load(self, path: Path) -> None:
        """Take the objects and resourceVersion of the snapshot at ``path``."""
        self.rv, by_plural_items = read_snapshot(path)
        for plural, items in by_plural_items.items():
            if plural not in self.objects:
                continue
            rt = by_plural(plural)
            for obj in items:
                meta = obj["metadata"]
                self.objects[plural][key(rt, meta.get("namespace"), meta["name"])] = obj


__all__ = ["Table"]
