"""The PITR modules import one way: pitr (plan, outcome) -> pitr_restore (do it) -> pitr_plan
(the shared types). A cycle, even through a TYPE_CHECKING import, fails here."""

from __future__ import annotations

import grimp

PLAN = "noa_lib.ops.backup.pitr"
RESTORE = "noa_lib.ops.backup.pitr_restore"
TYPES = "noa_lib.ops.backup.pitr_plan"


def test_pitr_modules_import_one_way() -> None:
    graph = grimp.build_graph("noa_lib")  # TYPE_CHECKING imports included
    assert graph.chain_exists(importer=PLAN, imported=RESTORE)
    assert graph.chain_exists(importer=RESTORE, imported=TYPES)
    assert not graph.chain_exists(importer=RESTORE, imported=PLAN)
    assert not graph.chain_exists(importer=TYPES, imported=RESTORE)
    assert not graph.chain_exists(importer=TYPES, imported=PLAN)


def test_the_types_stay_importable_from_pitr() -> None:
    from noa_lib.ops.backup import pitr, pitr_plan

    assert pitr.RestorePlan is pitr_plan.RestorePlan
    assert pitr.RecoveryTarget is pitr_plan.RecoveryTarget and pitr.LATEST == "latest"
    assert pitr.parse_target("2026-11-26T10:15:00Z").kind == "time"
