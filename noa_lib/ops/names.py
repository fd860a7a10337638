"""Validation of Kubernetes object names and label values before any call to a backend.

Every name a runbook sends to the Kubernetes API (namespace, deployment, pod, container, service)
is checked here first, so a typo or an injection attempt fails with a ``ParameterError`` naming
the parameter and what would have been accepted — never with an API error, and never after a
request has left the machine.

- ``kind="label"``: an RFC 1123 label (namespaces, services, containers, most names):
  at most 63 characters, lower-case alphanumerics or ``-``, starting and ending alphanumeric.
- ``kind="subdomain"``: an RFC 1123 subdomain (deployments, pods, config maps, secrets):
  at most 253 characters, dot-separated labels as above.
- :func:`validate_label_value`: a Kubernetes label *value* (e.g. ``version=2.4.1-rc.1``):
  at most 63 characters, alphanumerics, ``-``, ``_``, ``.``, starting and ending alphanumeric.
- :func:`validate_image_tag`: an OCI image tag (at most 128 of ``[A-Za-z0-9_.-]``, not starting
  with ``.`` or ``-``).
"""

from __future__ import annotations

import re
from typing import Literal

from noa_lib.errors import ParameterError

NameKind = Literal["label", "subdomain"]

_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_LABEL_RE = re.compile(rf"{_LABEL}\Z")
_SUBDOMAIN_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\Z")
_LABEL_VALUE_RE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?\Z")
_IMAGE_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")

_MAX = {"label": 63, "subdomain": 253}
_ACCEPTED = {
    "label": "a DNS-1123 label: at most 63 characters of a-z, 0-9 and '-', "
    "starting and ending with a letter or digit (e.g. 'noa', 'api-server')",
    "subdomain": "a DNS-1123 subdomain: at most 253 characters of a-z, 0-9, '-' and '.', "
    "each dot-separated part starting and ending with a letter or digit (e.g. 'api', 'api.v2')",
}


def validate_name(value: object, parameter: str, kind: NameKind = "label") -> str:
    """Return ``value`` when it is a valid Kubernetes name of ``kind``.

    Raises ``ParameterError`` (``name=parameter``) naming the parameter and the accepted form
    when it is not a string, is empty, too long, or has characters Kubernetes refuses.
    """
    if kind not in _MAX:
        raise ParameterError(
            f"unknown name kind {kind!r}", name="kind", accepted="'label' or 'subdomain'"
        )
    accepted = _ACCEPTED[kind]
    if not isinstance(value, str):
        raise ParameterError(
            f"{parameter} must be a string, got {type(value).__name__}",
            name=parameter, accepted=accepted,
        )
    if not value:
        raise ParameterError(f"{parameter} is empty; expected {accepted}",
                             name=parameter, accepted=accepted)
    if len(value) > _MAX[kind]:
        raise ParameterError(
            f"{parameter} is {len(value)} characters long; expected {accepted}",
            name=parameter, accepted=accepted,
        )
    pattern = _LABEL_RE if kind == "label" else _SUBDOMAIN_RE
    if not pattern.match(value):
        raise ParameterError(f"{parameter}={value!r} is not {accepted}",
                             name=parameter, accepted=accepted)
    return value


def validate_label_value(value: object, parameter: str, *, allow_empty: bool = False) -> str:
    """Return ``value`` when it is a valid Kubernetes label value (e.g. a version ``2.4.1``).

    Raises ``ParameterError`` naming ``parameter`` otherwise (empty only when ``allow_empty``).
    """
    accepted = ("a Kubernetes label value: at most 63 characters of A-Z, a-z, 0-9, '-', '_' "
                "and '.', starting and ending with a letter or digit (e.g. '2.4.1')")
    if not isinstance(value, str):
        raise ParameterError(f"{parameter} must be a string, got {type(value).__name__}",
                             name=parameter, accepted=accepted)
    if not value and not allow_empty:
        raise ParameterError(f"{parameter} is empty; expected {accepted}",
                             name=parameter, accepted=accepted)
    if len(value) > 63 or not _LABEL_VALUE_RE.match(value):
        raise ParameterError(f"{parameter}={value!r} is not {accepted}",
                             name=parameter, accepted=accepted)
    return value


def validate_image_tag(value: object, parameter: str) -> str:
    """Return ``value`` when it is a syntactically valid OCI image tag.

    Raises ``ParameterError`` naming ``parameter`` otherwise. Policy (semver, not ``latest``) is
    the deployment checklist's business, not this function's.
    """
    accepted = ("an image tag: 1-128 characters of A-Z, a-z, 0-9, '_', '.' and '-', "
                "not starting with '.' or '-' (e.g. '2.4.1')")
    if not isinstance(value, str):
        raise ParameterError(f"{parameter} must be a string, got {type(value).__name__}",
                             name=parameter, accepted=accepted)
    if not _IMAGE_TAG_RE.match(value):
        shown = value if len(value) <= 80 else value[:80] + "…"
        raise ParameterError(f"{parameter}={shown!r} is not {accepted}",
                             name=parameter, accepted=accepted)
    return value


__all__ = ["NameKind", "validate_image_tag", "validate_label_value", "validate_name"]
