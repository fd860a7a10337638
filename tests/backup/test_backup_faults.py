"""Faults during a backup, on a PRIVATE sandbox (its services get killed): S3 down before the
upload, S3 killed mid-upload, PostgreSQL killed mid-dump. Each run must fail with a clear error
and leave no incomplete multipart upload, no manifest and nothing that lists as a backup.

(Faults of stored backups — corrupted, truncated, manifest missing, scratch disk full, scratch
database taken — are in test_validate.py: they do not need to kill anything.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import noa_sandbox as sandbox
from noa_lib.config import Target, load_config
from noa_lib.errors import NoaError, Unavailable
from noa_lib.ops.backup.catalog import scan_dumps
from noa_lib.ops.backup.dump import full_backup
from tests.backup import dump_support as support
from tests.backup.dump_support import ScratchDb

pytestmark = pytest.mark.integration
MiB = 1 << 20


@dataclass
class Private:
    state: Path
    target: Target
    db: ScratchDb


@pytest.fixture(scope="module")
def private() -> Iterator[Private]:
    root = Path(tempfile.mkdtemp(prefix="noa-bk-faults-"))
    root.chmod(0o755)  # PostgreSQL runs as the postgres user and must reach the state dir
    state = root / "state"
    try:
        assert sandbox.up(state, load_data=False).healthy  # our own "bulk" database below
        target = load_config(state / "target.toml", env={}).target("sandbox")
        # ~64 MiB of random bytes: pg_dump streams it for seconds, long enough to kill things
        db = support.create_database(target, "bulk", rows=32_000, blob=2000)
        yield Private(state, target, db)
    finally:
        sandbox.down(state)
        shutil.rmtree(root, ignore_errors=True)


def run_in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            box["result"] = fn()
        except NoaError as exc:
            box["error"] = exc

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, box


def wait_for_uploaded_part(db: ScratchDb, thread: threading.Thread, timeout: float = 90) -> None:
    """Until the backup's multipart upload has at least one part stored."""
    s3 = db.s3()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            assert thread.is_alive(), "the backup ended before the fault was injected"
            for upload in support.pending_uploads(db):
                parts = s3.list_parts(Bucket=db.bucket, Key=upload["Key"],
                                      UploadId=upload["UploadId"]).get("Parts", [])
                if parts:
                    return
            time.sleep(0.1)
    finally:
        s3.close()
    raise AssertionError("no part was uploaded in time")


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and its direct children (the postmaster and its backends: a crash)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(entry.name))
    for victim in (pid, *children):
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


def service_pid(state: Path, name: str) -> int:
    pid = sandbox.status(state).service(name).pid
    assert pid is not None
    return pid


def assert_nothing_recorded(p: Private) -> None:
    assert support.pending_uploads(p.db) == [], "an incomplete multipart upload remains"
    assert [k for k in support.keys(p.db) if k.endswith("manifest.json")] == []
    assert scan_dumps(p.target, p.db.name).backups == ()


def test_s3_down_before_the_upload(private: Private) -> None:
    os.kill(service_pid(private.state, "s3"), signal.SIGKILL)
    time.sleep(0.5)
    try:
        started = time.monotonic()
        with pytest.raises(Unavailable) as failed:
            full_backup(private.target, database="bulk")
        assert time.monotonic() - started < 60
        text = str(failed.value)
        assert "full_backup of bulk on sandbox failed, no backup was recorded" in text
        assert "unreachable: connection refused" in text
    finally:
        assert sandbox.up(private.state).healthy
    assert_nothing_recorded(private)


def test_s3_killed_mid_upload(private: Private) -> None:
    thread, box = run_in_thread(
        lambda: full_backup(private.target, database="bulk", part_size=5 * MiB)
    )
    wait_for_uploaded_part(private.db, thread)
    os.kill(service_pid(private.state, "s3"), signal.SIGKILL)
    time.sleep(2)  # the store stays down for a while; the run retries its abort meanwhile
    assert sandbox.up(private.state).healthy
    thread.join(timeout=180)
    assert not thread.is_alive()
    error = box.get("error")
    assert isinstance(error, Unavailable), box
    assert "no backup was recorded" in str(error)
    assert "the multipart upload was aborted; nothing was stored" in str(error)
    assert_nothing_recorded(private)
    assert dumps_running(private) == [], "pg_dump was left running"


def test_postgres_killed_mid_dump(private: Private) -> None:
    thread, box = run_in_thread(
        lambda: full_backup(private.target, database="bulk", part_size=5 * MiB)
    )
    wait_for_uploaded_part(private.db, thread)
    kill_tree(service_pid(private.state, "postgres"))
    thread.join(timeout=180)
    assert not thread.is_alive()
    error = box.get("error")
    assert isinstance(error, Unavailable), box
    text = str(error)
    assert "pg_dump failed (exit 1)" in text and "no backup was recorded" in text
    assert "the multipart upload was aborted" in text
    assert_nothing_recorded(private)
    assert dumps_running(private) == []
    # the server comes back with its data; the next backup works and is the only one
    assert sandbox.up(private.state).healthy
    again = full_backup(private.target, database="bulk")
    assert [b.prefix for b in scan_dumps(private.target, "bulk").backups] == [again.backup.prefix]
    assert scan_dumps(private.target, "bulk").orphans == ()


def dumps_running(p: Private) -> list[int]:
    """pids of pg_dump processes talking to the private sandbox."""
    assert p.target.postgres is not None
    port = f"--port={p.target.postgres.port}".encode()
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            args = cmdline.read_bytes().split(b"\0")
            if args and args[0].endswith(b"pg_dump") and port in args:
                found.append(int(cmdline.parent.name))
    return found
