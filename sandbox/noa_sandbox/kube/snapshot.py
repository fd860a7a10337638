"""Persistence of the sandbox API store: an atomic, debounced JSON snapshot.

:class:`Snapshotter` writes what ``dump()`` returns to ``path`` (temp file + ``os.replace``, so a
reader never sees half a file) from a background thread, at most once per ``interval`` after
:meth:`Snapshotter.mark`, and synchronously on :meth:`Snapshotter.flush` and
:meth:`Snapshotter.close`. :func:`read_snapshot` loads a file written that way.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

Obj = dict[str, Any]

log = logging.getLogger(__name__)


def snapshot_text(resource_version: int, objects: dict[str, list[Obj]]) -> str:
    """The snapshot document: the last resourceVersion and the objects by plural."""
    return json.dumps({"resourceVersion": resource_version, "objects": objects})


def read_snapshot(path: Path) -> tuple[int, dict[str, list[Obj]]]:
    """``(resourceVersion, objects by plural)`` of a snapshot file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return int(data.get("resourceVersion", 0)), dict(data.get("objects") or {})


class Snapshotter:
    """Keeps ``path`` up to date with ``dump()`` (see the module docstring)."""

    def __init__(self, path: Path, dump: Callable[[], str], *, interval: float = 0.5) -> None:
        self.path = path
        self._dump = dump
        self._interval = interval
        self._dirty = threading.Event()
        self._closed = threading.Event()
        self._write_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="kube-store-snapshot",
                                        daemon=True)
        self._thread.start()

    def mark(self) -> None:
        """Something changed: write a snapshot soon."""
        self._dirty.set()

    def flush(self) -> None:
        """Write a snapshot now."""
        self._dirty.clear()
        self._write()

    def close(self) -> None:
        """Stop the background thread and write a final snapshot."""
        self._closed.set()
        self._dirty.set()
        self._thread.join(timeout=10)
        self.flush()

    def _loop(self) -> None:
        while not self._closed.is_set():
            self._dirty.wait()
            if self._closed.is_set():
                return
            self._closed.wait(self._interval)
            self._dirty.clear()
            try:
                self._write()
            except OSError:
                log.exception("could not write the sandbox API store snapshot %s", self.path)

    def _write(self) -> None:
        with self._write_lock:
            data = self._dump()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(data, encoding="utf-8")
            os.replace(tmp, self.path)


__all__ = ["Snapshotter", "read_snapshot", "snapshot_text"]
