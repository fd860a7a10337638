"""``state.json`` (what the sandbox started and where) and the lock guarding up/down.

The file is rewritten atomically (temporary file + ``os.replace``) so readers such as
``noa sandbox status`` never see half of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from noa_lib.errors import PreconditionFailed
from noa_lib.files import atomic_write_text

STATE_VERSION = 1


@dataclass(frozen=True)
class ServiceRecord:
    """What ``up`` recorded about one service.

    ``wanted`` is True from a successful start until a clean ``down``: a service that is wanted
    but not alive has crashed. ``pid_start`` is the process start time (clock ticks since boot,
    from ``/proc``) so a recycled pid is never mistaken for ours.
    """

    port: int | None = None
    pid: int | None = None
    pid_start: int | None = None
    wanted: bool = False
    version: str = ""


@dataclass(frozen=True)
class SandboxState:
    """Everything the sandbox remembers between commands."""

    postgres: ServiceRecord = field(default_factory=ServiceRecord)
    s3: ServiceRecord = field(default_factory=ServiceRecord)
    seeded: bool = False
    seed_rows: int = 0

    def with_service(self, name: str, record: ServiceRecord) -> SandboxState:
        """A copy with the record of ``name`` (``postgres`` or ``s3``) replaced."""
        if name == "postgres":
            return replace(self, postgres=record)
        if name == "s3":
            return replace(self, s3=record)
        raise KeyError(name)


def load_state(path: Path) -> SandboxState:
    """Read ``state.json``; a missing file is an empty state.

    Raises:
        PreconditionFailed: the file exists but is not a state file we understand.
    """
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return SandboxState()
    except (OSError, ValueError) as exc:
        raise PreconditionFailed(
            f"{path} is unreadable ({exc}); stop stray services by hand and remove the file"
        ) from None
    if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
        raise PreconditionFailed(f"{path} has an unknown format; remove the state directory")
    return SandboxState(
        postgres=_record(raw.get("postgres")),
        s3=_record(raw.get("s3")),
        seeded=bool(raw.get("seeded", False)),
        seed_rows=int(raw.get("seed_rows", 0)),
    )


def save_state(path: Path, state: SandboxState) -> None:
    """Write ``state.json`` atomically."""
    body = {"version": STATE_VERSION, **asdict(state)}
    atomic_write_text(path, json.dumps(body, indent=2, sort_keys=True) + "\n", mode=0o644)


@contextlib.contextmanager
def exclusive_lock(path: Path, *, timeout: float = 180.0) -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``path`` for the duration of the block.

    Raises:
        PreconditionFailed: another sandbox command kept the lock for ``timeout`` seconds.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise PreconditionFailed(
                        f"another `noa sandbox` command is running on {path.parent} "
                        f"(lock {path} held for {timeout:.0f}s); wait for it or stop it"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _record(raw: Any) -> ServiceRecord:
    if not isinstance(raw, dict):
        return ServiceRecord()

    def opt_int(key: str) -> int | None:
        value = raw.get(key)
        return int(value) if isinstance(value, int) else None

    return ServiceRecord(
        port=opt_int("port"),
        pid=opt_int("pid"),
        pid_start=opt_int("pid_start"),
        wanted=bool(raw.get("wanted", False)),
        version=str(raw.get("version", "")),
    )
