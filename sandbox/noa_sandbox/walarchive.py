"""WAL archiving of the sandbox's PostgreSQL into the S3 backup bucket.

PostgreSQL runs ``archive_command`` as the ``postgres`` user, which cannot execute the project's
virtualenv (under ``/root``), so the command is a small POSIX shell script, ``wal-push``, that
signs its S3 requests with ``curl --aws-sigv4`` (curl ≥ 7.75). Both live in ``<state>/pg/tools``
(0700, owned by ``postgres``): the script (0700) and ``s3.curlrc`` (0600) holding the key pair, so
the secret is never on a command line, in the server's settings or in its log.

``wal-push <path> <file name>`` stores the file as ``<bucket>/wal/<system identifier>/<file
name>`` with ``x-amz-meta-sha256`` (hex) and ``Content-MD5`` (the store rejects a body that does
not match it), requests SSE (``AES256``) and sends ``If-None-Match: *``. It is idempotent and
never overwrites: if the object already exists with the same sha256 and size it succeeds (a crash
between the upload and PostgreSQL noting it must not block archiving forever); if it exists with
other content it fails, PostgreSQL keeps the segment and retries, and the server log says why.

The script and its configuration are rewritten on every ``noa sandbox up`` (the S3 port may have
changed); ``archive_command`` itself names only the script and never changes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from noa_lib.clients.pgserver import RunAs
from noa_lib.errors import PreconditionFailed
from noa_lib.files import atomic_write_text
from noa_sandbox.layout import Layout

SCRIPT_NAME = "wal-push"
CURLRC_NAME = "s3.curlrc"
WAL_PREFIX = "wal"
REQUIRED_TOOLS = ("curl", "openssl", "sha256sum", "base64")
MIN_CURL = (7, 75)  # --aws-sigv4
TOOLS_HINT = "install them with `apt-get install -y curl openssl coreutils`"

_SCRIPT = r"""#!/bin/sh
# wal-push: archive_command of the NOA sandbox. Written by `noa sandbox up`; do not edit.
#   wal-push <path> <file name>
# Stores one finished WAL file as {bucket}/wal/{system_id}/<file name> in S3 (SigV4-signed by
# curl; the key pair is in a curl config file only postgres can read). Never overwrites: an
# existing object with the same sha256 and size is success, any other existing object is failure.
set -u
umask 077
PATH=/usr/bin:/bin
src=${{1:?usage: wal-push <path> <file name>}}
name=${{2:?usage: wal-push <path> <file name>}}
case $name in
  ''|*[!0-9A-Za-z._-]*) echo "wal-push: refusing file name '$name'" >&2; exit 2 ;;
esac
config='{curlrc}'
url='{endpoint}/{bucket}/{prefix}/{system_id}/'"$name"

s3() {{
  curl --silent --show-error --config "$config" --connect-timeout 5 --max-time 600 \
    --retry 3 --retry-connrefused --retry-delay 1 "$@"
}}
field() {{
  printf '%s\n' "$head" | grep -i "^$1:" | head -n 1 | cut -d: -f2- | tr -d ' '
}}

size=$(wc -c < "$src" | tr -d ' ') || exit 1
sum=$(sha256sum < "$src" | cut -d' ' -f1) || exit 1
md5=$(openssl dgst -md5 -binary < "$src" | base64) || exit 1

head=$(s3 --head --dump-header - --output /dev/null --write-out 'HTTP %{{http_code}}\n' \
  "$url") || {{ echo "wal-push: cannot reach S3 to check $name" >&2; exit 1; }}
head=$(printf '%s\n' "$head" | tr -d '\r')
code=$(printf '%s\n' "$head" | sed -n 's/^HTTP \([0-9][0-9][0-9]\)$/\1/p' | tail -n 1)
case $code in
  200)
    have_sum=$(field x-amz-meta-sha256)
    have_size=$(field content-length)
    if [ "$have_sum" = "$sum" ] && [ "$have_size" = "$size" ]; then
      echo "wal-push: $name is already archived with identical content" >&2
      exit 0
    fi
    echo "wal-push: $name already exists in S3 with different content" \
      "(sha256 ${{have_sum:-unknown}}, ${{have_size:-?}} bytes; local $sum, $size bytes):" \
      "refusing to overwrite it" >&2
    exit 1 ;;
  404) ;;
  *) echo "wal-push: checking $name in S3 answered HTTP ${{code:-none}}" >&2; exit 1 ;;
esac

put=$(s3 --upload-file "$src" --output /dev/null --write-out '%{{http_code}}' \
  --header "Content-MD5: $md5" \
  --header "x-amz-meta-sha256: $sum" \
  --header "x-amz-server-side-encryption: AES256" \
  --header "If-None-Match: *" \
  --header "Content-Type: application/octet-stream" \
  "$url") || {{ echo "wal-push: uploading $name failed" >&2; exit 1; }}
case $put in
  200) exit 0 ;;
  412) echo "wal-push: $name appeared in S3 during the upload; compared on the next attempt" >&2
       exit 1 ;;
  *) echo "wal-push: uploading $name answered HTTP $put" >&2; exit 1 ;;
esac
"""


@dataclass(frozen=True)
class ArchiveDestination:
    """Where ``wal-push`` stores segments: endpoint, bucket, region and the cluster's id."""

    endpoint: str
    bucket: str
    region: str
    system_identifier: str

    @property
    def prefix(self) -> str:
        """The key prefix of this cluster's WAL (``wal/<system identifier>/``)."""
        return f"{WAL_PREFIX}/{self.system_identifier}/"


def check_tools() -> None:
    """Make sure ``wal-push`` can run: curl with ``--aws-sigv4``, openssl, coreutils.

    Raises:
        PreconditionFailed: a tool is missing or curl is older than 7.75.
    """
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise PreconditionFailed(
            f"WAL archiving to S3 needs {', '.join(missing)}, which are missing; {TOOLS_HINT}"
        )
    curl = shutil.which("curl") or "curl"
    try:
        out = subprocess.run(
            [curl, "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise PreconditionFailed(f"{curl} does not run ({exc}); {TOOLS_HINT}") from None
    match = re.match(r"curl (\d+)\.(\d+)", out)
    if match is None or (int(match.group(1)), int(match.group(2))) < MIN_CURL:
        found = out.split("\n", 1)[0][:60]
        raise PreconditionFailed(
            f"WAL archiving to S3 needs curl >= {MIN_CURL[0]}.{MIN_CURL[1]} (--aws-sigv4), "
            f"found {found!r}; {TOOLS_HINT}"
        )


def script_path(layout: Layout) -> Path:
    """Where ``wal-push`` lives."""
    return layout.pg_tools / SCRIPT_NAME


def archive_command(layout: Layout) -> str:
    """The ``archive_command`` setting: the script with ``%p`` and ``%f``."""
    return f"'{script_path(layout)}' \"%p\" \"%f\""


def render_script(layout: Layout, dest: ArchiveDestination) -> str:
    """The text of ``wal-push`` for ``dest``."""
    for value in (dest.endpoint, dest.bucket, dest.system_identifier, str(layout.pg_tools)):
        if "'" in value or "\n" in value:
            raise PreconditionFailed(f"cannot quote {value!r} into the archive script")
    return _SCRIPT.format(
        curlrc=layout.pg_tools / CURLRC_NAME,
        endpoint=dest.endpoint.rstrip("/"),
        bucket=dest.bucket,
        prefix=WAL_PREFIX,
        system_id=dest.system_identifier,
    )


def render_curlrc(dest: ArchiveDestination, access_key_id: str, secret_access_key: str) -> str:
    """The curl configuration holding the key pair and the SigV4 scope."""

    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return (
        "# S3 credentials of wal-push. Written by `noa sandbox up`; readable by postgres only.\n"
        f"user = {quoted(f'{access_key_id}:{secret_access_key}')}\n"
        f"aws-sigv4 = {quoted(f'aws:amz:{dest.region}:s3')}\n"
    )


def configure(
    layout: Layout,
    who: RunAs,
    dest: ArchiveDestination,
    *,
    access_key_id: str,
    secret_access_key: str,
) -> bool:
    """Write ``wal-push`` and its curl configuration, owned by the server's user.

    Returns:
        True when either file changed.
    """
    layout.pg_tools.mkdir(mode=0o700, parents=True, exist_ok=True)
    who.own(layout.pg_tools)
    changed = False
    files = (
        (script_path(layout), render_script(layout, dest), 0o700),
        (
            layout.pg_tools / CURLRC_NAME,
            render_curlrc(dest, access_key_id, secret_access_key),
            0o600,
        ),
    )
    for path, text, mode in files:
        try:
            current = path.read_text()
        except OSError:
            current = None
        if current != text:
            atomic_write_text(path, text, mode=mode)
            changed = True
        who.own(path)
    return changed


__all__ = [
    "ArchiveDestination",
    "archive_command",
    "check_tools",
    "configure",
    "render_curlrc",
    "render_script",
    "script_path",
]
