"""Warm kernels: a run on a kernel started ahead is the same run as on a cold one — its own
process, the run's working directory and environment — and every kernel serves one run only."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from noa_lib.records.runner import RunRequest, run
from noa_lib.records.warm_kernels import WarmKernels

pytestmark = pytest.mark.notebooks


def _outcome(result) -> dict:
    return json.loads(Path(result.record).read_text())["metadata"]["noa"]["outcome"]["figures"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_ready(kernels: WarmKernels, n: int = 1, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while kernels.ready() < n:
        assert time.monotonic() < deadline, "no warm kernel within the timeout"
        time.sleep(0.1)


def test_warm_runs_get_their_own_kernel_environment_and_directory(fixture_runbooks: Path):
    kernels = WarmKernels(1)
    try:
        _wait_ready(kernels)
        first = run(RunRequest("testing/whoami", {"label": "one"}, html=False, kernels=kernels))
        _wait_ready(kernels)
        second = run(RunRequest("testing/whoami", {"label": "two"}, html=False, kernels=kernels))
        cold = run(RunRequest("testing/whoami", {"label": "cold"}, html=False))
    finally:
        kernels.close()
    a, b, c = _outcome(first), _outcome(second), _outcome(cold)
    assert first.exit_code == second.exit_code == 0
    assert kernels.taken == 2 and kernels.missed == 0
    assert a["preloaded"] is True and c["preloaded"] is False  # warm ones imported ahead
    assert a["pid"] != b["pid"] and not _alive(a["pid"]) and not _alive(b["pid"])
    for figures, result in ((a, first), (b, second), (c, cold)):
        assert figures["record"] == str(result.record)  # the run's own NOA_RECORD
        assert figures["reports"] == str(fixture_runbooks)
        assert figures["cwd"] == c["cwd"] and figures["cwd"].endswith("testing")


def test_without_a_ready_kernel_the_run_starts_cold(fixture_runbooks: Path):
    kernels = WarmKernels(1)
    kernels.close()  # nothing ready, nothing will be
    result = run(RunRequest("testing/whoami", {"label": "x"}, html=False, kernels=kernels))
    assert result.exit_code == 0 and kernels.missed == 1 and kernels.taken == 0
    assert _outcome(result)["preloaded"] is False
