"""One PRIVATE full sandbox for every mitigation test (cause → runbook → cured).

The mitigations change real state (sessions, ConfigMaps, Deployments, PVCs, roles), so they run
on a sandbox of their own, never the project's. Every test module in this directory shares it
(one xdist group per test directory, see tests/conftest.py; the fixture starts once per session)
and each test leaves it at scenario ``normal`` (``mitigation_sandbox.scenario(name)``), which
removes exactly what the scenario's cause created.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from private_sandbox import PrivateSandbox, private_sandbox

MitigationSandbox = PrivateSandbox


@pytest.fixture(scope="session")
def mitigation_sandbox() -> Iterator[PrivateSandbox]:
    with private_sandbox("noa-mitigation-test-") as box:
        yield box


@pytest.fixture
def runner_env(mitigation_sandbox: PrivateSandbox, reports_dir: Path,
               monkeypatch: pytest.MonkeyPatch) -> PrivateSandbox:
    """The records runner pointed at the private sandbox (records under ``reports_dir``)."""
    monkeypatch.setenv("NOA_CONFIG", str(mitigation_sandbox.config_file))
    monkeypatch.delenv("NOA_NOTEBOOKS_DIR", raising=False)
    monkeypatch.delenv("NOA_TARGET", raising=False)
    return mitigation_sandbox
