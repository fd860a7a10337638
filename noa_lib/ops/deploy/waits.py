"""Bounded waits on Deployments (inside a plan's perform: pods Ready before the next change)."""

from __future__ import annotations

import time
from collections.abc import Callable

from noa_lib.clients import kube_apps
from noa_lib.errors import StepFailed
from noa_lib.ops.deploy.context import KubeContext
from noa_lib.ops.deploy.rollout import RolloutStatus, rollout_status


def wait_settled(kc: KubeContext, name: str, *, timeout_s: float,
                 poll_s: float = 0.5, sleep: Callable[[float], None] = time.sleep
                 ) -> RolloutStatus:
    """Wait until Deployment ``name`` has exactly its desired replicas, all updated and
    available (``kubectl rollout status`` complete).

    Raises:
        StepFailed: ProgressDeadlineExceeded, or not settled within ``timeout_s`` (the message
            says how far it got).
    """
    namespace = kc.namespace
    deadline = time.monotonic() + timeout_s
    while True:
        status = rollout_status(kube_apps.get(kc.settings, "deployments", name, namespace))
        if status.complete:
            return status
        if status.failed:
            raise StepFailed(f"deployment {namespace}/{name} failed: {status.message()}")
        if time.monotonic() >= deadline:
            raise StepFailed(f"deployment {namespace}/{name} not ready within {timeout_s:g} s: "
                             f"{status.message()} ({status.ready}/{status.desired} ready)")
        sleep(poll_s)


__all__ = ["wait_settled"]
