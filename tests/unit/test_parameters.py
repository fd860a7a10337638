from __future__ import annotations

import pytest

from noa_lib.errors import ParameterError
from noa_lib.records.parameters import bind, parse_parameters_cell

CELL = '''\
target: str = "sandbox"  # environment from noa.toml
tag: str = "latest"  # image tag
replicas: int = 3  # desired replicas
ratio: float = 0.5  # traffic share
dry_run: bool = True  # plan only
mode: 'Literal["fast", "safe"]' = "safe"  # how careful
names: list[str] = []  # deployments
since: str | None = None  # optional start
incident_id: str = ...  # (required) incident this run belongs to
'''


@pytest.fixture
def declared():
    return parse_parameters_cell(CELL)


def test_parses_names_types_defaults_and_help(declared):
    by = {p.name: p for p in declared}
    assert [p.name for p in declared][:3] == ["target", "tag", "replicas"]
    assert by["replicas"].type.base == "int" and by["replicas"].default == 3
    assert by["mode"].type.choices == ("fast", "safe")
    assert by["names"].type.is_list
    assert by["since"].type.optional and by["since"].default is None
    assert by["incident_id"].required
    assert by["target"].help == "environment from noa.toml"


def test_values_are_typed_by_declaration_not_guessed(declared):
    bound = bind(declared, {"tag": "1.10", "replicas": "4", "ratio": "1", "dry_run": "false",
                            "names": "api, worker", "incident_id": "INC-1", "since": "none"},
                 runbook="x/y")
    assert bound["tag"] == "1.10" and isinstance(bound["tag"], str)
    assert bound["replicas"] == 4
    assert bound["ratio"] == 1.0 and isinstance(bound["ratio"], float)
    assert bound["dry_run"] is False
    assert bound["names"] == ["api", "worker"]
    assert bound["since"] is None


def test_yaml_values_are_accepted(declared):
    bound = bind(declared, {"replicas": 5, "dry_run": True, "names": ["a"], "incident_id": 7},
                 runbook="x/y")
    assert bound == {"replicas": 5, "dry_run": True, "names": ["a"], "incident_id": "7"}


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("replicas", "1.5", "whole number"),
        ("replicas", "true", "whole number"),
        ("ratio", "half", "a number"),
        ("dry_run", "maybe", "true or false"),
        ("mode", "slow", "one of fast, safe"),
        ("tag", None, "any text"),
    ],
)
def test_ill_typed_values_name_the_parameter_and_what_is_accepted(declared, name, value, accepted):
    with pytest.raises(ParameterError) as err:
        bind(declared, {name: value, "incident_id": "I"}, runbook="x/y")
    assert err.value.name == name
    assert name in str(err.value) and accepted in str(err.value)


def test_unknown_parameter_lists_accepted_ones(declared):
    with pytest.raises(ParameterError) as err:
        bind(declared, {"replicaz": "3", "incident_id": "I"}, runbook="x/y")
    assert "replicaz" in str(err.value) and "replicas" in str(err.value)


def test_missing_required_parameter(declared):
    with pytest.raises(ParameterError, match="incident_id"):
        bind(declared, {}, runbook="x/y")


@pytest.mark.parametrize(
    "line",
    [
        "x = 3",
        "x: int",
        "x: dict = {}  # nope",
        "x: int = len('a')  # not a literal",
        "import os",
    ],
)
def test_malformed_declarations_are_rejected(line):
    with pytest.raises(ParameterError):
        parse_parameters_cell(line)
