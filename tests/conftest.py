"""Shared fixtures.

``fixture_runbooks`` points the runner at the fixture notebooks/config (no backends needed).
``sandbox_target`` makes sure the project's sandbox is up (the same one `make demo` uses) and
returns its ``Target``: the services are real; if they cannot start, the tests fail, never skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Private sandboxes in tests skip the 91-day Prometheus backfill (tens of seconds each); the
# project sandbox and the test that checks the backfill itself ask for it explicitly.
os.environ.setdefault("NOA_SANDBOX_HISTORY", "0")


@contextmanager
def sandbox_history(enabled: bool = True) -> Iterator[None]:
    """Within the block, a sandbox started cold backfills Prometheus history (or not)."""
    saved = os.environ.get("NOA_SANDBOX_HISTORY")
    os.environ["NOA_SANDBOX_HISTORY"] = "1" if enabled else "0"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("NOA_SANDBOX_HISTORY", None)
        else:
            os.environ["NOA_SANDBOX_HISTORY"] = saved


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With pytest-xdist (``make test`` runs ``-n 2 --dist loadgroup``), keep together what must
    not run concurrently: every test that uses the shared project sandbox runs in one group, in
    order (scenarios, rollouts and records would disturb each other), and the rest stays together
    by test directory, so session and module fixtures (private sandboxes) start once."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        uses_project = "sandbox_state" in getattr(item, "fixturenames", ())
        group = "project-sandbox" if uses_project else item.path.parent.name
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture
def reports_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private records root for one test."""
    path = tmp_path / "reports"
    monkeypatch.setenv("NOA_REPORTS_DIR", str(path))
    return path


@pytest.fixture
def fixture_runbooks(reports_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the fixture notebooks with the fixture configuration; returns the reports root."""
    monkeypatch.setenv("NOA_CONFIG", str(FIXTURES / "noa.toml"))
    monkeypatch.setenv("NOA_NOTEBOOKS_DIR", str(FIXTURES / "notebooks"))
    monkeypatch.delenv("NOA_TARGET", raising=False)
    return reports_dir


@pytest.fixture(scope="session")
def sandbox_state() -> Iterator[Path]:
    """The project's sandbox, started if needed (idempotent), left running for later use."""
    import noa_sandbox as sandbox

    with sandbox_history():
        state = sandbox.up(progress=lambda line: print(f"[sandbox] {line}"))
    assert state.healthy, f"sandbox did not come up: {state.to_dict()}"
    yield state.state_dir


@pytest.fixture(scope="session")
def sandbox_target(sandbox_state: Path) -> object:
    """The ``sandbox`` target of the project's configuration (real PostgreSQL and S3)."""
    from noa_lib.config import load_config

    saved = os.environ.pop("NOA_CONFIG", None)
    try:
        return load_config(ROOT / "noa.toml").target("sandbox")
    finally:
        if saved is not None:
            os.environ["NOA_CONFIG"] = saved
