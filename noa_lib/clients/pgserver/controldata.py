"""``pg_controldata`` of a data directory, as a mapping."""

from __future__ import annotations

import subprocess
from pathlib import Path

from noa_lib.clients._errors import safe
from noa_lib.clients.pgserver.binaries import PgBinaries
from noa_lib.clients.tool_output import plain_env
from noa_lib.errors import PreconditionFailed


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
        env={**plain_env(), "LC_ALL": "C"},
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


__all__ = ["controldata"]
