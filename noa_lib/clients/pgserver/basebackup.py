"""``pg_basebackup -D - -Ft -X fetch`` (gzip) read from a pipe, so a base backup goes to S3 without
a temporary copy on disk; the password reaches it through a private ``PGPASSFILE`` (see
:func:`noa_lib.clients.pgdump.client_env`).
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from typing import IO

from noa_lib.clients._errors import safe
from noa_lib.clients.pgdump import client_env, connection_args, tool_failure
from noa_lib.clients.pgserver.binaries import PgBinaries
from noa_lib.clients.tool_output import read_tail, tool_version
from noa_lib.config import PostgresSettings
from noa_lib.errors import ClientError, PreconditionFailed, Timeout

_START_RE = re.compile(r"start point: ([0-9A-F]+/[0-9A-F]+) on timeline (\d+)")
_END_RE = re.compile(r"end point: ([0-9A-F]+/[0-9A-F]+)")


@dataclass(frozen=True)
class BaseBackupInfo:
    """What ``pg_basebackup -v`` reported: WAL start/stop LSN, timeline, its own version."""

    start_lsn: str
    stop_lsn: str
    timeline: int
    tool_version: str


class BaseBackupStream:
    """A running ``pg_basebackup`` writing a gzip-compressed tar of the cluster to a pipe.

    A readable binary stream: :meth:`read` returns the compressed tar; at EOF it waits for the
    child and raises when it failed, so a consumer (an S3 multipart upload) aborts instead of
    keeping a truncated backup. The WAL needed to make the backup consistent is inside the tar
    (``-X fetch``). After EOF, :attr:`info` holds the start/stop LSN and timeline.

    Use as a context manager; leaving the block kills the child if it still runs.
    """

    def __init__(
        self,
        bins: PgBinaries,
        settings: PostgresSettings,
        *,
        compress_level: int = 1,
        label: str = "noa-runbooks",
        timeout: float = 6 * 3600.0,
    ) -> None:
        self._argv = [
            bins.tool("pg_basebackup"),
            *[a for a in connection_args(settings, "postgres") if not a.startswith("--dbname")],
            "--pgdata=-",
            "--format=tar",
            "--wal-method=fetch",
            "--checkpoint=fast",
            f"--compress=client-gzip:{int(compress_level)}",
            f"--label={label}",
            "--verbose",
        ]
        self._bins = bins
        self._settings = settings
        self._timeout = timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._env: contextlib.ExitStack | None = None
        self._timer: threading.Timer | None = None
        self._timed_out = False
        self._done = False
        self.info: BaseBackupInfo | None = None
        self.bytes_read = 0

    def __enter__(self) -> BaseBackupStream:
        stack = contextlib.ExitStack()
        env = stack.enter_context(client_env(self._settings))
        env["TZ"] = "UTC"
        self._stderr = stack.enter_context(tempfile.TemporaryFile())
        try:
            self._proc = subprocess.Popen(
                self._argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env=env,
            )
        except OSError as exc:
            stack.close()
            raise PreconditionFailed(f"cannot start pg_basebackup: {exc.strerror}") from None
        self._env = stack
        self._timer = threading.Timer(self._timeout, self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            if proc.stdout is not None:
                proc.stdout.close()
        if self._env is not None:
            self._env.close()

    def _expire(self) -> None:
        self._timed_out = True
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of the compressed tar (``b""`` at the end).

        Raises:
            Unavailable: the server went away during the backup.
            Timeout: the backup ran longer than the timeout (the child was killed).
            ClientError: ``pg_basebackup`` failed otherwise (its last stderr lines included).
        """
        if self._proc is None or self._proc.stdout is None:
            raise ClientError("pg_basebackup is not running (use the stream in a with block)")
        data = self._proc.stdout.read(size)
        if data:
            self.bytes_read += len(data)
            return data
        if not self._done:
            self._finish()
        return b""

    def _finish(self) -> None:
        assert self._proc is not None and self._stderr is not None
        try:
            code = self._proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self._expire()
            code = self._proc.wait(timeout=30)
        stderr = read_tail(self._stderr)
        if self._timed_out:
            raise Timeout(
                f"pg_basebackup ran longer than {self._timeout:g} s and was stopped",
                backend="pg_basebackup",
            )
        if code != 0:
            raise tool_failure("pg_basebackup", code, stderr, self._settings)
        start = _START_RE.search(stderr)
        end = _END_RE.search(stderr)
        if start is None or end is None:
            raise ClientError(
                safe(f"pg_basebackup did not report its WAL start/end points: {stderr[-500:]}"),
                backend="pg_basebackup",
            )
        self.info = BaseBackupInfo(
            start_lsn=start.group(1),
            stop_lsn=end.group(1),
            timeline=int(start.group(2)),
            tool_version=_version(self._bins.tool("pg_basebackup")),
        )
        self._done = True


def _version(path: str) -> str:
    # the backup is already complete: an unreadable version must not fail it
    try:
        return tool_version(path)
    except PreconditionFailed:
        return "unknown"


__all__ = ["BaseBackupInfo", "BaseBackupStream"]
