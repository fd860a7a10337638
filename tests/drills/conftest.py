"""One PRIVATE full sandbox for the automated drills (beside the mitigation tests' own, so the two
groups run on different workers at once)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from private_sandbox import PrivateSandbox, private_sandbox


@pytest.fixture(scope="session")
def drill_sandbox() -> Iterator[PrivateSandbox]:
    with private_sandbox("noa-drill-test-") as box:
        yield box


@pytest.fixture
def drill_env(drill_sandbox: PrivateSandbox, reports_dir: Path,
              monkeypatch: pytest.MonkeyPatch) -> PrivateSandbox:
    """The records runner pointed at the drill sandbox (records under ``reports_dir``)."""
    monkeypatch.setenv("NOA_CONFIG", str(drill_sandbox.config_file))
    monkeypatch.delenv("NOA_NOTEBOOKS_DIR", raising=False)
    monkeypatch.delenv("NOA_TARGET", raising=False)
    return drill_sandbox
