"""Fixtures of the backup tests.

``pitr_sandbox`` is a PRIVATE sandbox without the NOA data (its own PostgreSQL archiving WAL
into its own SeaweedFS), shared by the WAL-archiving and PITR tests of one session: they delete
archived segments, push probe objects and start restored clusters, which the project sandbox
must not see. Its state directory is a 0755 temporary directory (the ``postgres`` user must
traverse it).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import noa_sandbox as sandbox
from noa_lib.config import Target, load_config


@dataclass(frozen=True)
class PrivateSandbox:
    state_dir: Path
    target: Target

    def secret(self, name: str) -> str:
        return (self.state_dir / "secrets" / name).read_text().strip()


@pytest.fixture(scope="session")
def pitr_sandbox() -> Iterator[PrivateSandbox]:
    root = Path(tempfile.mkdtemp(prefix="noa-pitr-test-"))
    root.chmod(0o755)
    state = root / "state"
    try:
        status = sandbox.up(state, load_data=False)  # role + empty database: fast
        assert status.healthy, status.to_dict()
        target = load_config(state / "target.toml", env={}).target("sandbox")
        yield PrivateSandbox(state, target)
    finally:
        sandbox.down(state)
        shutil.rmtree(root, ignore_errors=True)
