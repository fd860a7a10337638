"""The last cell of every runbook: its outcome, lifted by the runner into ``metadata.noa``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from noa_lib.journal import OUTCOME_MIME, emit
from noa_lib.ops.findings import Finding, Status, worst

_FIGURE_TYPES = (int, float, str, bool, type(None))


@dataclass(frozen=True)
class Outcome:
    """What a run concluded: overall status, a one-line summary and its key figures."""

    status: Status
    summary: str
    figures: dict[str, Any]
    findings: tuple[Finding, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "summary": self.summary,
            "figures": self.figures,
            "findings": [f.as_dict() for f in self.findings],
        }


def record_outcome(
    *,
    findings: Iterable[Finding] = (),
    status: Status | str | None = None,
    summary: str = "",
    **figures: Any,
) -> None:
    """Report the run's outcome (status defaults to the worst finding) and key figures.

    Figures must be JSON scalars (numbers, text, booleans, None) so records can be charted
    together later.

    Raises:
        TypeError: a figure is not a scalar.
    """
    found = tuple(findings)
    for name, value in figures.items():
        if not isinstance(value, _FIGURE_TYPES):
            raise TypeError(
                f"outcome figure {name!r} must be a number, text or bool, "
                f"not {type(value).__name__}"
            )
    final = Status(status) if status is not None else worst(found)
    if not summary:
        counts: dict[str, int] = {}
        for f in found:
            counts[str(f.status)] = counts.get(str(f.status), 0) + 1
        detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no findings"
        summary = detail
    outcome = Outcome(final, summary, dict(figures), found)
    emit(OUTCOME_MIME, outcome.as_dict(), f"Outcome — {final}: {summary}")


__all__ = ["Outcome", "record_outcome"]
