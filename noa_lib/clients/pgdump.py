"""``pg_dump`` and ``pg_restore`` as child processes (argument lists, never shell strings).

The only module that spawns the PostgreSQL client tools. It

* finds them (:func:`find_tools`): ``NOA_PG_BINDIR`` if set, else the binaries matching the
  server's major version (``/usr/lib/postgresql/<major>/bin``), else a newer installed version,
  else ``PATH``; a ``pg_dump`` older than the server is refused (it cannot dump it);
* hands them the password through a private ``PGPASSFILE`` (an in-memory 0600 file that dies
  with this process; see :func:`client_env`): never on the command line, never in an
  environment variable;
* streams ``pg_dump -Fc`` from the child's stdout (:func:`start_dump`) so callers can upload it
  without a temporary file, and runs ``pg_restore -j N`` (:func:`restore`).

Failures become our errors with the tool's last stderr lines, scrubbed: a server that went away
→ :class:`~noa_lib.errors.Unavailable`, anything else → :class:`~noa_lib.errors.ClientError`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from noa_lib.clients._errors import failure, safe
from noa_lib.clients.tool_output import STDERR_TAIL, read_tail, tool_version
from noa_lib.config import PostgresSettings
from noa_lib.errors import ClientError, PreconditionFailed, Timeout, Unavailable

BINDIR_ENV = "NOA_PG_BINDIR"
SYSTEM_ROOT = Path("/usr/lib/postgresql")
INSTALL_HINT = "install the PostgreSQL client tools (`apt-get install -y postgresql-client`)"
PIPE_SIZE = 1 << 20  # a larger pipe means fewer wake-ups between pg_dump and the uploader
# libpq environment that must not leak from ours into the child (it would override argv or the
# password file); TLS file locations (PGSSL*) are deliberately kept.
_CLEARED_ENV = (
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGOPTIONS",
)
_GONE = (
    "server closed the connection unexpectedly",
    "could not connect",
    "connection to server",
    "terminating connection",
    "no connection to the server",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "connection refused",
)


@dataclass(frozen=True)
class PgTools:
    """Where ``pg_dump``/``pg_restore`` live and their version (e.g. ``15.18``)."""

    bindir: Path
    version: str

    @property
    def major(self) -> int:
        return int(self.version.split(".", 1)[0])

    @property
    def pg_dump(self) -> str:
        return str(self.bindir / "pg_dump")

    @property
    def pg_restore(self) -> str:
        return str(self.bindir / "pg_restore")

    def versions(self) -> dict[str, str]:
        """``{"pg_dump": "15.18", "pg_restore": "15.18"}`` for manifests and records."""
        restore_version = tool_version(self.pg_restore, hint=INSTALL_HINT)
        return {"pg_dump": self.version, "pg_restore": restore_version}


def find_tools(server_major: int | None = None) -> PgTools:
    """The ``pg_dump``/``pg_restore`` pair to use against a server of ``server_major``.

    Order: ``$NOA_PG_BINDIR``; ``/usr/lib/postgresql/<server_major>/bin``; newer versions under
    ``/usr/lib/postgresql`` (highest first); the directory of ``pg_dump`` on ``PATH``.

    Raises:
        PreconditionFailed: none found, or only versions older than the server (which cannot
            dump it); the message says what to install.
    """
    candidates: list[Path] = []
    explicit = os.environ.get(BINDIR_ENV)
    if explicit:
        candidates.append(Path(explicit))
    versioned: list[tuple[int, Path]] = []
    for bindir in SYSTEM_ROOT.glob("*/bin"):
        with contextlib.suppress(ValueError):
            versioned.append((int(bindir.parent.name), bindir))
    if server_major is not None:
        candidates += [b for major, b in versioned if major == server_major]
    candidates += [b for _, b in sorted(versioned, reverse=True)]
    on_path = shutil.which("pg_dump")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    too_old: list[str] = []
    for bindir in dict.fromkeys(candidates):
        if not all(os.access(bindir / tool, os.X_OK) for tool in ("pg_dump", "pg_restore")):
            continue
        tools = PgTools(bindir, tool_version(str(bindir / "pg_dump"), hint=INSTALL_HINT))
        if server_major is not None and tools.major < server_major:
            too_old.append(f"{bindir} ({tools.version})")
            continue
        return tools
    if too_old:
        raise PreconditionFailed(
            f"only pg_dump older than the server (PostgreSQL {server_major}) was found: "
            f"{', '.join(too_old)}; install postgresql-client-{server_major} or set "
            f"{BINDIR_ENV}"
        )
    raise PreconditionFailed(f"pg_dump/pg_restore not found; {INSTALL_HINT} or set {BINDIR_ENV}")


@contextlib.contextmanager
def client_env(settings: PostgresSettings) -> Iterator[dict[str, str]]:
    """The environment for a child tool: our environment minus libpq overrides, plus a private
    password file (``PGPASSFILE``) valid for the ``with`` block.

    On Linux the password file is an anonymous in-memory file (``memfd``, mode 0600) that the
    child opens through ``/proc/<our pid>/fd/<n>``: the password never touches a disk and
    vanishes with this process even if it is killed. Elsewhere it is a 0600 file in a 0700
    temporary directory, removed when the block ends.

    Raises:
        ConfigError: the password reference cannot be resolved.
    """
    password = settings.password.resolve() if settings.password is not None else None
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED_ENV}
    env.update(
        PGCONNECT_TIMEOUT=str(max(2, int(settings.connect_timeout))),
        PGSSLMODE=settings.sslmode,
        PGAPPNAME="noa-runbooks",
    )
    if password is None:  # certificate or ~/.pgpass authentication
        yield env
        return
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    with _password_file(f"*:*:*:*:{escaped}\n".encode()) as path:
        env["PGPASSFILE"] = path
        yield env


@contextlib.contextmanager
def _password_file(content: bytes) -> Iterator[str]:
    memfd = getattr(os, "memfd_create", None)
    if memfd is not None:
        fd = memfd("noa-pgpass")
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, content)
            path = f"/proc/{os.getpid()}/fd/{fd}"
            if os.path.isfile(path):
                yield path
                return
        finally:
            os.close(fd)
    private = Path(tempfile.mkdtemp(prefix="noa-pgpass-"))
    try:
        passfile = private / "pgpass"
        handle = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(handle, "wb") as fh:
            fh.write(content)
        yield str(passfile)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def connection_args(settings: PostgresSettings, dbname: str) -> list[str]:
    """``--host/--port/--username/--dbname`` for a tool (``--no-password``: never prompt)."""
    return [
        "--no-password",
        f"--host={settings.host}",
        f"--port={settings.port}",
        f"--username={settings.user}",
        f"--dbname={dbname}",
    ]


class DumpProcess:
    """A running ``pg_dump`` writing its archive to :attr:`stdout` (a pipe).

    Read the archive from :attr:`stdout` until EOF, then call :meth:`finish`, which raises when
    ``pg_dump`` failed (a truncated archive must never be kept).
    """

    def __init__(
        self, proc: subprocess.Popen[bytes], stderr: IO[bytes], settings: PostgresSettings
    ) -> None:
        self._proc = proc
        self._stderr = stderr
        self._settings = settings
        self.started = time.monotonic()
        if proc.stdout is None:  # pragma: no cover - Popen with stdout=PIPE always has one
            raise ClientError("pg_dump started without an output pipe", backend="pg_dump")
        self.stdout: IO[bytes] = proc.stdout

    @property
    def pid(self) -> int:
        return self._proc.pid

    def finish(self, timeout: float = 120.0) -> None:
        """Wait for ``pg_dump`` to exit (after its output reached EOF).

        Raises:
            Unavailable: the server went away during the dump.
            Timeout: ``pg_dump`` did not exit within ``timeout`` seconds after EOF.
            ClientError: ``pg_dump`` failed otherwise (its last stderr lines are included).
        """
        try:
            code = self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Timeout(
                f"pg_dump did not exit within {timeout:g} s after its output ended",
                backend="pg_dump",
            ) from None
        if code != 0:
            raise tool_failure("pg_dump", code, read_tail(self._stderr), self._settings)

    def kill(self) -> None:
        """Stop ``pg_dump`` now (if still running) and reap it."""
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=30)


@contextlib.contextmanager
def start_dump(
    tools: PgTools,
    settings: PostgresSettings,
    *,
    dbname: str,
    schema_only: bool = False,
    snapshot: str | None = None,
    compress: int | None = None,
    lock_wait_timeout_ms: int = 60_000,
) -> Iterator[DumpProcess]:
    """Start ``pg_dump --format=custom`` of ``dbname`` writing to a pipe.

    ``snapshot`` makes ``pg_dump`` read an exported snapshot (so figures taken by the caller in
    that snapshot describe exactly the dumped data); ``compress`` is ``--compress`` (0–9, default
    pg_dump's). The child is killed and reaped when the block ends, and its password file removed.

    Raises:
        ConfigError: the password reference cannot be resolved.
        PreconditionFailed: ``pg_dump`` cannot be started.
    """
    argv = [tools.pg_dump, "--format=custom", *connection_args(settings, dbname)]
    argv.append(f"--lock-wait-timeout={int(lock_wait_timeout_ms)}")
    if schema_only:
        argv.append("--schema-only")
    if snapshot is not None:
        argv.append(f"--snapshot={snapshot}")
    if compress is not None:
        argv.append(f"--compress={int(compress)}")
    with client_env(settings) as env, tempfile.TemporaryFile() as stderr:
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, env=env
            )
        except OSError as exc:
            raise PreconditionFailed(f"cannot start {tools.pg_dump}: {exc.strerror}") from None
        if proc.stdout is not None and hasattr(fcntl, "F_SETPIPE_SZ"):
            with contextlib.suppress(OSError):
                fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        dump = DumpProcess(proc, stderr, settings)
        try:
            yield dump
        finally:
            dump.kill()
            if proc.stdout is not None:
                proc.stdout.close()


def list_archive(tools: PgTools, archive: Path) -> list[str]:
    """The table of contents of a custom-format archive (``pg_restore --list``), line by line.

    Raises:
        ClientError: the file is not a readable archive.
    """
    result = subprocess.run(
        [tools.pg_restore, "--list", str(archive)],
        capture_output=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        tail = result.stderr.decode("utf-8", "replace")[-STDERR_TAIL:]
        raise ClientError(
            safe(f"pg_restore --list {archive.name} failed (exit {result.returncode}): {tail}"),
            backend="pg_restore",
        )
    return result.stdout.decode("utf-8", "replace").splitlines()


@dataclass(frozen=True)
class RestoreRun:
    """A finished ``pg_restore``: how long it took and with how many jobs."""

    seconds: float
    jobs: int


def restore(
    tools: PgTools,
    settings: PostgresSettings,
    *,
    dbname: str,
    archive: Path,
    jobs: int = 2,
    use_list: Path | None = None,
    timeout: float | None = None,
) -> RestoreRun:
    """``pg_restore --jobs=N`` of ``archive`` into the existing database ``dbname``.

    Objects are restored without their original owners and grants (``--no-owner
    --no-privileges``) and the first error stops the restore (``--exit-on-error``). ``use_list``
    is a ``--use-list`` file selecting the archive entries to restore.

    Raises:
        Unavailable: the server went away.
        Timeout: not finished within ``timeout`` seconds (the child is killed).
        ClientError: ``pg_restore`` failed (its last stderr lines are included).
    """
    argv = [
        tools.pg_restore,
        *connection_args(settings, dbname),
        f"--jobs={max(1, int(jobs))}",
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
    ]
    if use_list is not None:
        argv.append(f"--use-list={use_list}")
    argv.append(str(archive))
    started = time.monotonic()
    with client_env(settings) as env, tempfile.TemporaryFile() as stderr:
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env
            )
        except OSError as exc:
            raise PreconditionFailed(f"cannot start {tools.pg_restore}: {exc.strerror}") from None
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise Timeout(
                f"pg_restore into {dbname} did not finish within {timeout:g} s (stopped)",
                backend="pg_restore",
            ) from None
        finally:
            if proc.poll() is None:  # interrupted (KeyboardInterrupt…): never leave it behind
                proc.kill()
                proc.wait()
        if code != 0:
            raise tool_failure(f"pg_restore into {dbname}", code, read_tail(stderr), settings)
    return RestoreRun(seconds=time.monotonic() - started, jobs=max(1, int(jobs)))


def tool_failure(
    what: str, code: int, stderr: str, settings: PostgresSettings
) -> ClientError:
    """The error for a failed tool run: :class:`Unavailable` when the server went away."""
    secrets: list[str] = []
    if settings.password is not None:
        with contextlib.suppress(Exception):
            secrets.append(settings.password.resolve())
    lines = [line for line in stderr.splitlines() if line.strip()]
    detail = " | ".join(lines[-4:]) or "no error output"
    reason = f"{what} failed (exit {code}): {detail}"
    if code < 0:
        reason = f"{what} was killed by signal {-code}: {detail}"
    where = f"{settings.host}:{settings.port}"
    cls: type[ClientError] = ClientError
    if any(marker in stderr.lower() for marker in _GONE):
        cls = Unavailable
    return failure(cls, "PostgreSQL", where, reason, secrets)


__all__ = [
    "BINDIR_ENV",
    "DumpProcess",
    "PgTools",
    "RestoreRun",
    "client_env",
    "connection_args",
    "find_tools",
    "list_archive",
    "restore",
    "start_dump",
    "tool_failure",
    "tool_version",
]
