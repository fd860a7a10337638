"""Publishing the ``sandbox`` target as ``<state_dir>/target.toml``.

The repository's ``noa.toml`` includes ``.sandbox/target.toml`` (see :mod:`noa_lib.config`), so the
target exists exactly while the sandbox runs. Secrets appear only as ``file:`` references relative
to the file's own directory.
"""

from __future__ import annotations

import json
from pathlib import Path

from noa_lib.files import atomic_write_text
from noa_sandbox import credentials, seaweed, seed
from noa_sandbox.processes import LOOPBACK

TARGET_NAME = "sandbox"
DESCRIPTION = "Local sandbox started by `noa sandbox up`"

Value = str | int | bool


def render(
    pg_port: int,
    s3_base: int,
    prometheus_url: str | None = None,
    alertmanager_url: str | None = None,
    kubernetes: tuple[Path, str] | None = None,
    state_dir: Path | None = None,
) -> str:
    """The TOML text of the ``sandbox`` target for the given ports and URLs.

    ``kubernetes`` is ``(kubeconfig path, API URL)`` of the sandbox Kubernetes API, which also
    serves the image registry; ``state_dir`` lets incident drills inject the sandbox's scenarios
    (``[targets.sandbox.drills]``, the ``noa.scenarios`` entry point ``sandbox``).
    """
    secrets_ref = "file:secrets/"
    sections: list[tuple[str, dict[str, Value]]] = [
        (
            f"targets.{TARGET_NAME}",
            {"description": DESCRIPTION, "protected": False},
        ),
        (
            f"targets.{TARGET_NAME}.postgres",
            {
                "host": LOOPBACK,
                "port": pg_port,
                "dbname": seed.DATABASE,
                "user": seed.OPS_ROLE,
                "password": secrets_ref + credentials.PG_PASSWORD,
            },
        ),
        (
            f"targets.{TARGET_NAME}.s3",
            {
                "endpoint_url": seaweed.endpoint_url(s3_base),
                "region": seaweed.REGION,
                "access_key_id": secrets_ref + credentials.S3_ACCESS_KEY_ID,
                "secret_access_key": secrets_ref + credentials.S3_SECRET_ACCESS_KEY,
                "backup_bucket": seaweed.BACKUP_BUCKET,
                "records_bucket": seaweed.RECORDS_BUCKET,
            },
        ),
    ]
    if prometheus_url is not None:
        prom: dict[str, Value] = {"url": prometheus_url}
        if alertmanager_url is not None:
            prom["alertmanager_url"] = alertmanager_url
        sections.append((f"targets.{TARGET_NAME}.prometheus", prom))
    if kubernetes is not None:
        kubeconfig, api_url = kubernetes
        sections.append((
            f"targets.{TARGET_NAME}.kubernetes",
            {"kubeconfig": str(kubeconfig), "context": "noa-sandbox", "namespace": "noa"},
        ))
        sections.append((
            f"targets.{TARGET_NAME}.registry",
            {"url": api_url, "repository": "noa-server"},
        ))
    if state_dir is not None:
        sections.append((f"targets.{TARGET_NAME}.drills",
                         {"injector": "sandbox", "state_dir": str(state_dir)}))
    out = ["# Written by `noa sandbox up`; removed by `noa sandbox down`. Do not edit.\n"]
    for header, values in sections:
        out.append(f"\n[{header}]\n")
        for key, value in values.items():
            out.append(f"{key} = {_toml_value(value)}\n")
    return "".join(out)


def _toml_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def publish(
    path: Path,
    pg_port: int,
    s3_base: int,
    prometheus_url: str | None = None,
    alertmanager_url: str | None = None,
    kubernetes: tuple[Path, str] | None = None,
) -> None:
    """Write the target file atomically."""
    text = render(pg_port, s3_base, prometheus_url, alertmanager_url, kubernetes,
                  state_dir=path.parent)
    atomic_write_text(path, text, mode=0o644)


def withdraw(path: Path) -> None:
    """Remove the target file (no error when it is already gone)."""
    path.unlink(missing_ok=True)
