"""Image references are parsed one way for the pod clients and the deployment runbooks."""

from __future__ import annotations

import pytest

from noa_lib.clients.images import ImageRef, parse_image
from noa_lib.clients.kube_pods import image_tag
from noa_lib.ops.deploy import params


@pytest.mark.parametrize(("reference", "expected"), [
    ("registry.noa.example/noa-server:2.14.0",
     ImageRef("registry.noa.example/noa-server", "2.14.0")),
    ("reg:5000/noa/noa-server", ImageRef("reg:5000/noa/noa-server")),
    ("reg:5000/noa-server:2.15.0@sha256:ab",
     ImageRef("reg:5000/noa-server", "2.15.0", "sha256:ab")),
    ("reg:5000/noa-server@sha256:ab", ImageRef("reg:5000/noa-server", "", "sha256:ab")),
    ("noa-server", ImageRef("noa-server")),
])
def test_references_split_into_repository_tag_and_digest(reference, expected):
    parsed = parse_image(reference)
    assert parsed == expected
    assert str(parsed) == reference


def test_the_pod_version_and_the_runbooks_tag_agree():
    for reference, version, tag in (
        ("reg:5000/noa-server:2.15.0@sha256:ab", "2.15.0", "2.15.0"),
        ("reg:5000/noa-server@sha256:ab", "sha256:ab", ""),
        ("reg:5000/noa-server", "latest", ""),
    ):
        assert image_tag(reference) == version
        assert params.tag_of(reference) == tag
    assert params.image_with_tag("reg:5000/noa-server:2.14.0@sha256:ab", "2.15.0") == \
        "reg:5000/noa-server:2.15.0"
