"""Plans rendered for a notebook: before → after for every change, and whether it will apply."""

from __future__ import annotations

import html
from dataclasses import dataclass

from noa_lib.ops.safety import Plan


@dataclass(frozen=True)
class PlanView:
    """Displays a :class:`Plan` as a table in JupyterLab and as text elsewhere."""

    plan: Plan
    dry_run: bool = True

    def _mode(self) -> str:
        if self.plan.empty:
            return "nothing to change"
        if self.dry_run:
            return "DRY RUN: nothing will be changed (set dry_run=False to apply)"
        guard = (
            f" (protected: needs confirm={self.plan.target.name!r})"
            if (self.plan.target.protected)
            else ""
        )
        return f"WILL APPLY to {self.plan.target.name}{guard}"

    def __repr__(self) -> str:
        lines = [f"Plan: {self.plan.action} on {self.plan.target.name} — {self._mode()}"]
        lines += [f"  - {c.describe()}" for c in self.plan.changes]
        if self.plan.rollback:
            lines.append(f"  rollback: {self.plan.rollback}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(c.resource)}</td><td>{esc(c.field)}</td>"
            f"<td style='color:#b00'>{esc(repr(c.before))}</td>"
            f"<td style='color:#070'>{esc(repr(c.after))}</td></tr>"
            for c in self.plan.changes
        )
        rollback = (
            f"<p><b>Rollback:</b> {esc(self.plan.rollback)}</p>" if self.plan.rollback else ""
        )
        return (
            f"<p><b>Plan:</b> {esc(self.plan.action)} on <code>{esc(self.plan.target.name)}</code>"
            f" — <b>{esc(self._mode())}</b></p>"
            "<table><thead><tr><th>resource</th><th>field</th><th>before</th><th>after</th>"
            f"</tr></thead><tbody>{rows}</tbody></table>{rollback}"
        )


def show_plan(plan: Plan, *, dry_run: bool = True) -> PlanView:
    """A displayable view of ``plan`` (the last expression of a cell shows it)."""
    return PlanView(plan, dry_run)


__all__ = ["PlanView", "show_plan"]
