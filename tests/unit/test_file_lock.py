"""``exclusive_flock``: one holder at a time across processes; a held lock times out with the
caller's own error, and the lock is released when the block ends."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from noa_lib.files import exclusive_flock

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(30)
"""


def test_a_lock_held_by_another_process_times_out_with_the_callers_error(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(LookupError, match="busy"), exclusive_flock(
                lock, timeout=0.3, busy=lambda: LookupError("busy")):
            pass
        assert time.monotonic() - started >= 0.3
    finally:
        holder.kill()
        holder.wait()
    with exclusive_flock(lock, timeout=5, busy=lambda: LookupError("still busy")):
        pass  # the holder is gone: the lock is free again


def test_the_lock_is_released_after_the_block(tmp_path: Path) -> None:
    lock = tmp_path / "sub" / "y.lock"
    for _ in range(2):
        with exclusive_flock(lock, timeout=1, busy=lambda: LookupError("busy")):
            assert lock.exists()
