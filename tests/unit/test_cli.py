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
