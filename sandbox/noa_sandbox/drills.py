"""The sandbox as an incident-drill injector (entry point ``noa.scenarios`` → ``sandbox``).

A drill (``incident/drill``) names a scenario; this injector switches the sandbox in
``[targets.sandbox.drills] state_dir`` to it (its real cause created, see
:mod:`noa_sandbox.causes`) and back to ``normal``. :data:`CURES` names the runbook that cures each
scenario — what triage should rank first and what a drill expects to be run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from noa_lib.errors import ConfigError
from noa_sandbox.scenarios import available, current, set_scenario

CURES: dict[str, str] = {
    "error-spike": "incident/high_error_rate",
    "slow-db": "incident/high_latency",
    "pool-exhausted": "incident/db_pool_exhausted",
    "ai-provider-down": "incident/ai_provider_failover",
    "oom": "incident/oom_kills",
    "disk-filling": "incident/disk_space",
    "queue-backlog": "scaling/horizontal_scale",
    "complete-outage": "incident/complete_outage",
    "ddos": "incident/ddos",
}
"""Scenario -> the runbook that cures it."""


class SandboxInjector:
    """Injects the scenarios of the sandbox in ``state_dir``."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def scenarios(self) -> list[dict[str, str]]:
        """Every scenario but ``normal``: name, summary and the runbook that cures it."""
        return [{"name": s.name, "summary": s.summary, "cure": CURES.get(s.name, "")}
                for s in available() if s.name != "normal"]

    def inject(self, name: str) -> None:
        set_scenario(self.state_dir, name)

    def clear(self) -> None:
        set_scenario(self.state_dir, "normal")

    def current(self) -> str:
        spec = current(self.state_dir)
        return "normal" if spec is None else spec.scenario


def injector(settings: Any) -> SandboxInjector:
    """The entry point: an injector for ``settings.state_dir``.

    Raises:
        ConfigError: no state directory configured.
    """
    state = getattr(settings, "state_dir", None)
    if not state:
        raise ConfigError("[targets.<name>.drills] state_dir is not set: the sandbox injector "
                          "needs the sandbox's state directory (`noa sandbox up` writes it)")
    return SandboxInjector(Path(state))


__all__ = ["CURES", "SandboxInjector", "injector"]
