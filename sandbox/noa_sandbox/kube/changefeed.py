"""The store's change feed: the change log, its subscribers and the watch streams.

Every write of the :class:`~.store.Store` becomes a :class:`Change` (``obj`` after, ``old``
before) that :meth:`ChangeFeed.record` appends — under the store's lock — to a log of the last
``window`` changes and to a queue of changes not yet dispatched. :meth:`ChangeFeed.dispatch`,
called by the store after the lock is released, hands each queued change to the subscribers in
the writing thread (so they may call the store; their exceptions are logged and swallowed).
:meth:`ChangeFeed.changes_after` serves watches and ``events_since`` from the log (410 Expired
for a resourceVersion older than the window); :meth:`ChangeFeed.stream` is one watch stream,
where :func:`watch_type` reports objects entering/leaving the selection as ADDED/DELETED.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from noa_sandbox.kube.errors import gone
from noa_sandbox.kube.objects import Obj, clone

log = logging.getLogger("noa_sandbox.kube.store")

Subscriber = Callable[[str, str, Obj], None]
WATCH_POLL_S = 0.5


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


class ChangeFeed:
    """The change log and subscribers of one store, guarded by the store's lock (``cond``)."""

    def __init__(self, cond: threading.Condition, window: int) -> None:
        self._cond = cond
        self._log: deque[Change] = deque(maxlen=window)
        self.window_start = 0
        """The oldest resourceVersion a watch may start from."""
        self._subscribers: list[Subscriber] = []
        self._pending: deque[Change] = deque()
        self.on_record: Callable[[], None] | None = None
        """Called (lock held) after every recorded change: the store marks its snapshot dirty."""

    def record(self, change: Change) -> None:
        """Log ``change``, queue it for the subscribers, wake the watches (lock held)."""
        if self._log.maxlen is not None and len(self._log) == self._log.maxlen:
            self.window_start = self._log[0].resource_version
        self._log.append(change)
        self._pending.append(change)
        if self.on_record is not None:
            self.on_record()
        self._cond.notify_all()

    def drop_pending(self) -> None:
        """Forget the changes not yet dispatched (the store's bootstrap objects)."""
        self._pending.clear()

    def subscribe(self, fn: Subscriber) -> None:
        """Add a subscriber (see :meth:`dispatch`)."""
        with self._cond:
            self._subscribers.append(fn)

    def check_window(self, resource_version: int) -> None:
        """410 Expired when ``resource_version`` is older than the retained window (lock held)."""
        if resource_version < self.window_start:
            raise gone(f"too old resource version: {resource_version} ({self.window_start + 1})")

    def changes_after(self, resource_version: int) -> ChangeList:
        """The logged changes after ``resource_version``, oldest first (lock held)."""
        self.check_window(resource_version)
        newer: ChangeList = []
        for change in reversed(self._log):
            if change.resource_version <= resource_version:
                break
            newer.append(change)
        newer.reverse()
        return newer

    def dispatch(self) -> None:
        """Call every subscriber for every queued change, without holding the lock."""
        while True:
            with self._cond:
                if not self._pending:
                    return
                change = self._pending.popleft()
                subscribers = list(self._subscribers)
            for fn in subscribers:
                try:
                    fn(change.type, change.plural, clone(change.obj))
                except Exception:  # noqa: BLE001 - a subscriber must not break a write
                    log.exception("store subscriber failed")

    def stream(
        self,
        plural: str,
        matches: Callable[[Obj], bool],
        initial: EventList,
        start: int,
        timeout_s: float,
        stop: threading.Event | None,
    ) -> Iterator[tuple[str, Obj]]:
        """``initial``, then the changes of ``plural`` after ``start`` that ``matches`` selects,
        until ``timeout_s`` or ``stop``."""
        deadline = time.monotonic() + timeout_s
        yield from initial
        last = start
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                return
            with self._cond:
                changes = self.changes_after(last)
                if not changes:
                    self._cond.wait(min(remaining, WATCH_POLL_S))
                    changes = self.changes_after(last)
            for change in changes:
                last = change.resource_version
                if change.plural != plural:
                    continue
                kind = watch_type(change, matches)
                if kind is not None:
                    yield kind, clone(change.obj)


def watch_type(change: Change, matches: Callable[[Obj], bool]) -> str | None:
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


__all__ = ["Change", "ChangeFeed", "ChangeList", "EventList", "Subscriber", "watch_type"]
