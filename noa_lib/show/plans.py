"""Plans rendered for a notebook: before → after for every change, whether it will apply, and
how applying it ended (:func:`show_applied`)."""

from __future__ import annotations

import html
from dataclasses import dataclass

from noa_lib.ops.safety import Applied, Plan


@dataclass(frozen=True)
class PlanView:
    """Displays a :class:`Plan` as a table in JupyterLab and as text elsewhere."""

    plan: Plan
    dry_run: bool = True

    def _mode(self) -> str:
        if self.plan.empty:
            return "nothing to change"
        if self.dry_run:
            needs = (f" and confirm={self.plan.target.name!r}" if self.plan.target.protected
                     else "")
            return f"DRY RUN: nothing will be changed (set dry_run=False{needs} to apply)"
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


@dataclass(frozen=True)
class AppliedView:
    """Displays how :func:`~noa_lib.ops.safety.apply_plan` ended: its message and, when the plan
    was applied and returned something, that result (its ``describe()`` when it has one)."""

    applied: Applied

    def result_text(self) -> str:
        result = self.applied.result
        if not self.applied.applied or result is None:
            return ""
        describe = getattr(result, "describe", None)
        return str(describe()) if callable(describe) else repr(result)

    def __repr__(self) -> str:
        detail = self.result_text()
        return self.applied.message + (f"\n  result: {detail}" if detail else "")

    def _repr_html_(self) -> str:
        detail = self.result_text()
        result = f"<pre>{html.escape(detail)}</pre>" if detail else ""
        return f"<p><b>{html.escape(self.applied.message)}</b></p>{result}"


def show_applied(applied: Applied) -> AppliedView:
    """A displayable view of an :class:`~noa_lib.ops.safety.Applied` (dry run, nothing to do,
    or applied with its result)."""
    return AppliedView(applied)


__all__ = ["AppliedView", "PlanView", "show_applied", "show_plan"]
