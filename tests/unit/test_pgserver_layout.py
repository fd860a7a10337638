"""clients/pgserver is split by concern, and the helpers its modules share are defined once in the
whole repository (the sandbox included)."""

from __future__ import annotations

import re
from pathlib import Path

from noa_lib.clients import pgserver

ROOT = Path(__file__).resolve().parents[2]
SHARED = ("_read_tail", "read_tail", "tool_version", "port_open", "log_tail", "free_port")


def _definitions(name: str) -> list[str]:
    pattern = re.compile(rf"^\s*def {re.escape(name)}\(", re.MULTILINE)
    found = []
    for folder in ("noa_lib", "sandbox", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            if ".venv" not in path.parts and pattern.search(path.read_text(encoding="utf-8")):
                found.append(str(path.relative_to(ROOT)))
    return found


def test_shared_helpers_are_defined_once() -> None:
    places = {name: _definitions(name) for name in SHARED}
    assert places == {
        "_read_tail": [],
        "read_tail": ["noa_lib/clients/tool_output.py"],
        "tool_version": ["noa_lib/clients/tool_output.py"],
        "port_open": ["noa_lib/clients/ports.py"],
        "log_tail": ["noa_lib/clients/tool_output.py"],
        "free_port": ["noa_lib/clients/ports.py"],
    }


def test_each_concern_has_its_module_and_the_facade_keeps_every_name() -> None:
    expected = {
        "find_binaries": "binaries", "PgBinaries": "binaries",
        "RunAs": "osuser", "run_as": "osuser", "check_traversable": "osuser",
        "controldata": "controldata", "scan_wal": "waldump", "WalScan": "waldump",
        "BaseBackupStream": "basebackup", "extract_tar_gz": "tar",
        "start_cluster": "cluster", "stop_cluster": "cluster", "postmaster_pid": "cluster",
    }
    for name, module in expected.items():
        assert getattr(pgserver, name).__module__ == f"noa_lib.clients.pgserver.{module}", name
    for name in pgserver.__all__:
        assert hasattr(pgserver, name), name
    for path in (ROOT / "noa_lib/clients/pgserver").glob("*.py"):
        assert len(path.read_text().splitlines()) < 250, path  # small modules, one concern
