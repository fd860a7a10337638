"""A PRIVATE full sandbox for tests that change real state (mitigations, drills).

The mitigation and drill tests change sessions, ConfigMaps, Deployments, PVCs and roles, so they
run on sandboxes of their own, never the project's; :func:`private_sandbox` starts one and stops
it, :class:`PrivateSandbox` is what the tests get.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import noa_sandbox as sandbox
from noa_lib.config import Target, load_config
from noa_sandbox.layout import Layout
from noa_sandbox.models import SandboxStatus


@dataclass(frozen=True)
class PrivateSandbox:
    """The private sandbox: its state directory, status and ``sandbox`` target."""

    state: Path
    status: SandboxStatus
    target: Target

    @property
    def layout(self) -> Layout:
        return Layout(self.state)

    @property
    def config_file(self) -> Path:
        return self.state / "target.toml"

    @contextmanager
    def scenario(self, name: str) -> Iterator[None]:
        """Within the block the sandbox is in scenario ``name``; ``normal`` again afterwards."""
        sandbox.set_scenario(self.state, name)
        try:
            yield
        finally:
            sandbox.set_scenario(self.state, "normal")


@contextmanager
def private_sandbox(prefix: str) -> Iterator[PrivateSandbox]:
    """A full sandbox in a temporary directory, stopped and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    state = root / "state"
    try:
        status = sandbox.up(state)
        assert status.healthy, status.to_dict()
        yield PrivateSandbox(state, status,
                             load_config(state / "target.toml", env={}).target("sandbox"))
    finally:
        sandbox.down(state)
        shutil.rmtree(root, ignore_errors=True)
