"""A verify that waits until its rate window holds only data from after the change.

A rate over ``window`` read right after a change still averages what came before it — and what
came before may look cured for reasons of its own (an earlier mitigation's data still in the
window). :func:`after_window` wraps a verify so that it cannot pass before ``window`` has passed
since it was first called (:func:`~noa_lib.ops.mitigation.run_mitigation` calls it right after
applying).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from noa_lib.ops.mitigation import Verdict


def after_window(verify: Callable[[], Verdict], window_s: float,
                 clock: Callable[[], float] = time.monotonic) -> Callable[[], Verdict]:
    """``verify``, held back (``ok=False``) until ``window_s`` seconds after its first call."""
    first: list[float] = []

    def settled() -> Verdict:
        now = clock()
        if not first:
            first.append(now)
        verdict = verify()
        waited = now - first[0]
        if verdict.ok and waited < window_s:
            return Verdict(False, f"{verdict.message} — waiting until the {window_s:g} s window "
                                  f"holds only data from after the change ({waited:.0f} s so far)",
                           verdict.evidence)
        return verdict

    return settled


__all__ = ["after_window"]
