"""The runner against real kernels (papermill), with fixture notebooks that pin its behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from noa_lib.cli import main
from noa_lib.errors import ConfigError, ParameterError
from noa_lib.records.runner import ExitCode, RunRequest, Trigger, run

pytestmark = pytest.mark.notebooks


def record_of(result) -> dict:
    return json.loads(Path(result.record).read_text())


def test_success_writes_record_html_metadata_and_index(fixture_runbooks: Path):
    result = run(RunRequest("testing/typed", {"tag": "1.10", "replicas": "4", "mode": "fast"},
                            trigger=Trigger("cron")))
    assert result.exit_code == ExitCode.SUCCEEDED and result.status == "succeeded"
    assert result.record.parent == fixture_runbooks / "testing" / "typed"
    assert result.html is not None and "<html" in result.html.read_text()[:500].lower()
    meta = record_of(result)["metadata"]["noa"]
    assert meta["run_id"] == result.run_id and meta["runbook"] == "testing/typed"
    assert meta["status"] == "succeeded"
    assert meta["trigger"] == {"kind": "cron", "fingerprint": None}
    assert meta["parameters"]["tag"] == "1.10"
    assert len(meta["source"]["sha256"]) == 64 and "@" in meta["operator"]
    figures = meta["outcome"]["figures"]
    assert figures["tag"] == "1.10" and figures["tag_type"] == "str"  # typed, not guessed
    assert figures["replicas"] == 4 and figures["mode"] == "fast"
    assert meta["started_at"] <= meta["ended_at"]
    import nbformat

    nbformat.validate(nbformat.read(str(result.record), as_version=4))  # opens in JupyterLab
    from noa_lib.records.index import RecordIndex

    [summary] = RecordIndex(fixture_runbooks).query(runbook="testing/typed")
    assert summary.run_id == result.run_id and summary.status == "succeeded"


def test_bad_parameters_fail_before_anything_runs(fixture_runbooks: Path):
    with pytest.raises(ParameterError, match="replicas"):
        run(RunRequest("testing/typed", {"replicas": "many"}))
    with pytest.raises(ParameterError, match="did you mean: testing/typed"):
        run(RunRequest("testing/typd"))
    with pytest.raises(ConfigError, match="configured targets"):
        run(RunRequest("testing/typed", target="nowhere"))
    assert not fixture_runbooks.exists() or not any(fixture_runbooks.rglob("*.ipynb"))


def test_failing_runbook_keeps_a_record_with_the_error(fixture_runbooks: Path):
    result = run(RunRequest("testing/broken"))
    assert result.exit_code == ExitCode.FAILED and result.status == "failed"
    nb = record_of(result)
    meta = nb["metadata"]["noa"]
    assert meta["error"]["ename"] == "StepFailed" and "row counts" in meta["error"]["evalue"]
    assert any("papermill-error-cell-tag" in c["metadata"].get("tags", []) for c in nb["cells"])


def test_unreachable_backend_is_an_infrastructure_exit(fixture_runbooks: Path):
    result = run(RunRequest("testing/unavailable"))
    assert result.exit_code == ExitCode.INFRASTRUCTURE and result.status == "failed"


def test_kernel_killed_mid_run_leaves_a_failed_record(fixture_runbooks: Path):
    result = run(RunRequest("testing/die"))
    assert result.exit_code == ExitCode.INFRASTRUCTURE and result.status == "failed"
    nb = record_of(result)
    assert nb["metadata"]["noa"]["error"]["ename"] == "DeadKernelError"
    assert "noa-error-banner" in nb["cells"][0]["metadata"]["tags"]
    printed = [o.get("text", "") for c in nb["cells"] for o in c.get("outputs", [])]
    assert any("about to die" in "".join(t) for t in printed)  # work before the death is kept


def test_system_exit_zero_is_stopped_early(fixture_runbooks: Path):
    result = run(RunRequest("testing/stop_early"))
    assert result.exit_code == ExitCode.SUCCEEDED and result.status == "stopped-early"


def test_mutating_dry_run_then_apply_is_in_the_timeline(fixture_runbooks: Path):
    dry = record_of(run(RunRequest("testing/mutating")))["metadata"]["noa"]
    assert [e["kind"] for e in dry["timeline"]] == ["dry-run"]
    assert dry["outcome"]["figures"] == {"replicas": 2, "applied": False}
    applied = record_of(run(RunRequest("testing/mutating", {"dry_run": "false"})))
    meta = applied["metadata"]["noa"]
    assert [e["kind"] for e in meta["timeline"]] == ["change-applied"]
    assert meta["timeline"][0]["changes"][0] == {
        "resource": "deployment/noa/api", "field": "spec.replicas", "before": 2, "after": 5}
    assert meta["outcome"]["figures"]["replicas"] == 5


def test_change_applied_before_a_failure_is_still_in_the_timeline(fixture_runbooks: Path):
    result = run(RunRequest("testing/mutating", {"dry_run": "false", "fail_after": "true"}))
    meta = record_of(result)["metadata"]["noa"]
    assert result.status == "failed"
    assert [e["kind"] for e in meta["timeline"]] == ["change-applied"]


def test_protected_target_refuses_without_confirm(fixture_runbooks: Path, monkeypatch):
    monkeypatch.setenv("NOA_TEST_PG_PASSWORD", "unused-pass-1")
    refused = run(RunRequest("testing/mutating", {"dry_run": "false"}, target="guarded"))
    meta = record_of(refused)["metadata"]["noa"]
    assert refused.exit_code == ExitCode.FAILED
    assert meta["error"]["ename"] == "UnsafeActionRefused" and meta["timeline"] == []
    ok = run(RunRequest("testing/mutating", {"dry_run": "false", "confirm": "guarded"},
                        target="guarded"))
    assert ok.exit_code == ExitCode.SUCCEEDED
    assert [e["kind"] for e in record_of(ok)["metadata"]["noa"]["timeline"]] == ["change-applied"]


def test_secrets_never_reach_records_html_index_or_output(fixture_runbooks: Path, monkeypatch,
                                                         capsys):
    token, password = "planted-token-8c1f4e", "pl4nted-pw!9d"
    monkeypatch.setenv("NOA_TEST_PLANTED_TOKEN", token)
    monkeypatch.setenv("NOA_TEST_PG_PASSWORD", password)  # also the guarded target's password
    code = main(["run", "testing/leaky", "-p", "note", f"echo {password}"])
    assert code == ExitCode.FAILED
    out = capsys.readouterr()
    files = [p for p in fixture_runbooks.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".ipynb", ".html", ".sqlite"}
    for blob in [out.out, out.err, *(p.read_bytes().decode("utf-8", "replace") for p in files)]:
        assert token not in blob and password not in blob
    nb = json.loads(next(fixture_runbooks.rglob("*.ipynb")).read_text())
    assert "[REDACTED]" in json.dumps(nb["metadata"]["papermill"]["parameters"])


def test_cli_exit_codes(fixture_runbooks: Path, capsys):
    assert main(["run", "testing/typed", "-p", "replicas", "x"]) == 2
    assert "replicas" in capsys.readouterr().err
    assert main(["run", "testing/required"]) == 2
    assert main(["run", "testing/typed", "--target", "nowhere"]) == 2
    assert main(["run", "testing/nope"]) == 2
    assert not any(fixture_runbooks.rglob("*.ipynb")) if fixture_runbooks.exists() else True


def test_parameters_file(fixture_runbooks: Path, tmp_path: Path):
    params = tmp_path / "p.yaml"
    params.write_text("replicas: 7\nnames: [a, b]\ntag: '2.0'\n")
    assert main(["run", "testing/typed", "-f", str(params), "-p", "tag", "3.10"]) == 0
    [record] = list(fixture_runbooks.rglob("*.ipynb"))
    figures = json.loads(record.read_text())["metadata"]["noa"]["outcome"]["figures"]
    assert figures["replicas"] == 7 and figures["names"] == "a,b" and figures["tag"] == "3.10"
    params.write_text("- not a mapping\n")
    assert main(["run", "testing/typed", "-f", str(params)]) == 2


def test_reports_cli_lists_filters_and_shows(fixture_runbooks: Path, capsys):
    ok = run(RunRequest("testing/typed"))
    bad = run(RunRequest("testing/broken"))
    capsys.readouterr()
    assert main(["reports", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in rows] == [bad.run_id, ok.run_id]  # newest first
    assert main(["reports", "list", "--status", "failed", "--since", "1h", "--json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [bad.run_id]
    assert main(["reports", "list", "--runbook", "testing/typed"]) == 0
    table = capsys.readouterr().out
    assert ok.run_id in table and bad.run_id not in table
    assert main(["reports", "show", bad.run_id[:6]]) == 0
    shown = capsys.readouterr().out
    assert "StepFailed" in shown and "testing/broken" in shown
    assert main(["reports", "show", "zzzz"]) == 2
    assert main(["reports", "list", "--since", "yesterday-ish"]) == 2
    assert "--since" in capsys.readouterr().err


def test_a_run_belongs_to_its_incident(fixture_runbooks: Path, capsys):
    """`noa run --incident` records the id, links the record, and the incident's timeline shows
    the run and its applied change; an unknown incident is a usage error before anything runs."""
    from noa_lib.records.incidents import IncidentStore

    assert main(["run", "testing/typed", "--incident", "INC-20000101-0000"]) == 2
    assert "no incident 'INC-20000101-0000'" in capsys.readouterr().err
    assert not any(fixture_runbooks.rglob("*.ipynb"))
    with pytest.raises(ParameterError, match="not an incident id"):
        run(RunRequest("testing/typed", incident="bogus"))
    store = IncidentStore(fixture_runbooks)
    incident = store.open(title="API 5xx", severity="P1", commander="ana")
    assert main(["run", "testing/mutating", "-p", "dry_run", "false",
                 "--incident", incident.id]) == 0
    [path] = fixture_runbooks.rglob("*.ipynb")
    meta = json.loads(path.read_text())["metadata"]["noa"]
    assert meta["incident"] == incident.id
    [link] = store.get(incident.id).records
    assert link["run_id"] == meta["run_id"] and link["runbook"] == "testing/mutating"
    assert (fixture_runbooks / link["record"]) == path
    capsys.readouterr()
    assert main(["reports", "list", "--incident", incident.id, "--json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [meta["run_id"]]
    assert main(["reports", "list", "--incident", "INC-20000101-0001", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["incident", "show", incident.id, "--json"]) == 0
    timeline = json.loads(capsys.readouterr().out)["timeline"]
    kinds = [e["kind"] for e in timeline]
    assert kinds == ["opened", "run-started", "change-applied", "run-ended"]
    change = timeline[2]
    assert change["run_id"] == meta["run_id"] and change["runbook"] == "testing/mutating"
    assert change["at"].replace("Z", "") <= timeline[3]["at"].replace("Z", "")


def test_incident_reaches_a_runbook_that_declares_it(fixture_runbooks: Path):
    """`--incident` fills an incident runbook's own `incident` parameter (the mitigations update
    their incident from it); a different `-p incident` is refused before anything runs."""
    from noa_lib.records.incidents import IncidentStore

    incident = IncidentStore(fixture_runbooks).open(title="API 5xx", severity="P1",
                                                    commander="ana")
    result = run(RunRequest("testing/incident", incident=incident.id))
    meta = json.loads(Path(result.record).read_text())["metadata"]["noa"]
    assert result.exit_code == ExitCode.SUCCEEDED, meta.get("error")
    assert meta["incident"] == incident.id
    assert meta["outcome"]["figures"]["incident"] == incident.id
    assert meta["parameters"]["incident"] == incident.id
    with pytest.raises(ParameterError, match="disagree"):
        run(RunRequest("testing/incident", {"incident": "INC-20000101-0000"},
                       incident=incident.id))
    plain = run(RunRequest("testing/incident"))
    plain_meta = json.loads(Path(plain.record).read_text())["metadata"]["noa"]
    assert plain_meta["outcome"]["figures"]["incident"] == "" and plain_meta["incident"] is None
