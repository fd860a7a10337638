"""Selector parsing/matching and patch semantics, as pure functions."""

from __future__ import annotations

import pytest

from noa_sandbox.kube.errors import ApiError
from noa_sandbox.kube.patches import json_patch, merge_patch, strategic_merge_patch
from noa_sandbox.kube.selectors import (
    matches_label_selector,
    matches_map,
    parse_field_selector,
    parse_label_selector,
    selector_string,
)

LABELS = {"app": "api", "tier": "backend", "noa.io/shard": "3"}


@pytest.mark.parametrize(("selector", "expected"), [
    ("", True),
    ("app=api", True),
    ("app==api,tier=backend", True),
    ("app!=api", False),
    ("app in (api, web)", True),
    ("app notin (api)", False),
    ("missing notin (x)", True),
    ("noa.io/shard", True),
    ("!noa.io/shard", False),
    ("!missing", True),
    ("noa.io/shard>2,noa.io/shard<4", True),
    ("app=api,tier in (frontend)", False),
])
def test_label_selectors(selector: str, expected: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is expected


@pytest.mark.parametrize("selector", ["app in (a", "app=", "=x", "a b", "app in ()", "-bad=1",
                                      "app=a b"])
def test_malformed_label_selectors(selector: str) -> None:
    if selector == "app=":  # an empty value is legal: it matches label app=""
        assert parse_label_selector(selector).matches({"app": ""})
        return
    with pytest.raises(ApiError) as err:
        parse_label_selector(selector)
    assert err.value.status == 400


def test_field_selectors() -> None:
    pod = {"metadata": {"name": "p", "namespace": "noa"}, "spec": {"nodeName": "n1"},
           "status": {"phase": "Running"}}
    assert parse_field_selector("status.phase=Running,spec.nodeName!=n2", "pods").matches(pod)
    assert not parse_field_selector("metadata.name==q", "pods").matches(pod)
    event = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"}}
    assert parse_field_selector("involvedObject.name=p,involvedObject.kind=Pod",
                                "events").matches(event)
    with pytest.raises(ApiError) as err:
        parse_field_selector("status.phase=Running", "deployments")
    assert err.value.message == "field label not supported: status.phase"


def test_label_selector_objects() -> None:
    selector = {"matchLabels": {"app": "api"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["backend"]},
                                     {"key": "canary", "operator": "DoesNotExist"}]}
    assert matches_label_selector(LABELS, selector)
    assert not matches_label_selector({**LABELS, "canary": "1"}, selector)
    assert matches_label_selector(LABELS, {})
    assert not matches_label_selector(LABELS, None)
    assert selector_string(selector) == "app=api,tier in (backend),!canary"
    assert matches_map(LABELS, {"app": "api"}) and not matches_map(LABELS, {})


def test_strategic_merge_keys() -> None:
    service = {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}],
                        "selector": {"app": "api"}},
               "status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    patched = strategic_merge_patch(service, {
        "spec": {"ports": [{"port": 443, "targetPort": 8443}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    })
    assert patched["spec"]["ports"] == [{"port": 80, "name": "http"},
                                        {"port": 443, "name": "https", "targetPort": 8443}]
    assert patched["status"]["conditions"] == [{"type": "Ready", "status": "True"}]
    pod_spec = {"tolerations": [{"key": "a"}], "volumes": [{"name": "v", "emptyDir": {}}],
                "containers": [{"name": "c", "volumeMounts": [{"mountPath": "/a", "name": "v"}],
                                "ports": [{"containerPort": 80}]}]}
    patched = strategic_merge_patch(pod_spec, {
        "tolerations": [{"key": "b"}],
        "containers": [{"name": "c", "volumeMounts": [{"mountPath": "/b", "name": "w"}],
                        "ports": [{"containerPort": 80, "protocol": "TCP"}]}],
        "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
    })
    assert patched["tolerations"] == [{"key": "b"}]  # no merge key: replaced
    assert [m["mountPath"] for m in patched["containers"][0]["volumeMounts"]] == ["/a", "/b"]
    assert patched["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert patched["strategy"] == {"type": "Recreate"}
    assert strategic_merge_patch({"metadata": {"finalizers": ["a"]}},
                                 {"metadata": {"finalizers": ["b", "a"]}}) == \
        {"metadata": {"finalizers": ["a", "b"]}}
    assert strategic_merge_patch({"spec": {"x": {"y": 1}}}, {"spec": {"x": {"$patch": "replace",
                                                                          "z": 2}}}) == \
        {"spec": {"x": {"z": 2}}}


def test_merge_and_json_patch() -> None:
    doc = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert merge_patch(doc, {"a": {"b": None, "c": [3]}, "e": 2}) == {"a": {"c": [3]}, "d": 1,
                                                                       "e": 2}
    assert doc == {"a": {"b": 1, "c": [1, 2]}, "d": 1}  # the input is not modified
    assert json_patch(doc, [{"op": "move", "from": "/d", "path": "/a/d"},
                            {"op": "copy", "from": "/a/c/0", "path": "/a/c/-"}]) == \
        {"a": {"b": 1, "c": [1, 2, 1], "d": 1}}
    with pytest.raises(ApiError) as err:
        json_patch(doc, {"op": "add"})
    assert err.value.status == 400
    with pytest.raises(ApiError) as err:
        json_patch(doc, [{"op": "add", "path": "/a/c/9", "value": 0}])
    assert err.value.status == 422
