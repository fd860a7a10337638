"""The sandbox container registry: which NOA Server images exist, and their digests.

The registry publishes ``registry.noa.example/noa-server:<tag>`` for every release in the world
file (:attr:`WorldSpec.releases`; ``noa sandbox release VERSION --publish`` adds one). A digest is
a stable ``sha256:`` of ``repository:tag``, so the same tag always has the same digest. Images from
other registries (``busybox``, ``postgres:16``) are taken as pullable: the sandbox cannot know
them and does not pretend they are missing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from noa_sandbox.simulator.spec import WorldSpec

HOST = "registry.noa.example"
REPOSITORY = "noa-server"
IMAGE = f"{HOST}/{REPOSITORY}"
"""The image NOA Server's Deployments run (tag = release version)."""


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference: ``host/repository:tag`` (``host`` may be empty)."""

    host: str
    repository: str
    tag: str

    @property
    def ours(self) -> bool:
        """True for images of the sandbox registry (which must be published to pull)."""
        return self.host == HOST


def parse_image(image: str) -> ImageRef:
    """Split ``registry.noa.example/noa-server:2.14.0`` (a missing tag is ``latest``)."""
    name, digest_sep, _ = image.partition("@")
    slash = name.find("/")
    host = ""
    rest = name
    if slash > 0 and ("." in name[:slash] or ":" in name[:slash] or name[:slash] == "localhost"):
        host, rest = name[:slash], name[slash + 1 :]
    repository, colon, tag = rest.rpartition(":")
    if not colon or "/" in tag:
        repository, tag = rest, "latest"
    if digest_sep and not colon:
        tag = ""
    return ImageRef(host, repository, tag)


def digest(repository: str, tag: str) -> str:
    """The manifest digest the sandbox registry gives ``repository:tag``."""
    return "sha256:" + hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()


def published(spec: WorldSpec, repository: str, tag: str) -> bool:
    """True when the sandbox registry has ``repository:tag``."""
    return repository == REPOSITORY and tag in spec.releases


def image_digest(spec: WorldSpec, repository: str, tag: str) -> str | None:
    """The digest of a published image, else ``None`` (the ``image_digest`` hook's answer)."""
    return digest(repository, tag) if published(spec, repository, tag) else None


def pullable(spec: WorldSpec, image: str) -> bool:
    """True when a node could pull ``image``: published here, or from another registry."""
    ref = parse_image(image)
    if not ref.ours:
        return True
    return published(spec, ref.repository, ref.tag)


def image_id(image: str) -> str:
    """``containerStatuses[].imageID`` of a pulled image: ``host/repository@sha256:…``."""
    ref = parse_image(image)
    host = ref.host or "docker.io"
    repository = ref.repository if ref.host or "/" in ref.repository else (
        f"library/{ref.repository}"
    )
    return f"{host}/{repository}@{digest(repository, ref.tag)}"


__all__ = [
    "HOST",
    "IMAGE",
    "REPOSITORY",
    "ImageRef",
    "digest",
    "image_digest",
    "image_id",
    "parse_image",
    "published",
    "pullable",
]
