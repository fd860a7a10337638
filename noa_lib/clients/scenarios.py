"""Scenario injectors for incident drills: installed distributions register them under the
``noa.scenarios`` entry-point group (the sandbox's is ``sandbox``); a target names its injector in
``[targets.<name>.drills] injector``.

An injector is built by its entry point from the target's :class:`~noa_lib.config.DrillSettings`
and offers ``scenarios()`` (a list of ``{"name", "summary", "cure"}``: ``cure`` is the runbook that
cures it), ``inject(name)``, ``clear()`` and ``current()``. The product never imports an
injector's package: it is found at run time, as ``noa sandbox`` is.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Protocol

from noa_lib.config import Target
from noa_lib.errors import ConfigError

GROUP = "noa.scenarios"


class Injector(Protocol):
    def scenarios(self) -> list[dict[str, str]]: ...

    def inject(self, name: str) -> None: ...

    def clear(self) -> None: ...

    def current(self) -> str: ...


def installed() -> list[str]:
    """The names of the installed injectors."""
    return sorted(e.name for e in entry_points(group=GROUP))


def injector_for(target: Target) -> Injector:
    """The injector ``target`` names.

    Raises:
        ConfigError: the target names none, or names one that is not installed (the message
            lists the installed ones).
    """
    settings = target.drills
    if settings is None or not settings.injector:
        raise ConfigError(
            f"target {target.name} has no drills injector: set [targets.{target.name}.drills] "
            f"injector (installed: {', '.join(installed()) or 'none'})")
    found = [e for e in entry_points(group=GROUP) if e.name == settings.injector]
    if not found:
        raise ConfigError(
            f"drills injector {settings.injector!r} of target {target.name} is not installed "
            f"(installed: {', '.join(installed()) or 'none'}; the sandbox's comes with "
            "`pip install -e sandbox`)")
    factory: Any = found[0].load()
    built: Injector = factory(settings)
    return built


__all__ = ["GROUP", "Injector", "injector_for", "installed"]
