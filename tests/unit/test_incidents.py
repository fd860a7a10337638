"""Incidents as records: ids, transitions and their validation, overrides, locking across
processes, the index, redaction, and ``noa incident``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from noa_lib.cli import main
from noa_lib.errors import ParameterError
from noa_lib.records.incident_index import IncidentIndex
from noa_lib.records.incidents import IncidentStore, UnknownIncident, severity_of_label
from noa_lib.records.redaction import Redactor

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 12, 4, 2, 31, 17, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> IncidentStore:
    monkeypatch.setenv("NOA_OPERATOR", "ana@laptop")
    return IncidentStore(tmp_path / "reports", redactor=Redactor(["s3cr3t-value-xyz"]))


def test_id_is_the_detection_minute_with_a_suffix_when_taken(store):
    first = store.open(title="API 5xx", severity="P1", detected=AT)
    second = store.open(title="DB slow", severity="p2", detected=AT)
    third = store.open(title="again", severity="P3", detected=AT)
    assert [first.id, second.id, third.id] == [
        "INC-20261204-0231", "INC-20261204-0231-2", "INC-20261204-0231-3"]
    assert second.severity == "P2"
    assert first.detected_at == "2026-12-04T02:31:17.000000Z"
    assert first.respond_by == "2026-12-04T02:46:17.000000Z"  # P1: 15 minutes from detection
    stored = json.loads((store.dir / "INC-20261204-0231.json").read_text())
    assert stored["status"] == "detected" and stored["status_times"] == {
        "detected": "2026-12-04T02:31:17.000000Z"}
    assert stored["history"][0]["action"] == "opened" and stored["history"][0]["by"] == "ana@laptop"
    with pytest.raises(UnknownIncident, match="not an incident id"):
        store.get("../../etc/passwd")
    with pytest.raises(UnknownIncident, match="no incident"):
        store.get("INC-20000101-0000")


def test_status_moves_forward_with_a_time_each_and_back_only_by_reopen(store):
    inc = store.open(title="API 5xx", severity="P1", detected=AT)
    t1, t2, t3 = (datetime(2026, 12, 4, 2, m, tzinfo=UTC) for m in (35, 50, 58))
    store.update(inc.id, status="investigating", at=t1)
    store.update(inc.id, status="mitigated", note="rolled back", at=t2)
    with pytest.raises(ParameterError, match="cannot go back from mitigated to investigating"):
        store.update(inc.id, status="investigating")
    with pytest.raises(ParameterError, match="already mitigated"):
        store.update(inc.id, status="mitigated")
    with pytest.raises(ParameterError, match="--status 'closed'.*detected, investigating"):
        store.update(inc.id, status="closed")
    done = store.resolve(inc.id, note="v2.2 serves", at=t3)
    assert done.status == "resolved" and not done.is_open
    assert list(done.status_times) == ["detected", "investigating", "mitigated", "resolved"]
    assert done.status_times["mitigated"] == "2026-12-04T02:50:00.000000Z"
    with pytest.raises(ParameterError, match="needs --reason"):
        store.reopen(inc.id, reason=" ")
    back = store.reopen(inc.id, reason="errors returned", by="bo@oncall")
    assert back.status == "investigating" and "resolved" not in back.status_times
    last = back.history[-1]
    assert last["action"] == "reopened" and last["by"] == "bo@oncall"
    assert (last["before"], last["after"], last["reason"]) == (
        "resolved", "investigating", "errors returned")
    with pytest.raises(ParameterError, match="only a mitigated or resolved"):
        store.reopen(inc.id, reason="twice")
    statuses = [(h["before"], h["after"]) for h in back.history if h["action"] == "status"]
    assert statuses == [("detected", "investigating"), ("investigating", "mitigated"),
                        ("mitigated", "resolved")]


def test_severity_override_needs_a_reason_and_records_who_when_why(store):
    inc = store.open(title="API 5xx", severity="P2", detected=AT)
    with pytest.raises(ParameterError, match="--reason"):
        store.update(inc.id, severity="P0")
    with pytest.raises(ParameterError, match="--severity 'P7'.*P0, P1, P2, P3"):
        store.update(inc.id, severity="P7", reason="x")
    at = datetime(2026, 12, 4, 2, 40, tzinfo=UTC)
    up = store.update(inc.id, severity="P0", reason="payments down for every org", at=at,
                      by="lead@noa")
    assert up.severity == "P0" and up.respond_by == "2026-12-04T02:36:17.000000Z"
    override = up.history[-1]
    assert override == {"at": "2026-12-04T02:40:00.000000Z", "by": "lead@noa",
                        "action": "severity", "before": "P2", "after": "P0",
                        "reason": "payments down for every org"}
    up = store.update(inc.id, commander="ana")
    assert up.commander == "ana" and up.history[-1]["action"] == "commander"
    assert up.history[-1]["by"] == "ana@laptop"  # the operator from the environment
    with pytest.raises(ParameterError, match="nothing to update"):
        store.update(inc.id)


def test_secrets_never_reach_the_incident_file(store):
    inc = store.open(title="leak password=hunter22 s3cr3t-value-xyz", severity="P1",
                     commander="ana", note="dsn postgres://app:pw123456@db/noa")
    store.update(inc.id, note="token is s3cr3t-value-xyz")
    text = (store.dir / f"{inc.id}.json").read_text()
    for secret in ("hunter22", "s3cr3t-value-xyz", "pw123456"):
        assert secret not in text
    assert "[REDACTED]" in text and inc.id in text


WORKER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from noa_lib.records.incidents import IncidentStore
    from noa_lib.records.redaction import Redactor
    store = IncidentStore(Path(sys.argv[1]), redactor=Redactor())
    sys.stdin.readline()  # start together
    for i in range(int(sys.argv[4])):
        store.update(sys.argv[2], note=f"{sys.argv[3]}-{i}")
""")


def test_two_processes_updating_one_incident_keep_every_change(store):
    inc = store.open(title="race", severity="P2", detected=AT)
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(store.root), inc.id, name, "25"],
                         stdin=subprocess.PIPE, cwd=ROOT, text=True)
        for name in ("a", "b")
    ]
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    assert [worker.wait(120) for worker in workers] == [0, 0]
    notes = [h["text"] for h in store.get(inc.id).history if h["action"] == "note"]
    assert sorted(notes) == sorted(f"{n}-{i}" for n in "ab" for i in range(25))


def test_listing_comes_from_the_index_which_rebuilds_from_the_files(store):
    p1 = store.open(title="one", severity="P1", detected=AT)
    p3 = store.open(title="two", severity="P3", detected=datetime(2026, 12, 5, tzinfo=UTC))
    store.resolve(p1.id)
    assert [i.id for i in store.list()] == [p3.id]
    assert [i.id for i in store.list(status="resolved")] == [p1.id]
    assert [i.id for i in store.list(status="all")] == [p3.id, p1.id]  # newest detection first
    assert [i.id for i in store.list(status="all", severity="P1")] == [p1.id]
    assert [i.id for i in store.list(status="all", limit=1)] == [p3.id]
    assert store.list(status="resolved")[0].status == "resolved"  # rows carry the incident
    with pytest.raises(ParameterError, match="--status 'gone'.*open, resolved, all"):
        store.list(status="gone")
    index = IncidentIndex(store)
    index.path.write_bytes(b"not a database at all" * 100)  # corrupt: rebuilt from the files
    for suffix in ("-wal", "-shm"):
        Path(f"{index.path}{suffix}").unlink(missing_ok=True)
    assert [i.id for i in store.list(status="all")] == [p3.id, p1.id]
    index.path.unlink()
    assert [i.id for i in store.list(status="resolved")] == [p1.id]


def test_an_alert_group_opens_one_incident_and_joins_it_until_resolved(store):
    first, opened = store.open_or_join("{}:{alertname=\"HighErrorRate\"}", title="HighErrorRate",
                                       severity="P1", detected=AT)
    again, opened_again = store.open_or_join("{}:{alertname=\"HighErrorRate\"}", title="x",
                                             severity="P0")
    assert opened and not opened_again and again.id == first.id
    other, opened_other = store.open_or_join("{}:{alertname=\"DiskFull\"}", title="DiskFull",
                                             severity="P2")
    assert opened_other and other.id != first.id
    store.resolve(first.id)
    later, opened_later = store.open_or_join("{}:{alertname=\"HighErrorRate\"}", title="y",
                                             severity="P1")
    assert opened_later and later.id != first.id


@pytest.mark.parametrize(("label", "severity"), [("P0", "P0"), ("p3", "P3"), ("critical", "P1"),
                                                 ("warning", "P2"), ("info", "P3"), ("", "P2"),
                                                 (None, "P2"), ("weird", "P2")])
def test_alert_severity_label(label, severity):
    assert severity_of_label(label) == severity


def test_cli_open_update_list_show_resolve(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("NOA_OPERATOR", "cli@test")
    root = ["--reports-dir", str(tmp_path)]
    assert main(["incident", "open", "--severity", "p1", "--title", "API 5xx",
                 "--commander", "ana", "--group-key", "g1", *root]) == 0
    incident_id = capsys.readouterr().out.strip()
    assert incident_id.startswith("INC-")
    assert main(["incident", "update", incident_id, "--status", "investigating",
                 "--note", "looking", *root]) == 0
    assert main(["incident", "update", incident_id, "--severity", "P0", *root]) == 2
    assert "--reason" in capsys.readouterr().err
    assert main(["incident", "update", incident_id, "--severity", "P0", "--reason", "all orgs",
                 *root]) == 0
    assert main(["incident", "update", incident_id, "--status", "detected", *root]) == 2
    assert "cannot go back" in capsys.readouterr().err
    assert main(["incident", "list", "--json", *root]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["id"] == incident_id and listed["severity"] == "P0"
    assert listed["group_keys"] == ["g1"]
    assert main(["incident", "show", incident_id, "--json", *root]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [e["kind"] for e in shown["timeline"]] == ["opened", "status", "severity"]
    assert shown["timeline"][2]["by"] == "cli@test"
    assert main(["incident", "show", incident_id, *root]) == 0
    text = capsys.readouterr().out
    assert "severity P1 → P0 — all orgs" in text and "respond by" in text and "cli@test" in text
    assert main(["incident", "resolve", incident_id, "--note", "fixed", *root]) == 0
    assert main(["incident", "list", *root]) == 0
    assert "no incidents (open)" in capsys.readouterr().err
    assert main(["incident", "list", "--status", "resolved", *root]) == 0
    assert incident_id in capsys.readouterr().out
    assert main(["incident", "show", "INC-20000101-0000", *root]) == 2
    assert "no incident" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["open", "--severity", "P9", "--title", "x"],
    ["list", "--status", "closed"],
    ["update", "INC-20261204-0231", "--status", "done"],
])
def test_cli_bad_values_name_the_option_and_the_accepted_ones(argv, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["incident", *argv, "--reports-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    option = argv[1] if argv[0] != "update" else argv[2]
    assert f"argument {option}: invalid choice" in err and "choose from" in err
