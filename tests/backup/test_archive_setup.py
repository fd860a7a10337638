"""Setting up WAL archiving (ALTER SYSTEM) as a plan, on a private sandbox PostgreSQL."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from noa_lib.clients.postgres import connect, query
from noa_lib.errors import ParameterError, UnsafeActionRefused
from noa_lib.ops.backup.archive_setup import plan_archive_setup
from noa_lib.ops.safety import apply_plan

pytestmark = pytest.mark.integration


def setting(target, name: str) -> str:
    with connect(target.postgres, read_only=True) as conn:
        return str(query(conn, "SELECT setting FROM pg_settings WHERE name = %s", (name,))[0]
                   ["setting"])


def archived_count(target) -> int:
    with connect(target.postgres, read_only=True) as conn:
        return int(query(conn, "SELECT archived_count FROM pg_stat_archiver")[0]["archived_count"])


def switch_wal(target) -> None:
    with connect(target.postgres) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS archive_probe (at timestamptz DEFAULT now())")
        conn.execute("INSERT INTO archive_probe DEFAULT VALUES")
        conn.execute("SELECT pg_switch_wal()")


def test_already_configured_target_needs_no_change(pitr_sandbox):
    current = setting(pitr_sandbox.target, "archive_command")
    plan = plan_archive_setup(pitr_sandbox.target, archive_command=current)
    assert plan.empty


def test_not_requested_is_an_empty_plan(pitr_sandbox):
    assert plan_archive_setup(pitr_sandbox.target, archive_command=None).empty


def test_unusable_command_is_refused_before_anything(pitr_sandbox):
    with pytest.raises(ParameterError, match="%p") as err:
        plan_archive_setup(pitr_sandbox.target, archive_command="cp /nowhere")
    assert err.value.name == "archive_command"


def test_dry_run_changes_nothing_apply_changes_and_archiving_still_works(pitr_sandbox):
    target = pitr_sandbox.target
    original = setting(target, "archive_command")
    wanted = f"{original} && true"
    plan = plan_archive_setup(target, archive_command=wanted, archive_timeout_s=60)
    assert [c.field for c in plan.changes] == ["archive_command"]
    assert plan.changes[0].before == original and plan.changes[0].after == wanted
    assert "archive_command" in plan.rollback

    assert not apply_plan(plan, dry_run=True).applied
    assert setting(target, "archive_command") == original

    with pytest.raises(UnsafeActionRefused):
        apply_plan(replace(plan, target=replace(target, protected=True)), dry_run=False)
    assert setting(target, "archive_command") == original

    try:
        applied = apply_plan(plan, dry_run=False)
        assert applied.applied and applied.result == {"pending_restart": []}
        assert setting(target, "archive_command") == wanted
        before = archived_count(target)
        switch_wal(target)
        for _ in range(100):
            if archived_count(target) > before:
                break
            time.sleep(0.2)
        assert archived_count(target) > before, "the new archive_command archives"
    finally:
        restore = plan_archive_setup(target, archive_command=original)
        apply_plan(restore, dry_run=False)
    assert setting(target, "archive_command") == original
