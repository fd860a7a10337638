"""Generated sandbox credentials, kept as files under ``<state_dir>/secrets/``.

The directory is 0700 and each file 0600, owned by the user running ``noa sandbox``. Targets refer
to them as ``file:secrets/<name>``; their values never appear in state, logs or errors.
"""

from __future__ import annotations

import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from noa_lib.errors import PreconditionFailed

# File names under secrets/ (not secret values).
PG_PASSWORD = "pg_password"  # noqa: S105
PG_SUPERUSER_PASSWORD = "pg_superuser_password"  # noqa: S105
S3_ACCESS_KEY_ID = "s3_access_key_id"
S3_SECRET_ACCESS_KEY = "s3_secret_access_key"  # noqa: S105
REDIS_PASSWORD = "redis_password"  # noqa: S105
PG_MONITOR_PASSWORD = "pg_monitor_password"  # noqa: S105

_KEY_ID_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class Credentials:
    """The sandbox's secrets. ``repr`` hides the values."""

    pg_password: str
    pg_superuser_password: str
    s3_access_key_id: str
    s3_secret_access_key: str
    redis_password: str
    pg_monitor_password: str

    def values(self) -> tuple[str, ...]:
        """Every secret value (for scrubbing text before it is shown)."""
        return (
            self.pg_password,
            self.pg_superuser_password,
            self.s3_access_key_id,
            self.s3_secret_access_key,
            self.redis_password,
            self.pg_monitor_password,
        )

    def __repr__(self) -> str:
        return "Credentials(<redacted>)"


def _generators() -> dict[str, str]:
    return {
        PG_PASSWORD: secrets.token_urlsafe(24),
        PG_SUPERUSER_PASSWORD: secrets.token_urlsafe(24),
        S3_ACCESS_KEY_ID: "NOA" + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(17)),
        S3_SECRET_ACCESS_KEY: secrets.token_urlsafe(30),
        REDIS_PASSWORD: secrets.token_urlsafe(24),
        PG_MONITOR_PASSWORD: secrets.token_urlsafe(24),
    }


def ensure_credentials(secrets_dir: Path) -> Credentials:
    """Read the credentials, generating any that are missing."""
    secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(secrets_dir, 0o700)
    fresh = _generators()
    values: dict[str, str] = {}
    for name, new_value in fresh.items():
        path = secrets_dir / name
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(new_value + "\n")
        values[name] = read_secret(secrets_dir, name)
    return Credentials(
        pg_password=values[PG_PASSWORD],
        pg_superuser_password=values[PG_SUPERUSER_PASSWORD],
        s3_access_key_id=values[S3_ACCESS_KEY_ID],
        s3_secret_access_key=values[S3_SECRET_ACCESS_KEY],
        redis_password=values[REDIS_PASSWORD],
        pg_monitor_password=values[PG_MONITOR_PASSWORD],
    )


def load_credentials(secrets_dir: Path) -> Credentials | None:
    """The existing credentials, or ``None`` when any is missing (nothing is generated)."""
    try:
        return Credentials(
            pg_password=read_secret(secrets_dir, PG_PASSWORD),
            pg_superuser_password=read_secret(secrets_dir, PG_SUPERUSER_PASSWORD),
            s3_access_key_id=read_secret(secrets_dir, S3_ACCESS_KEY_ID),
            s3_secret_access_key=read_secret(secrets_dir, S3_SECRET_ACCESS_KEY),
            redis_password=read_secret(secrets_dir, REDIS_PASSWORD),
            pg_monitor_password=read_secret(secrets_dir, PG_MONITOR_PASSWORD),
        )
    except PreconditionFailed:
        return None


def read_secret(secrets_dir: Path, name: str) -> str:
    """The value stored in ``secrets_dir/name``.

    Raises:
        PreconditionFailed: the file is missing, unreadable or empty.
    """
    path = secrets_dir / name
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise PreconditionFailed(f"sandbox secret {path} is unreadable ({exc.strerror})") from None
    if not value:
        raise PreconditionFailed(f"sandbox secret {path} is empty; delete it and run `up` again")
    return value


def scrub(text: str, secret_values: tuple[str, ...] | list[str]) -> str:
    """``text`` with every known secret value replaced by ``***``."""
    for value in secret_values:
        if value:
            text = text.replace(value, "***")
    return text
