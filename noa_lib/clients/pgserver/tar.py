"""A base backup's gzip-compressed tar stream extracted into a new data directory, safely."""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path
from typing import IO

from noa_lib.errors import PreconditionFailed


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


__all__ = ["extract_tar_gz"]
