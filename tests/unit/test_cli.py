from __future__ import annotations

import json
from pathlib import Path

import pytest

from noa_lib.cli import main


def test_list_shows_every_fixture_runbook_with_risk(fixture_runbooks: Path, capsys):
    assert main(["list", "--json"]) == 0
    rows = {r["runbook"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["testing/mutating"]["risk"] == "mutating"
    assert rows["testing/typed"]["risk"] == "read-only"
    assert rows["testing/typed"]["purpose"] == "Fixture runbook used by the runner tests."


def test_show_lists_parameters(fixture_runbooks: Path, capsys):
    assert main(["show", "testing/required"]) == 0
    out = capsys.readouterr().out
    assert "incident_id" in out and "(required)" in out


def test_unknown_runbook_suggests_close_matches(fixture_runbooks: Path, capsys):
    assert main(["show", "testing/mutatin"]) == 2
    assert "did you mean: testing/mutating" in capsys.readouterr().err


def test_run_help_documents_exit_codes(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for code in ("0 ", "1 ", "2 ", "3 "):
        assert f"\n  {code}" in out


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["frobnicate"])
    assert exit_.value.code == 2


def test_sandbox_commands_come_from_the_installed_sandbox_distribution(capsys):
    assert main(["sandbox", "scenario", "--list"]) == 0
    assert "error-spike" in capsys.readouterr().out


def test_without_the_sandbox_installed_noa_sandbox_says_how_to_install_it(monkeypatch, capsys):
    import importlib.metadata

    real = importlib.metadata.entry_points

    def without_sandbox(**select):
        return [e for e in real(**select) if e.value.split(".")[0] != "noa_sandbox"]

    monkeypatch.setattr(importlib.metadata, "entry_points", without_sandbox)
    assert main(["sandbox", "up", "--with-alertmanager"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["noa: the sandbox is not installed: from a clone of noa-runbooks run "
                   "`make bootstrap` (or `pip install ./sandbox`)"]
    assert main(["list", "--json"]) == 0  # every other command works without it
