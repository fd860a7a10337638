"""The sandbox's optional Alertmanager (Debian's ``prometheus-alertmanager``) on loopback.

Started by ``noa sandbox up --with-alertmanager``. No cluster gossip
(``--cluster.listen-address=`` empty). Every alert goes to one webhook receiver — noa's own
(``noa alerts serve``), :data:`DEFAULT_WEBHOOK_URL` unless ``--alert-webhook URL`` names
another — grouped by alert name and service, with short waits so a sandbox scenario reaches the
receiver within seconds. An optional bearer-token file authenticates the webhook calls.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import yaml

from noa_lib.errors import ParameterError
from noa_lib.files import atomic_write_text
from noa_sandbox import binaries, processes
from noa_sandbox.binaries import Binary
from noa_sandbox.layout import Layout

BINARY = "prometheus-alertmanager"
DEFAULT_WEBHOOK_URL = "http://127.0.0.1:9095/alerts"
"""Where ``noa alerts serve`` listens by default."""
RECEIVER = "noa-runbooks"
INSTALL_HINT = "install with `apt-get install -y prometheus-alertmanager`"


def find_binary() -> Binary:
    """Locate ``prometheus-alertmanager`` (or ``alertmanager``) on ``PATH``.

    Raises:
        PreconditionFailed: not installed or does not run.
    """
    return binaries.find((BINARY, "alertmanager"), what="Alertmanager", hint=INSTALL_HINT)


def url(port: int) -> str:
    return f"http://{processes.LOOPBACK}:{port}"


def validate_webhook(webhook: str) -> str:
    """``webhook`` when it is an http(s) URL with a host.

    Raises:
        ParameterError: anything else.
    """
    parsed = urlparse(webhook)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ParameterError(
            f"alert webhook {webhook!r} is not an http(s) URL",
            name="alert_webhook",
            accepted="http://HOST:PORT/PATH",
        )
    return webhook


def render_config(webhook: str, *, bearer_token_file: Path | None = None) -> str:
    """The ``alertmanager.yml`` text routing every alert to ``webhook``."""
    hook: dict[str, object] = {"url": validate_webhook(webhook), "send_resolved": True}
    if bearer_token_file is not None:
        hook["http_config"] = {
            "authorization": {"type": "Bearer", "credentials_file": str(bearer_token_file)}
        }
    config = {
        "route": {
            "receiver": RECEIVER,
            "group_by": ["alertname"],  # as deploy/alertmanager: one group per alert name
            "group_wait": "1s",
            "group_interval": "5s",
            "repeat_interval": "1h",
        },
        "receivers": [{"name": RECEIVER, "webhook_configs": [hook]}],
    }
    return "# Written by `noa sandbox up`; do not edit.\n" + yaml.safe_dump(config, sort_keys=False)


def config_path(layout: Layout) -> Path:
    return layout.alertmanager_dir / "alertmanager.yml"


def write_config(layout: Layout, text: str) -> bool:
    """Write the configuration; returns True when its content changed."""
    path = config_path(layout)
    if path.is_file() and path.read_text() == text:
        return False
    atomic_write_text(path, text, mode=0o644)
    return True


def command(binary: Binary, layout: Layout, port: int) -> list[str]:
    """The argument list of an Alertmanager on ``port`` (no cluster port)."""
    return [
        str(binary.path),
        f"--config.file={config_path(layout)}",
        f"--storage.path={layout.alertmanager_dir / 'data'}",
        f"--web.listen-address={processes.LOOPBACK}:{port}",
        f"--web.external-url={url(port)}/",
        "--cluster.listen-address=",
    ]


def start(binary: Binary, layout: Layout, port: int) -> tuple[int, int]:
    """Start Alertmanager detached; returns ``(pid, start_time)``."""
    (layout.alertmanager_dir / "data").mkdir(parents=True, exist_ok=True)
    return processes.spawn_detached(
        command(binary, layout, port),
        log_file=layout.log("alertmanager"),
        env=dict(os.environ),
        cwd=layout.alertmanager_dir,
    )


def ready(port: int) -> bool:
    """True when ``/-/ready`` answers 200."""
    return processes.http_ok(f"{url(port)}/-/ready")


def wait_ready(port: int, pid: int, start_time: int, log: Path, *, timeout: float = 30.0) -> None:
    """Wait for ``/-/ready``; raises ``Unavailable`` (exited) or ``Timeout``."""
    processes.require_started(lambda: ready(port), pid=pid, start_time=start_time,
                              what="Alertmanager", backend="alertmanager", log_file=log,
                              timeout=timeout)


def reload(port: int) -> None:
    """Apply a changed configuration (``POST /-/reload``); raises ``Unavailable`` if refused."""
    processes.lifecycle_reload(url(port), what="Alertmanager", backend="alertmanager")


__all__ = [
    "DEFAULT_WEBHOOK_URL",
    "Binary",
    "command",
    "find_binary",
    "reload",
    "render_config",
    "start",
    "validate_webhook",
    "wait_ready",
    "write_config",
]
