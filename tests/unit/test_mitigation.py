"""run_mitigation: dry run, cure, failed verify → revert, irreversible change, protected target."""

from __future__ import annotations

from typing import Any

import pytest

from noa_lib.config import Target
from noa_lib.errors import UnsafeActionRefused
from noa_lib.ops.findings import Status
from noa_lib.ops.mitigation import Mitigation, Verdict, run_mitigation
from noa_lib.ops.safety import Change, Plan


def _target(protected: bool = False) -> Target:
    return Target(name="prod" if protected else "dev", protected=protected)


class _World:
    """A setting the plan changes and the verify reads."""

    def __init__(self) -> None:
        self.value = 1
        self.calls: list[str] = []

    def plan(self, target: Target, to: int) -> Plan:
        def perform() -> None:
            self.calls.append(f"set {to}")
            self.value = to
        return Plan("set value", target, (Change("config/x", "value", self.value, to),), perform)


def _no_sleep(_: float) -> None:
    return None


def test_dry_run_changes_nothing_and_does_not_verify() -> None:
    world = _World()
    verified: list[int] = []

    def verify() -> Verdict:
        verified.append(1)
        return Verdict(True, "fine")

    outcome = run_mitigation(Mitigation(world.plan(_target(), 5), verify))
    assert outcome.status == "dry-run" and world.value == 1 and not world.calls
    assert not verified and outcome.findings[0].status is Status.SKIPPED
    assert outcome.figures() == {"mitigation": "dry-run", "verified": False}


def test_applied_and_verified_is_cured() -> None:
    world = _World()
    outcome = run_mitigation(
        Mitigation(world.plan(_target(), 5), lambda: Verdict(world.value == 5, "value is 5")),
        dry_run=False, sleep=_no_sleep)
    assert outcome.status == "cured" and outcome.cured and world.value == 5
    assert [f.status for f in outcome.findings] == [Status.OK, Status.OK]


def test_failed_verify_reverts_and_says_so() -> None:
    world = _World()
    target = _target()
    attempts: list[int] = []

    def verify() -> Verdict:
        attempts.append(world.value)
        return Verdict(False, "still broken", {"value": world.value})

    outcome = run_mitigation(
        Mitigation(world.plan(target, 5), verify, revert=lambda: world.plan(target, 1),
                   verify_timeout_s=0.05, verify_interval_s=0.01),
        dry_run=False)
    assert outcome.status == "reverted" and world.value == 1
    assert world.calls == ["set 5", "set 1"] and len(attempts) >= 2
    assert outcome.reverted is not None and outcome.reverted.applied
    statuses = {f.check: f.status for f in outcome.findings}
    assert statuses["verify"] is Status.CRITICAL and statuses["revert"] is Status.WARNING
    assert "still broken" in outcome.findings[1].message


def test_verify_that_raises_is_a_failed_verdict() -> None:
    world = _World()

    def verify() -> Verdict:
        raise ConnectionError("prometheus down")

    outcome = run_mitigation(Mitigation(world.plan(_target(), 5), verify, verify_timeout_s=0),
                             dry_run=False, sleep=_no_sleep)
    assert outcome.status == "not cured" and world.value == 5
    assert outcome.verdict is not None and "prometheus down" in outcome.verdict.message
    assert any(f.check == "revert" and "cannot be reverted" in f.message
               for f in outcome.findings)


def test_protected_target_needs_confirm_before_anything_changes() -> None:
    world = _World()
    target = _target(protected=True)
    mitigation = Mitigation(world.plan(target, 5), lambda: Verdict(True, "ok"))
    with pytest.raises(UnsafeActionRefused, match="confirm='prod'"):
        run_mitigation(mitigation, dry_run=False)
    assert world.value == 1 and not world.calls
    outcome: Any = run_mitigation(mitigation, dry_run=False, confirm="prod", sleep=_no_sleep)
    assert outcome.status == "cured" and world.value == 5


def test_empty_plan_is_nothing_to_do() -> None:
    plan = Plan("set value", _target(), (), lambda: None)
    outcome = run_mitigation(Mitigation(plan, lambda: Verdict(False, "never read")),
                             dry_run=False)
    assert outcome.status == "nothing to do" and outcome.verdict is None


def test_record_mitigation_marks_the_incident_mitigated_only_when_cured(tmp_path: Any) -> None:
    from noa_lib.records.incident_status import record_mitigation
    from noa_lib.records.incidents import IncidentStore

    store = IncidentStore(tmp_path)
    incident = store.open(title="pool exhausted", severity="P1")
    world = _World()
    target = _target()
    dry = run_mitigation(Mitigation(world.plan(target, 5), lambda: Verdict(True, "ok")))
    assert record_mitigation(incident.id, dry, runbook="incident/x", root=tmp_path) is None
    assert store.get(incident.id).status == "detected"
    failed = run_mitigation(
        Mitigation(world.plan(target, 5), lambda: Verdict(False, "pool still full"),
                   revert=lambda: world.plan(target, 1), verify_timeout_s=0),
        dry_run=False, sleep=_no_sleep)
    after = record_mitigation(incident.id, failed, runbook="incident/x", root=tmp_path)
    assert after is not None and after.status == "detected"
    cured = run_mitigation(Mitigation(world.plan(target, 5), lambda: Verdict(True, "pool 40 %")),
                           dry_run=False, sleep=_no_sleep)
    done = record_mitigation(incident.id, cured, runbook="incident/x", by="sre", root=tmp_path)
    assert done is not None and done.status == "mitigated"
    assert "mitigated" in done.status_times
    notes = " ".join(str(e) for e in store.get(incident.id).as_dict()["history"])
    assert "reverted" in notes and "pool 40 %" in notes
    assert record_mitigation(None, cured, runbook="incident/x", root=tmp_path) is None
