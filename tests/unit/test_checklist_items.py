"""Pre-deployment checklist rules: tags, versions, the window, sign-offs, the verdict."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from noa_lib.errors import ParameterError
from noa_lib.ops.deploy.checklist_items import (
    HUMAN_ITEMS,
    human_items,
    in_window,
    on_call,
    parse_semver,
    semver_key,
    tag_format,
    tag_newer,
    verdict,
)
from noa_lib.ops.findings import Finding, Status

WED_1030 = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(("tag", "status"), [
    ("2.15.1", Status.OK), ("v2.15.1", Status.OK), ("2.16.0-rc.1", Status.OK),
    ("latest", Status.CRITICAL), ("", Status.CRITICAL), ("2.15", Status.CRITICAL),
    ("main-abc123", Status.CRITICAL), ("02.1.0", Status.CRITICAL)])
def test_tag_format(tag: str, status: Status) -> None:
    assert tag_format(tag).status == status


def test_semver_precedence() -> None:
    ordered = ["1.9.9", "2.0.0-alpha", "2.0.0-alpha.1", "2.0.0-beta.2", "2.0.0-beta.11",
               "2.0.0-rc.1", "2.0.0", "2.0.1", "2.10.0"]
    keys = [semver_key(v) for v in (parse_semver(t) for t in ordered) if v is not None]
    assert keys == sorted(keys) and len(keys) == len(ordered)


def test_tag_newer() -> None:
    assert tag_newer("2.15.1", ["2.14.0"]).status == Status.OK
    assert tag_newer("2.14.0", ["2.14.0"]).status == Status.WARNING
    old = tag_newer("2.13.0", ["2.14.0", "2.12.0"])
    assert old.status == Status.CRITICAL and "rollback" in old.message
    assert tag_newer("2.15.0-rc.1", ["2.15.0"]).status == Status.CRITICAL
    assert tag_newer("2.15.0", []).status == Status.WARNING
    assert tag_newer("latest", ["2.14.0"]).status == Status.CRITICAL


def test_deployment_window() -> None:
    assert in_window(WED_1030, "09:00-17:00").status == Status.OK
    assert in_window(WED_1030, "11:00-17:00").status == Status.CRITICAL
    assert in_window(WED_1030, "22:00-11:00").status == Status.OK  # wraps midnight
    assert in_window(WED_1030, "09:00-17:00", "mon-thu").status == Status.OK
    assert in_window(WED_1030, "09:00-17:00", "thu,fri").status == Status.CRITICAL
    assert in_window(WED_1030, "09:00-17:00", "fri-wed").status == Status.OK  # wraps the week
    assert in_window(WED_1030, "").status == Status.CRITICAL
    for window, days, name in (("9-17", "", "deployment_window"),
                               ("25:00-26:00", "", "deployment_window"),
                               ("09:00-17:00", "someday", "deployment_days")):
        with pytest.raises(ParameterError) as info:
            in_window(WED_1030, window, days)
        assert info.value.name == name


def test_sign_offs_need_a_name() -> None:
    all_yes = {name: True for name in HUMAN_ITEMS}
    signed = human_items(all_yes, "Grace", WED_1030)
    assert {f.status for f in signed} == {Status.OK}
    assert all("Grace" in f.message and "2026-11-25 10:30" in f.message for f in signed)
    assert {f.status for f in human_items(all_yes, " ", WED_1030)} == {Status.CRITICAL}
    unsigned = human_items({}, "Grace", WED_1030)
    assert len(unsigned) == len(HUMAN_ITEMS) >= 10
    assert {f.status for f in unsigned} == {Status.CRITICAL}
    assert on_call("").status == Status.CRITICAL and on_call("Ada").status == Status.OK


def test_verdict() -> None:
    ok = Finding("a", Status.OK, "fine")
    warn = Finding("b", Status.WARNING, "hmm")
    bad = Finding("c", Status.CRITICAL, "no")
    down = Finding("d", Status.UNREACHABLE, "down")
    assert verdict([ok]).line() == "GO"
    assert verdict([ok, warn]).go and verdict([ok, warn]).caveats == ("b: hmm",)
    blocked = verdict([ok, warn, bad, down])
    assert not blocked.go and blocked.label == "NO-GO"
    assert blocked.reasons == ("c (critical)", "d (unreachable)")
    assert blocked.line().startswith("NO-GO — 2 blocking item(s)")
