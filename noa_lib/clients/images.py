"""Container image references (``registry:5000/noa/noa-server:2.15.0@sha256:…``), parsed once.

The Kubernetes clients report a pod's version from its image and the deployment runbooks retag
images; both read references through :func:`parse_image` so they agree on what the tag is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageRef:
    """An image reference split into repository (with registry), tag and digest."""

    repository: str
    tag: str = ""
    """``""`` when the reference names no tag."""
    digest: str = ""
    """``sha256:…`` when the reference is pinned by digest, else ``""``."""

    @property
    def version(self) -> str:
        """What runs: the tag, else the digest, else ``latest`` (what the runtime pulls)."""
        return self.tag or self.digest or "latest"

    def with_tag(self, tag: str) -> str:
        """The same repository at ``tag`` (any digest pin is dropped: it named the old tag)."""
        return f"{self.repository}:{tag}"

    def __str__(self) -> str:
        text = self.repository + (f":{self.tag}" if self.tag else "")
        return text + (f"@{self.digest}" if self.digest else "")


def parse_image(reference: str) -> ImageRef:
    """Split ``reference``; a ``:`` after the last ``/`` starts the tag (so a registry port is
    not mistaken for one) and ``@`` starts the digest."""
    base, _, digest = reference.partition("@")
    slash = base.rfind("/")
    colon = base.rfind(":")
    if colon > slash:
        return ImageRef(base[:colon], base[colon + 1:], digest)
    return ImageRef(base, "", digest)


__all__ = ["ImageRef", "parse_image"]
