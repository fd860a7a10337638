"""The request log of the sandbox API server: one JSON line per request.

Each line is appended and flushed *before* the response is sent, so a test can read it right
after its call returns. Fields: ``time``, ``method``, ``path``, ``query``, ``verb`` (get, list,
watch, create, update, patch, delete, deletecollection, log, proxy, registry, faults, discovery,
version, health), ``plural``, ``namespace``, ``name``, ``subresource``, ``dry_run``, ``user``,
``status`` (HTTP code) and ``mutating`` (create/update/patch/delete/deletecollection without
``dryRun=All``, and POST/PUT/PATCH/DELETE through the proxy). Tests use :func:`read_requests`
(from :func:`log_offset` taken before the calls under test) to prove a dry run sent nothing
mutating.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MUTATING_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
MUTATING_PROXY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_mutating(verb: str, method: str, dry_run: bool) -> bool:
    """Whether a request of ``verb`` (request-log sense) changes the cluster."""
    if verb == "proxy":
        return method in MUTATING_PROXY_METHODS
    return verb in MUTATING_VERBS and not dry_run


class RequestLog:
    """Appends request records to ``path`` (``None``: logs nothing)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, entry: Mapping[str, Any]) -> None:
        if self.path is None:
            return
        record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **entry}
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()


def log_offset(path: Path) -> int:
    """The current end of the log: pass it to :func:`read_requests` to see only later lines."""
    return path.stat().st_size if path.exists() else 0


def read_requests(path: Path, since_offset: int = 0) -> list[dict[str, Any]]:
    """The request records written at or after byte ``since_offset``."""
    if not path.exists():
        return []
    with path.open("rb") as handle:
        handle.seek(since_offset)
        data = handle.read()
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]


__all__ = ["RequestLog", "is_mutating", "log_offset", "read_requests"]
