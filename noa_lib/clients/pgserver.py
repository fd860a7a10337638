"""PostgreSQL server tooling as child processes: binaries, the server's OS user, base backups,
control data, WAL inspection, and clusters started from a restored data directory.

The only module that spawns ``pg_basebackup``, ``pg_controldata``, ``pg_waldump`` and, for
restored clusters, ``pg_ctl`` (argument lists, never shell strings). It

* finds the server binaries of a major version (:func:`find_binaries`);
* knows who runs them (:func:`run_as`): as root, the ``postgres`` system user through
  ``runuser -u postgres --`` (``initdb``/``postgres`` refuse root, and the user cannot execute a
  virtualenv under ``/root``); otherwise the current user;
* streams ``pg_basebackup -D - -Ft -X fetch`` (gzip) from a pipe (:class:`BaseBackupStream`), so a
  base backup goes to S3 without a temporary copy on disk; the password reaches it through a
  private ``PGPASSFILE`` (see :func:`noa_lib.clients.pgdump.client_env`);
* extracts a base backup's tar stream into a new data directory (:func:`extract_tar_gz`), reads
  ``pg_controldata`` (:func:`controldata`), lists commit records with ``pg_waldump``
  (:func:`scan_wal`), and starts/stops a cluster on a loopback port (:func:`start_cluster`,
  :func:`stop_cluster`).

The sandbox (``noa_sandbox``) imports the binary/user helpers from here; this module never
imports the sandbox.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from noa_lib.clients._errors import safe
from noa_lib.clients.pgdump import client_env, connection_args, tool_failure
from noa_lib.config import PostgresSettings
from noa_lib.errors import ClientError, PreconditionFailed, Timeout, Unavailable

SYSTEM_USER = "postgres"
SYSTEM_ROOT = Path("/usr/lib/postgresql")
INSTALL_HINT = "install with `apt-get install -y postgresql` or run `make bootstrap`"
LOOPBACK = "127.0.0.1"
SERVER_TOOLS = ("initdb", "pg_ctl", "postgres")
_STDERR_TAIL = 4000


# --------------------------------------------------------------------------- binaries and user


@dataclass(frozen=True)
class PgBinaries:
    """Where the PostgreSQL server binaries live, and their version (e.g. ``15.18``)."""

    bindir: Path
    version: str

    @property
    def major(self) -> int:
        """The major version (``15`` for ``15.18``)."""
        return int(self.version.split(".", 1)[0])

    def tool(self, name: str) -> str:
        """Absolute path of the tool ``name`` in :attr:`bindir`."""
        return str(self.bindir / name)


@dataclass(frozen=True)
class RunAs:
    """Who runs the server binaries: the ``postgres`` system user when we are root."""

    uid: int
    gid: int
    switch_user: bool

    def argv(self, args: Sequence[str]) -> list[str]:
        """``args`` wrapped in ``runuser`` when the user must be switched."""
        if not self.switch_user:
            return list(args)
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return [runuser, "-u", SYSTEM_USER, "--", *args]

    def own(self, path: Path) -> None:
        """Give ``path`` to the server's user (no-op when not switching users)."""
        if self.switch_user:
            os.chown(path, self.uid, self.gid, follow_symlinks=False)

    def own_tree(self, root: Path) -> None:
        """Give ``root`` and everything below it to the server's user."""
        if not self.switch_user:
            return
        self.own(root)
        for directory, dirs, files in os.walk(root):
            for name in (*dirs, *files):
                self.own(Path(directory) / name)


def find_binaries(major: int | None = None, *, tools: Sequence[str] = SERVER_TOOLS) -> PgBinaries:
    """The PostgreSQL server binaries: of ``major`` when given, else the newest installed.

    Looks in ``/usr/lib/postgresql/<version>/bin`` (the requested major, else the highest), then
    ``pg_config --bindir``, then the directory of ``initdb`` on ``PATH``. A directory qualifies
    when every tool in ``tools`` is executable there.

    Raises:
        PreconditionFailed: no such binaries (the message names the major version wanted).
    """
    candidates: list[Path] = []
    versioned: list[tuple[float, Path]] = []
    for bindir in SYSTEM_ROOT.glob("*/bin"):
        with contextlib.suppress(ValueError):
            versioned.append((float(bindir.parent.name), bindir))
    candidates.extend(b for _, b in sorted(versioned, reverse=True))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    seen: list[str] = []
    for bindir in dict.fromkeys(candidates):
        if not all(os.access(bindir / tool, os.X_OK) for tool in tools):
            continue
        found = PgBinaries(bindir=bindir, version=_server_version(bindir))
        if major is None or found.major == major:
            return found
        seen.append(f"{bindir} ({found.version})")
    wanted = f"PostgreSQL {major} server binaries" if major else "PostgreSQL binaries"
    other = f" (found only {', '.join(seen)})" if seen else ""
    hint = f"`apt-get install -y postgresql-{major}`" if major else INSTALL_HINT
    raise PreconditionFailed(f"{wanted} ({', '.join(tools)}) not found{other}; install {hint}")


def _server_version(bindir: Path) -> str:
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise PreconditionFailed(
            f"{bindir}/postgres does not run ({exc}); {INSTALL_HINT}"
        ) from None
    match = re.search(r"(\d+(?:\.\d+)*)", out)
    return match.group(1) if match else out.strip()


def run_as() -> RunAs:
    """How to run server binaries from this process.

    Raises:
        PreconditionFailed: running as root but there is no ``postgres`` system user.
    """
    if os.geteuid() != 0:
        return RunAs(uid=os.geteuid(), gid=os.getegid(), switch_user=False)
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise PreconditionFailed(
            "running as root needs a `postgres` system user to own the cluster; "
            f"{INSTALL_HINT} (it creates the user)"
        ) from None
    return RunAs(uid=entry.pw_uid, gid=entry.pw_gid, switch_user=True)


def check_traversable(path: Path, who: RunAs) -> None:
    """Make sure the server's user can reach ``path`` through every parent directory.

    Raises:
        PreconditionFailed: a parent directory does not let that user through (names it).
    """
    if not who.switch_user:
        return
    groups = {who.gid, *(g.gr_gid for g in grp.getgrall() if SYSTEM_USER in g.gr_mem)}
    for directory in [path, *path.parents]:
        st = directory.stat()
        if st.st_uid == who.uid:
            ok = bool(st.st_mode & 0o100)
        elif st.st_gid in groups:
            ok = bool(st.st_mode & 0o010)
        else:
            ok = bool(st.st_mode & 0o001)
        if not ok:
            raise PreconditionFailed(
                f"the `{SYSTEM_USER}` user cannot enter {directory}, so PostgreSQL cannot use "
                f"{path}; run `chmod o+x {directory}` or choose another directory"
            )


# --------------------------------------------------------------------------- control data, WAL


def controldata(bins: PgBinaries, data_dir: Path) -> dict[str, str]:
    """``pg_controldata`` of ``data_dir`` as a mapping (``"Database system identifier"`` → …).

    Raises:
        PreconditionFailed: the tool failed (not a data directory, unreadable…).
    """
    result = subprocess.run(
        [bins.tool("pg_controldata"), "-D", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**_plain_env(), "LC_ALL": "C"},
    )
    if result.returncode != 0:
        raise PreconditionFailed(
            safe(f"pg_controldata {data_dir} failed: {result.stderr.strip()}")
        )
    values: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            values[key.strip()] = value.strip()
    return values


_COMMIT_RE = re.compile(
    r"lsn: ([0-9A-F]+/[0-9A-F]+),.*desc: (COMMIT|ABORT)(?:_PREPARED)? "
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC"
)
_RECORD_LSN_RE = re.compile(r"lsn: ([0-9A-F]+/[0-9A-F]+),")


@dataclass(frozen=True)
class WalScan:
    """What ``pg_waldump`` read: transaction end times, the last record's LSN.

    ``commits`` holds the times (UTC, WAL order) of every COMMIT and ABORT record: both end a
    transaction, both can stop recovery at a ``recovery_target_time`` and both set
    ``pg_last_xact_replay_timestamp()``.
    """

    commits: tuple[datetime, ...]
    commit_lsns: tuple[str, ...]
    last_lsn: str | None
    records: int
    note: str = ""

    @property
    def last_commit(self) -> datetime | None:
        """The newest commit/abort time, or ``None`` when the WAL holds none."""
        return max(self.commits) if self.commits else None


def scan_wal(bins: PgBinaries, wal_dir: Path, first: str, last: str) -> WalScan:
    """Read the WAL segments ``first`` … ``last`` in ``wal_dir`` with ``pg_waldump``.

    The end of the newest segment is usually not a complete record (the next segment is not
    there), so ``pg_waldump``'s complaint about it is kept as :attr:`WalScan.note`, not raised.

    Raises:
        PreconditionFailed: ``pg_waldump`` read no record at all (its error is included).
    """
    result = subprocess.run(
        [bins.tool("pg_waldump"), "--path", str(wal_dir), first, last],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**_plain_env(), "TZ": "UTC", "LC_ALL": "C"},
    )
    commits: list[datetime] = []
    commit_lsns: list[str] = []
    last_lsn: str | None = None
    records = 0
    for line in result.stdout.splitlines():
        match = _RECORD_LSN_RE.search(line)
        if match is None:
            continue
        records += 1
        last_lsn = match.group(1)
        commit = _COMMIT_RE.search(line)
        if commit is not None:
            commits.append(datetime.fromisoformat(commit.group(3)).replace(tzinfo=UTC))
            commit_lsns.append(commit.group(1))
    note = safe(result.stderr.strip())
    if records == 0:
        raise PreconditionFailed(
            f"pg_waldump read no WAL record from {first}…{last} in {wal_dir}: "
            f"{note or 'no output'}"
        )
    return WalScan(tuple(commits), tuple(commit_lsns), last_lsn, records, note)


# --------------------------------------------------------------------------- base backups


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
        stderr = _read_tail(self._stderr)
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
            tool_version=tool_version(self._bins.tool("pg_basebackup")),
        )
        self._done = True


def tool_version(path: str) -> str:
    """The version a PostgreSQL tool reports (``15.18``), or ``"unknown"``."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=15, check=True
        ).stdout
        match = re.search(r"(\d+(?:\.\d+)+)", out)
        if match:
            return match.group(1)
    return "unknown"


def _read_tail(handle: IO[bytes]) -> str:
    handle.flush()
    size = handle.seek(0, os.SEEK_END)
    handle.seek(max(0, size - _STDERR_TAIL))
    return handle.read().decode("utf-8", "replace")


def _plain_env() -> dict[str, str]:
    """Our environment without libpq variables (they must not redirect a tool)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


# --------------------------------------------------------------------------- restored clusters


def extract_tar_gz(stream: IO[bytes], dest: Path) -> int:
    """Extract a gzip-compressed tar read from ``stream`` into ``dest``; returns the member count.

    Uses tarfile's ``data`` filter: absolute paths, ``..``, links leaving ``dest`` and device
    files are refused, so a hostile archive cannot write outside ``dest``. The stream is read to
    its end (so a caller hashing it sees every byte).

    Raises:
        PreconditionFailed: the archive is corrupt or holds a refused member.
    """
    members = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|gz") as archive:
            for member in archive:
                archive.extract(member, dest, filter="data")
                members += 1
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # a disk problem (ENOSPC…), not a corrupt archive
        raise PreconditionFailed(f"the base backup archive is unreadable: {exc}") from None
    while stream.read(1 << 20):
        pass
    return members


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on at ``host`` right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class ClusterProcess:
    """A postmaster we started: its pid, data directory, port and log file."""

    pid: int
    data_dir: Path
    port: int
    log_file: Path


def start_cluster(
    bins: PgBinaries,
    data_dir: Path,
    *,
    port: int,
    log_file: Path,
    who: RunAs,
    timeout: float = 600.0,
) -> ClusterProcess:
    """``pg_ctl start -w`` of ``data_dir`` as the server's user; returns once it accepts work.

    With ``hot_standby = off`` a cluster in archive recovery becomes ready only after recovery
    ended (and, with ``recovery_target_action = 'promote'``, after promotion), so this waits for
    the whole replay, up to ``timeout`` seconds.

    Raises:
        Unavailable: the server did not start or stopped during recovery (log tail included).
        Timeout: not ready within ``timeout`` seconds (the server is stopped again).
    """
    argv = [
        bins.tool("pg_ctl"),
        "start",
        "-D",
        str(data_dir),
        "-l",
        str(log_file),
        "-w",
        "-t",
        str(int(timeout)),
        "-s",
    ]
    try:
        result = subprocess.run(
            who.argv(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout + 30,
            cwd=data_dir.parent,
            check=False,
        )
    except subprocess.TimeoutExpired:
        stop_cluster(bins, data_dir, who=who)
        raise Timeout(
            f"PostgreSQL in {data_dir} was not ready within {timeout:g} s (stopped); last lines "
            f"of {log_file}:\n{log_tail(log_file)}",
            backend="postgres",
        ) from None
    pid = postmaster_pid(data_dir)
    if result.returncode != 0 or pid is None:
        output = (result.stdout + result.stderr).strip()[-500:]
        stop_cluster(bins, data_dir, who=who)
        cls = Timeout if "timed out" in output or "still starting" in output else Unavailable
        raise cls(
            f"PostgreSQL in {data_dir} did not start (pg_ctl exit {result.returncode}: "
            f"{output}); last lines of {log_file}:\n{log_tail(log_file)}",
            backend="postgres",
        )
    # pg_ctl -w returns as soon as a server without hot standby *enters* recovery (status
    # "standby"); a restored cluster is usable only once recovery ended and it is "ready".
    deadline = time.monotonic() + timeout
    while (status := postmaster_status(data_dir)) != "ready":
        if not _alive(pid):
            raise Unavailable(
                f"PostgreSQL in {data_dir} stopped during recovery; last lines of {log_file}:\n"
                f"{log_tail(log_file)}",
                backend="postgres",
            )
        if time.monotonic() > deadline:
            stop_cluster(bins, data_dir, who=who)
            raise Timeout(
                f"PostgreSQL in {data_dir} still in recovery (status {status!r}) after "
                f"{timeout:g} s (stopped); last lines of {log_file}:\n{log_tail(log_file)}",
                backend="postgres",
            )
        time.sleep(0.1)
    return ClusterProcess(pid=pid, data_dir=data_dir, port=port, log_file=log_file)


def stop_cluster(
    bins: PgBinaries, data_dir: Path, *, who: RunAs, timeout: float = 60.0
) -> None:
    """Stop the postmaster of ``data_dir``: ``pg_ctl stop -m fast``, then signals if it lingers.

    A no-op when nothing runs there.
    """
    pid = postmaster_pid(data_dir)
    if pid is None or not _alive(pid):
        return
    argv = [bins.tool("pg_ctl"), "stop", "-D", str(data_dir), "-m", "fast", "-w", "-s"]
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        subprocess.run(
            who.argv([*argv, "-t", str(int(timeout))]),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout + 15,
            cwd=data_dir.parent,
            check=False,
        )
    for sig, wait in ((None, 5.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        if sig is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.1)


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid in ``postmaster.pid``, or ``None`` when there is none."""
    try:
        first = (data_dir / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() else None


def postmaster_status(data_dir: Path) -> str | None:
    """The status in ``postmaster.pid``: ``starting``, ``standby``, ``ready`` or ``stopping``."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().split("\n")
    except OSError:
        return None
    return lines[7].strip() if len(lines) > 7 else None


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rfind(")") + 2 :].split()
    return bool(fields) and fields[0] not in ("Z", "X")


def log_tail(path: Path, lines: int = 20, max_chars: int = 3000) -> str:
    """The last ``lines`` lines of ``path`` (at most ``max_chars``), or a note when unreadable."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"(log {path} unreadable: {exc.strerror})"
    tail = "\n".join(text.rstrip("\n").splitlines()[-lines:])
    return tail[-max_chars:] if tail else "(log is empty)"


__all__ = [
    "INSTALL_HINT",
    "LOOPBACK",
    "SYSTEM_USER",
    "BaseBackupInfo",
    "BaseBackupStream",
    "ClusterProcess",
    "PgBinaries",
    "RunAs",
    "WalScan",
    "check_traversable",
    "controldata",
    "extract_tar_gz",
    "find_binaries",
    "free_port",
    "log_tail",
    "port_open",
    "postmaster_pid",
    "postmaster_status",
    "run_as",
    "scan_wal",
    "start_cluster",
    "stop_cluster",
]
