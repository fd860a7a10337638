"""Every runbook in notebooks/ runs against the real sandbox: through the runner and under nbval."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from runbook_plans import (
    INCIDENT_RUNBOOKS,
    INCIDENT_RUNS,
    PARAMETERS,
    PREREQUISITES,
    incident_parameters,
)

from noa_lib.records.catalog import Catalog
from noa_lib.records.incidents import IncidentStore
from noa_lib.records.runner import ExitCode, RunRequest, run

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = [b.id for b in Catalog(ROOT / "notebooks").runbooks()]
# runbooks with a required parameter cannot run on defaults (nbval); the runner test gives them one
NEEDS_VALUES = sorted(b.id for b in Catalog(ROOT / "notebooks").runbooks()
                      if any(p.required for p in b.parameters))

pytestmark = [pytest.mark.notebooks, pytest.mark.integration]


@pytest.fixture
def project_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOA_CONFIG", str(ROOT / "noa.toml"))
    monkeypatch.delenv("NOA_NOTEBOOKS_DIR", raising=False)
    monkeypatch.delenv("NOA_TARGET", raising=False)


@pytest.mark.parametrize("runbook", RUNBOOKS)
def test_runbook_runs_on_the_sandbox_through_the_runner(
    runbook: str, sandbox_target, project_config, reports_dir: Path
):
    for prerequisite, params in PREREQUISITES.get(runbook, []):
        before = run(RunRequest(prerequisite, params, target="sandbox"))
        assert before.exit_code == ExitCode.SUCCEEDED, (prerequisite, before.message)
    params = {**PARAMETERS.get(runbook, {}), **incident_parameters(runbook, reports_dir)}
    if runbook in INCIDENT_RUNS:
        params["incident"] = scripted_incident(reports_dir, INCIDENT_RUNS[runbook])
    result = run(RunRequest(runbook, params, target="sandbox"))
    nb = json.loads(Path(result.record).read_text())
    meta = nb["metadata"]["noa"]
    assert result.exit_code == ExitCode.SUCCEEDED, meta.get("error")
    assert meta["status"] == "succeeded" and meta["target"] == "sandbox"
    assert meta["outcome"].get("status") in ("ok", "warning"), meta["outcome"]
    assert meta["outcome"]["findings"], "a runbook reports what it checked"
    assert result.html is not None and result.html.stat().st_size > 10_000


def scripted_incident(reports_dir: Path, runs: list[tuple[str, dict[str, str]]]) -> str:
    """Open an incident, run ``runs`` for it, take it through to resolved; return its id."""
    store = IncidentStore(reports_dir)
    incident = store.open(title="notebook test incident", severity="P2", commander="ana")
    store.update(incident.id, status="investigating")
    for runbook, params in runs:
        linked = run(RunRequest(runbook, params, target="sandbox", incident=incident.id))
        assert linked.exit_code == ExitCode.SUCCEEDED, (runbook, linked.message)
    store.update(incident.id, status="mitigated")
    store.resolve(incident.id)
    return incident.id


def test_every_notebook_passes_nbval(sandbox_target):
    assert set(NEEDS_VALUES) <= INCIDENT_RUNBOOKS, "a required parameter without test values"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOA_")}
    books = [f"notebooks/{b}.ipynb" for b in RUNBOOKS if b not in NEEDS_VALUES]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
         "--timeout", "600", *books],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout
