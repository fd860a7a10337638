"""DNS-1123 names, label values and image tags are validated before any backend call."""

from __future__ import annotations

import pytest

from noa_lib.errors import ParameterError
from noa_lib.ops.names import validate_image_tag, validate_label_value, validate_name


@pytest.mark.parametrize("value", ["noa", "api", "api-server", "a", "0abc", "x" * 63])
def test_valid_labels(value: str) -> None:
    assert validate_name(value, "namespace") == value


@pytest.mark.parametrize(
    "value", ["", "Noa", "-api", "api-", "api_server", "api.v2", "x" * 64, "a b", "api;rm", "ä"]
)
def test_invalid_labels_name_the_parameter(value: str) -> None:
    with pytest.raises(ParameterError) as info:
        validate_name(value, "namespace")
    assert info.value.name == "namespace"
    assert info.value.accepted and "DNS-1123 label" in info.value.accepted
    assert "namespace" in str(info.value)


@pytest.mark.parametrize("value", ["api", "api.v2", "api-7d9f8-x2x", "a." * 100 + "b"])
def test_valid_subdomains(value: str) -> None:
    assert validate_name(value, "deployment", kind="subdomain") == value


@pytest.mark.parametrize("value", ["", "api..v2", ".api", "api.", "API", "a" * 254, "api/x"])
def test_invalid_subdomains(value: str) -> None:
    with pytest.raises(ParameterError) as info:
        validate_name(value, "deployment", kind="subdomain")
    assert info.value.name == "deployment"


def test_non_string_and_unknown_kind() -> None:
    with pytest.raises(ParameterError, match="must be a string"):
        validate_name(3, "pod")
    with pytest.raises(ParameterError) as info:
        validate_name("api", "pod", kind="path")  # type: ignore[arg-type]
    assert info.value.name == "kind"


@pytest.mark.parametrize("value", ["2.4.1", "2.4.1-rc.1", "v2_4", "A"])
def test_label_values(value: str) -> None:
    assert validate_label_value(value, "version") == value


@pytest.mark.parametrize("value", ["", "-2.4", "2.4.", "x" * 64, "2.4 1", "a/b"])
def test_bad_label_values(value: str) -> None:
    with pytest.raises(ParameterError) as info:
        validate_label_value(value, "version")
    assert info.value.name == "version"
    assert validate_label_value("", "version", allow_empty=True) == ""


@pytest.mark.parametrize("value", ["2.4.1", "latest", "2.4.1-rc.1", "v1_2", "x" * 128])
def test_image_tags(value: str) -> None:
    assert validate_image_tag(value, "image_tag") == value


@pytest.mark.parametrize("value", ["", ".1", "-1", "x" * 129, "1:2", "a/b", "a b"])
def test_bad_image_tags(value: str) -> None:
    with pytest.raises(ParameterError) as info:
        validate_image_tag(value, "image_tag")
    assert info.value.name == "image_tag"
