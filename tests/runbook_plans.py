"""How tests run every runbook on the sandbox: what must exist first, and non-default values.

Shared by the notebook execution test and the end-to-end secrets test so both exercise each
runbook the same meaningful way on a fresh sandbox.
"""

from __future__ import annotations

from pathlib import Path

# Runbooks that need something to exist first (a backup before a restore drill…): the runs, with
# parameters, that make their default-parameter run meaningful on a fresh sandbox.
PREREQUISITES: dict[str, list[tuple[str, dict[str, str]]]] = {
    "backup/validate_backup": [("backup/full_backup", {"dry_run": "false"})],
    # a fresh base backup keeps the WAL to replay short (the project sandbox writes a lot of it)
    "backup/pitr_restore": [
        ("backup/wal_archiving", {"take_base_backup": "true", "dry_run": "false"})
    ],
}
# Non-default parameters for the execution test (e.g. to keep a drill small).
PARAMETERS: dict[str, dict[str, str]] = {
    "backup/full_backup": {"dry_run": "false"},
    # one real restore of the project sandbox (latest); the default dry run runs under nbval
    "backup/pitr_restore": {"dry_run": "false"},
    # a published release newer than the seeded one: registry, dry run and tag checks all run
    "deployment/pre_deployment_checklist": {"image_tag": "2.15.1"},
    "incident/post_incident_review": {"action_items": "alert on 5xx | ana | 2099-01-31"},
    "incident/oncall_handoff": {"shift_hours": "1"},
    # incident/security_breach: diagnose NOA Server's role and plan its rotation (a dry run; the
    # default run, no credential, lists the credentials in scope under nbval)
    "incident/security_breach": {"credential": "postgres:noa_app"},
}
# Runbooks about an incident: the test opens one, runs these runbooks for it (`--incident`, so their
# records are linked), moves it to resolved and passes its id as the `incident` parameter.
INCIDENT_RUNS: dict[str, list[tuple[str, dict[str, str]]]] = {
    "incident/post_incident_review": [("monitoring/connectivity_check", {})],
}
# Runbooks that act on an incident (a required `incident` parameter): the execution tests open one
# in the run's records root and pass its id. Under nbval (defaults only) they cannot run.
INCIDENT_RUNBOOKS: frozenset[str] = frozenset({"incident/communication",
                                               "incident/post_incident_review"})


def incident_parameters(runbook: str, reports_dir: Path) -> dict[str, str]:
    """``{"incident": <id>}`` of an incident opened now under ``reports_dir`` for a runbook in
    :data:`INCIDENT_RUNBOOKS`; nothing for the others."""
    if runbook not in INCIDENT_RUNBOOKS or runbook in INCIDENT_RUNS:  # those get a scripted one
        return {}
    from noa_lib.records.incidents import IncidentStore

    opened = IncidentStore(reports_dir).open(
        title=f"execution test of {runbook}", severity="P2", commander="tests"
    )
    return {"incident": opened.id}
