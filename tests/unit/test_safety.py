from __future__ import annotations

import pytest

from noa_lib.config import Target
from noa_lib.errors import UnsafeActionRefused
from noa_lib.ops.safety import Change, Plan, apply_plan
from noa_lib.show.plans import show_applied, show_plan


def make_plan(target: Target, calls: list[int]) -> Plan:
    return Plan(
        "scale deployment noa/api",
        target,
        (Change("deployment/noa/api", "spec.replicas", 2, 5),),
        lambda: calls.append(5) or "scaled",
        rollback="scale back to 2",
    )


def test_dry_run_is_the_default_and_changes_nothing():
    calls: list[int] = []
    result = apply_plan(make_plan(Target("dev"), calls))
    assert calls == [] and not result.applied and result.dry_run
    assert "DRY RUN" in result.message


def test_apply_needs_dry_run_false():
    calls: list[int] = []
    result = apply_plan(make_plan(Target("dev"), calls), dry_run=False)
    assert calls == [5] and result.applied and result.result == "scaled"


def test_protected_target_refuses_without_matching_confirm():
    calls: list[int] = []
    prod = Target("prod", protected=True)
    with pytest.raises(UnsafeActionRefused, match="confirm='prod'"):
        apply_plan(make_plan(prod, calls), dry_run=False)
    with pytest.raises(UnsafeActionRefused):
        apply_plan(make_plan(prod, calls), dry_run=False, confirm="staging")
    assert calls == []
    assert apply_plan(make_plan(prod, calls), dry_run=False, confirm="prod").applied
    assert calls == [5]


def test_confirm_naming_another_target_is_refused_even_unprotected():
    calls: list[int] = []
    with pytest.raises(UnsafeActionRefused, match="does not match"):
        apply_plan(make_plan(Target("dev"), calls), dry_run=False, confirm="prod")
    assert calls == []


def test_empty_plan_does_nothing():
    plan = Plan("noop", Target("dev"), (), lambda: pytest.fail("must not run"))
    assert not apply_plan(plan, dry_run=False).applied


def test_failed_change_propagates():
    def boom() -> None:
        raise RuntimeError("api said no")

    plan = Plan("scale", Target("dev"), (Change("d", "f", 1, 2),), boom)
    with pytest.raises(RuntimeError, match="api said no"):
        apply_plan(plan, dry_run=False)


def test_plan_view_shows_before_and_after():
    view = show_plan(make_plan(Target("prod", protected=True), []), dry_run=False)
    text = repr(view)
    assert "spec.replicas: 2 -> 5" in text and "confirm='prod'" in text
    html = view._repr_html_()
    assert "<td" in html and "spec.replicas" in html
    assert "DRY RUN" in repr(show_plan(make_plan(Target("dev"), []), dry_run=True))


def test_dry_run_on_protected_target_needs_no_confirm_and_says_what_applying_needs():
    # An SRE dry-runs a prod change to read the plan: no confirm, nothing performed, and the
    # message names the confirm that applying will need. The docstring promises the same.
    calls: list[int] = []
    prod = Target("prod", protected=True)
    result = apply_plan(make_plan(prod, calls))
    assert calls == [] and not result.applied and result.dry_run
    assert "dry_run=False, confirm='prod'" in result.message
    assert "confirm" not in apply_plan(make_plan(Target("dev"), calls)).message
    # a confirm naming another target is only refused when something would be applied
    assert not apply_plan(make_plan(prod, calls), dry_run=True, confirm="staging").applied
    with pytest.raises(UnsafeActionRefused):
        apply_plan(make_plan(prod, calls), dry_run=False, confirm="staging")
    assert calls == []
    doc = " ".join((apply_plan.__doc__ or "").split())
    assert "A dry run (the default) performs nothing and checks no confirmation" in doc
    assert "also for dry runs" not in doc


def test_plan_and_applied_views_say_what_applying_needs():
    prod = Target("prod", protected=True)
    dry = show_plan(make_plan(prod, []), dry_run=True)
    assert "set dry_run=False and confirm='prod' to apply" in repr(dry)
    assert "confirm" not in repr(show_plan(make_plan(Target("dev"), []), dry_run=True))
    calls: list[int] = []
    shown = show_applied(apply_plan(make_plan(prod, calls)))
    assert repr(shown).startswith("DRY RUN") and "result" not in repr(shown)
    done = show_applied(apply_plan(make_plan(Target("dev"), calls), dry_run=False))
    assert repr(done).splitlines() == ["applied: scale deployment noa/api on dev: 1 change(s)",
                                       "  result: 'scaled'"]
    assert "<pre>&#x27;scaled&#x27;</pre>" in done._repr_html_()
