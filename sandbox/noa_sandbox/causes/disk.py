"""Scenario ``disk-filling``: the ``noa-uploads`` PVC really fills up.

The sandbox keeps a directory per volume (``<state>/volumes/<namespace>/<pvc>/``); the bytes of
the files in it are written on that PVC, on top of what the service ordinarily keeps there, and
the simulator's kubelets report them in the volume stats against the PVC's *current* capacity
(:func:`observer` → the observed ``volume_used``; ``status.capacity`` from the cluster). ``create``
starts a sandbox-owned filler process (:mod:`.filler`; pid and start time recorded) that writes
an upload batch from :data:`START_SHARE` of the capacity upwards at :data:`RATE_BYTES_S`; growing
the PVC (the resizer grows ``status.capacity``) or deleting the file ends the alert. ``remove``
stops that process and deletes exactly the file it wrote.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from noa_lib.clients import kube_apps
from noa_sandbox import processes
from noa_sandbox.causes import Cause, Observer, kubeapi, register
from noa_sandbox.causes.filler import FILE_NAME
from noa_sandbox.kube.quantity import parse_quantity
from noa_sandbox.layout import Layout
from noa_sandbox.simulator import catalog, model
from noa_sandbox.simulator.scenarios import Effects
from noa_sandbox.simulator.spec import read_spec

PVC = catalog.UPLOADS_PVC
START_SHARE = 0.93
"""Share of the capacity in use when the filler starts (above the 90 % critical threshold)."""
STOP_SHARE = 0.99
RATE_BYTES_S = 2 * catalog.MIB
"""How fast the upload batch grows (~7 GiB an hour)."""


def volumes_dir(layout: Layout) -> Path:
    """Where the sandbox keeps what is written on its volumes, one directory per PVC."""
    return layout.root / "volumes"


def volume_dir(layout: Layout, pvc: str, namespace: str = kubeapi.NAMESPACE) -> Path:
    return volumes_dir(layout) / namespace / pvc


def _ordinary(layout: Layout, pvc: str, now: float) -> float:
    """Bytes the service ordinarily keeps on ``pvc`` now (as the simulator computes them)."""
    spec = read_spec(layout.world_file)
    names = sorted({v.name for v in spec.infrastructure()[2]} | {pvc})
    seeded = {claim: size for claim, _, size in catalog.VOLUMES.values()}
    share = float(model.disk_share(now, spec.epoch, names.index(pvc) % 5))
    return share * float(seeded.get(pvc, 0.0))


def create(layout: Layout) -> dict[str, Any]:
    """Start the filler on ``noa-uploads``; returns its pid, start time and file."""
    pvc = kube_apps.get(kubeapi.settings(layout), "persistentvolumeclaims", PVC,
                        kubeapi.NAMESPACE)
    capacity = parse_quantity(((pvc.get("status") or {}).get("capacity") or {})["storage"])
    ordinary = _ordinary(layout, PVC, time.time())
    start = max(0.0, START_SHARE * capacity - ordinary)
    stop = max(start, STOP_SHARE * capacity - ordinary)
    directory = volume_dir(layout, PVC)
    directory.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "noa_sandbox.causes.filler", str(directory),
            "--start", f"{start:.0f}", "--rate", f"{RATE_BYTES_S:.0f}", "--stop", f"{stop:.0f}"]
    pid, started = processes.spawn_detached(argv, log_file=layout.log("disk-filler"),
                                            env=processes.python_env(), cwd=layout.root)
    path = directory / FILE_NAME
    processes.wait_for(path.exists, timeout=10.0)
    return {"pvc": f"{kubeapi.NAMESPACE}/{PVC}", "pid": pid, "pid_start": started,
            "file": str(path), "start_bytes": round(start), "rate_bytes_s": RATE_BYTES_S}


def remove(layout: Layout, made: Mapping[str, Any]) -> None:
    """Stop the filler (if it is still the process started) and delete its file."""
    pid = made.get("pid")
    if isinstance(pid, int) and processes.is_alive(pid, made.get("pid_start")):
        processes.terminate_group(pid, made.get("pid_start"), grace=5.0)
    path = made.get("file")
    if isinstance(path, str) and Path(path).parent.is_relative_to(volumes_dir(layout)):
        Path(path).unlink(missing_ok=True)


def used_bytes(directory: Path) -> float:
    """Bytes of the files under ``directory`` (their sizes: sparse files count in full)."""
    if not directory.is_dir():
        return 0.0
    return float(sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()))


def observer(layout: Layout) -> Observer | None:
    """What is written on each of namespace ``noa``'s volumes (``volume_used``)."""
    root = volumes_dir(layout) / kubeapi.NAMESPACE

    def written() -> Effects:
        if not root.is_dir():
            return Effects()
        used = {d.name: used_bytes(d) for d in sorted(root.iterdir()) if d.is_dir()}
        return Effects(volume_used={k: v for k, v in used.items() if v > 0})

    return written


register(Cause("disk-filling", "an upload batch filling the noa-uploads PVC", create, remove),
         observer=observer)

__all__ = ["PVC", "RATE_BYTES_S", "START_SHARE", "create", "observer", "remove", "used_bytes",
           "volume_dir"]
