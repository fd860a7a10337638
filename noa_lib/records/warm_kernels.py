"""Warm kernels for alert runs: a Python kernel started and its imports done before the alert.

An alert's run spends most of its time before its first query: starting the kernel and importing
the library with its clients (the Kubernetes client alone takes a second or more). ``noa alerts
serve`` keeps :class:`WarmKernels` — ``size`` kernels started ahead with :data:`PRELOAD` imported
— and each alert run takes one (:meth:`WarmKernels.take`); a replacement starts in the background
at once. A kernel serves **one** run and is shut down after it, so runs never share state: a warm
kernel is a fresh kernel that has only imported modules, exactly as a cold one would at its first
cells. The run's environment (``NOA_RECORD``, ``NOA_REPORTS_DIR``, ``NOA_CONFIG``) and working
directory are set in the kernel when it is taken. When no kernel is ready (first alert, a burst,
a kernel that died), the run starts a cold kernel as usual.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PRELOAD = (
    "import noa_lib, noa_lib.ops.targets, noa_lib.records.incident_triage, "
    "noa_lib.show.incident_triage, noa_lib.ops.alert_triage, noa_lib.show.triage, "
    "noa_lib.show.findings, noa_lib.show.outcome, noa_lib.clients.kubernetes, "
    "noa_lib.clients.prometheus, pandas"
)
"""What a warm kernel imports ahead: the library and what the alert runbooks' cells use."""
KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]
START_TIMEOUT_S = 60.0


class WarmKernels:
    """Up to ``size`` started kernels with :data:`PRELOAD` imported; thread-safe."""

    def __init__(self, size: int = 1, *, preload: str = PRELOAD) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self.preload = preload
        self._ready: deque[Any] = deque()
        self._lock = threading.Lock()
        self._starting = 0
        self._closed = False
        self.taken = 0
        self.missed = 0
        for _ in range(size):
            self._refill()

    def take(self, *, cwd: Path, env: Mapping[str, str]) -> Any | None:
        """A started kernel's manager with ``env`` and ``cwd`` applied, or ``None`` when none is
        ready (the caller starts a cold one). The caller owns it and shuts it down after the run;
        a replacement is already starting."""
        with self._lock:
            km = self._ready.popleft() if self._ready else None
        self._refill()
        if km is None:
            self.missed += 1
            return None
        try:
            if not km.is_alive():
                raise RuntimeError("the warm kernel died while waiting")
            _execute(km, "import os, json\n"
                     f"os.chdir({str(cwd)!r})\n"
                     f"os.environ.update(json.loads({json.dumps(dict(env))!r}))")
        except Exception:  # noqa: BLE001 - a broken warm kernel: the run goes cold
            log.warning("a warm kernel could not be prepared; starting a cold one", exc_info=True)
            _shutdown(km)
            self.missed += 1
            return None
        self.taken += 1
        return km

    def close(self) -> None:
        """Shut every ready kernel down (a kernel still starting is shut down when it is up)."""
        with self._lock:
            self._closed = True
            ready = list(self._ready)
            self._ready.clear()
        for km in ready:
            _shutdown(km)

    def ready(self) -> int:
        with self._lock:
            return len(self._ready)

    def _refill(self) -> None:
        with self._lock:
            if self._closed or len(self._ready) + self._starting >= self.size:
                return
            self._starting += 1
        threading.Thread(target=self._start_one, name="warm-kernel", daemon=True).start()

    def _start_one(self) -> None:
        km = None
        try:
            from jupyter_client.manager import KernelManager

            km = KernelManager(kernel_name="python3")
            km.start_kernel(extra_arguments=KERNEL_ARGS)
            _execute(km, self.preload)
        except Exception:  # noqa: BLE001 - no warm kernel this time; runs start cold
            log.warning("could not start a warm kernel", exc_info=True)
            if km is not None:
                _shutdown(km)
            km = None
        with self._lock:
            self._starting -= 1
            keep = km is not None and not self._closed
            if keep:
                self._ready.append(km)
        if km is not None and not keep:
            _shutdown(km)


def _execute(km: Any, code: str) -> None:
    """Run ``code`` in the kernel and wait for it; raises when it fails."""
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=START_TIMEOUT_S)
        reply = kc.execute_interactive(code, timeout=START_TIMEOUT_S, output_hook=_quiet,
                                       store_history=False)
        if reply["content"].get("status") != "ok":
            content = reply["content"]
            raise RuntimeError(f"{content.get('ename')}: {content.get('evalue')}")
    finally:
        kc.stop_channels()


def _quiet(_: Any) -> None:
    return None


def _shutdown(km: Any) -> None:
    try:
        km.shutdown_kernel(now=True)
    except Exception:  # noqa: BLE001 - already gone
        log.debug("warm kernel shutdown failed", exc_info=True)


__all__ = ["PRELOAD", "WarmKernels"]
