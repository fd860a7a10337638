"""The Deployment controller's arithmetic (pure): hashes, fenceposts, rolling/recreate steps."""

from __future__ import annotations

import pytest

from noa_sandbox.kube import rollout
from noa_sandbox.kube.rollout import RSView, Strategy


def template(image: str = "registry.noa.example/noa-server:2.14.0") -> dict:
    return {"metadata": {"labels": {"app": "api", "track": "stable"}},
            "spec": {"containers": [{"name": "api", "image": image}]}}


def test_template_hash_is_stable_ignores_its_label_and_uses_the_safe_alphabet() -> None:
    a = rollout.template_hash(template())
    b = rollout.template_hash({"spec": template()["spec"], "metadata": {
        "labels": {"track": "stable", "app": "api", rollout.HASH_LABEL: "whatever"}}})
    assert a == b
    assert len(a) == 10 and set(a) <= set(rollout.ALPHABET)
    assert rollout.template_hash(template("x:2.15.0")) != a
    assert rollout.template_hash(template(), 1) != a
    assert rollout.templates_equal(template(), template())


@pytest.mark.parametrize(
    ("surge", "unavailable", "replicas", "expected"),
    [
        (1, 0, 3, (1, 0)),
        ("25%", "25%", 4, (1, 1)),
        ("25%", "25%", 3, (1, 0)),  # surge rounds up, unavailable down
        ("50%", "10%", 10, (5, 1)),
        (0, 0, 3, (0, 1)),  # both 0 is not allowed: maxUnavailable 1
        ("0%", "0%", 5, (0, 1)),
        (None, None, 8, (2, 2)),  # the API defaults: 25 % / 25 %
    ],
)
def test_fenceposts(surge: object, unavailable: object, replicas: int,
                    expected: tuple[int, int]) -> None:
    assert rollout.resolve_fenceposts(surge, unavailable, replicas) == expected


def test_bad_int_or_percent_is_refused() -> None:
    with pytest.raises(ValueError):
        rollout.int_or_percent("ten", 3, round_up=True)


def simulate(replicas: int, strategy: Strategy, old_size: int, steps: int = 50
             ) -> list[tuple[int, int, int]]:
    """Run rolling steps until done; pods become available one sync after they exist.

    Returns ``(new replicas, old replicas, available)`` after every sync.
    """
    new = RSView("new", 0, order=("2", "2"))
    old = RSView("old", old_size, pods=old_size, available=old_size, order=("1", "1"))
    history = []
    for _ in range(steps):
        changes = rollout.rolling_step(replicas, strategy, new, [old])
        new_size = changes.get("new", new.replicas)
        old_sz = changes.get("old", old.replicas)
        # pods follow spec; pods that existed before this sync become available
        new = RSView("new", new_size, pods=new_size, available=min(new.pods, new_size),
                     order=new.order)
        old = RSView("old", old_sz, pods=old_sz, available=min(old.available, old_sz),
                     order=old.order)
        history.append((new.replicas, old.replicas, new.available + old.available))
        if new.available == replicas and old.replicas == 0:
            break
    return history


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable"),
    [(3, 1, 0), (4, 1, 1), (10, 3, 2), (3, 0, 1), (5, 2, 0)],
)
def test_rolling_update_respects_surge_and_unavailability(
    replicas: int, surge: int, unavailable: int
) -> None:
    strategy = Strategy("RollingUpdate", surge, unavailable)
    history = simulate(replicas, strategy, replicas)
    assert history[-1][0] == replicas and history[-1][1] == 0, history
    for new_size, old_size, available in history:
        assert new_size + old_size <= replicas + surge
        assert available >= replicas - unavailable, history


def test_first_step_scales_the_new_replicaset_up_by_the_surge() -> None:
    strategy = Strategy("RollingUpdate", 1, 0)
    new = RSView("new", 0)
    old = RSView("old", 3, pods=3, available=3)
    assert rollout.rolling_step(3, strategy, new, [old]) == {"new": 1}
    # the surge pod is not available yet: nothing may go down
    new = RSView("new", 1, pods=1, available=0)
    assert rollout.rolling_step(3, strategy, new, [old]) == {}
    # once it is available, one old pod goes
    new = RSView("new", 1, pods=1, available=1)
    assert rollout.rolling_step(3, strategy, new, [old]) == {"old": 2}


def test_unavailable_old_pods_are_cleaned_up_first_and_oldest_replicasets_scale_down_first(
) -> None:
    strategy = Strategy("RollingUpdate", 1, 1)
    new = RSView("new", 4, pods=4, available=4, order=("3", "3"))
    older = RSView("older", 1, pods=1, available=1, order=("1", "1"))
    broken = RSView("broken", 2, pods=2, available=0, order=("2", "2"))
    changes = rollout.rolling_step(4, strategy, new, [older, broken])
    assert changes == {"broken": 0, "older": 0}


def test_new_replicaset_larger_than_wanted_is_scaled_down() -> None:
    strategy = Strategy("RollingUpdate", 1, 0)
    assert rollout.rolling_step(2, strategy, RSView("new", 5, pods=5, available=5), []) == {
        "new": 2}


def test_recreate_scales_old_down_then_waits_for_pods_then_scales_new_up() -> None:
    old = RSView("old", 3, pods=3, available=3)
    assert rollout.recreate_step(3, None, [old]) == {"old": 0}
    draining = RSView("old", 0, pods=2)
    assert rollout.recreate_step(3, RSView("new", 0), [draining]) == {}
    gone = RSView("old", 0, pods=0)
    assert rollout.recreate_step(3, RSView("new", 0), [gone]) == {"new": 3}
    assert rollout.old_pods_running([draining]) and not rollout.old_pods_running([gone])


def test_scaling_event_with_one_active_replicaset_sets_it_to_replicas() -> None:
    strategy = Strategy("RollingUpdate", 1, 0)
    new = RSView("new", 3, pods=3, available=3)
    assert rollout.scale_step(5, strategy, new, [RSView("old", 0)]) == {"new": 5}


def test_scaling_event_mid_rollout_is_proportional() -> None:
    strategy = Strategy("RollingUpdate", 1, 0)
    new = RSView("new", 2, order=("2", "2"))
    old = RSView("old", 2, order=("1", "1"))
    changes = rollout.scale_step(7, strategy, new, [old])
    assert sum(changes.get(n, s) for n, s in (("new", 2), ("old", 2))) == 8  # 7 + surge


def test_strategy_of_reads_the_spec() -> None:
    assert rollout.strategy_of({"replicas": 4, "strategy": {"type": "Recreate"}}).kind == (
        "Recreate")
    resolved = rollout.strategy_of({"replicas": 4, "strategy": {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 0}}})
    assert (resolved.surge, resolved.unavailable) == (2, 0)
    assert rollout.min_available(4, resolved) == 4
    assert rollout.deployment_complete(3, 3, 3, 3) and not rollout.deployment_complete(3, 3, 4, 3)
    assert rollout.next_revision([1, 4, 2]) == 5 and rollout.next_revision([]) == 1
