"""One PRIVATE full sandbox for every mitigation test (cause → runbook → cured).

The mitigations change real state (sessions, ConfigMaps, Deployments, PVCs, roles), so they run
on a sandbox of their own, never the project's. Every test module in this directory shares it
(one xdist group per test directory, see tests/conftest.py; the fixture starts once per session)
and each test leaves it at scenario ``normal`` (:func:`scenario`), which removes exactly what the
scenario's cause created.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

import noa_sandbox as sandbox
from noa_lib.config import Target, load_config
from noa_sandbox.layout import Layout
from noa_sandbox.models import SandboxStatus


@dataclass(frozen=True)
class MitigationSandbox:
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


@pytest.fixture(scope="session")
def mitigation_sandbox() -> Iterator[MitigationSandbox]:
    root = Path(tempfile.mkdtemp(prefix="noa-mitigation-test-"))
    root.chmod(0o755)
    state = root / "state"
    try:
        status = sandbox.up(state)
        assert status.healthy, status.to_dict()
        yield MitigationSandbox(state, status,
                                load_config(state / "target.toml", env={}).target("sandbox"))
    finally:
        sandbox.down(state)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def runner_env(mitigation_sandbox: MitigationSandbox, reports_dir: Path,
               monkeypatch: pytest.MonkeyPatch) -> MitigationSandbox:
    """The records runner pointed at the private sandbox (records under ``reports_dir``)."""
    monkeypatch.setenv("NOA_CONFIG", str(mitigation_sandbox.config_file))
    monkeypatch.delenv("NOA_NOTEBOOKS_DIR", raising=False)
    monkeypatch.delenv("NOA_TARGET", raising=False)
    return mitigation_sandbox
