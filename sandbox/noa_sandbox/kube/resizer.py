"""The volume resizer: what the CSI external-resizer and the kubelet do when a PVC grows.

A Bound PVC whose ``spec.resources.requests.storage`` is above its ``status.capacity.storage``
and whose StorageClass allows expansion (``allowVolumeExpansion: true``) is resized: the
controller records ``Resizing`` / ``ExternalExpanding`` / ``VolumeResizeSuccessful``, then sets
``status.capacity.storage`` to the request (the file system grown online, as EBS with ext4 does).
A class that does not allow expansion leaves the PVC as it is (the API server refuses such a
request first: :func:`noa_sandbox.kube.writechecks.check_pvc_resize`).
"""

from __future__ import annotations

from collections.abc import Mapping

from noa_sandbox.kube.controlkit import emit
from noa_sandbox.kube.hooks import Obj
from noa_sandbox.kube.quantity import parse_quantity
from noa_sandbox.kube.store import Store

RESIZER = "external-resizer ebs.csi.aws.com"


def requested(pvc: Obj) -> str | None:
    """The storage a PVC asks for (``spec.resources.requests.storage``)."""
    return (((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}).get(
        "storage")


def capacity(pvc: Obj) -> str | None:
    """The storage a PVC has (``status.capacity.storage``)."""
    return ((pvc.get("status") or {}).get("capacity") or {}).get("storage")


def expandable(pvc: Obj, classes: Mapping[str, Obj]) -> bool:
    """The PVC's StorageClass exists and allows expansion."""
    sc = classes.get(str((pvc.get("spec") or {}).get("storageClassName") or ""))
    return bool(sc and sc.get("allowVolumeExpansion"))


def sync_pvc(store: Store, pvc: Obj, classes: Mapping[str, Obj]) -> None:
    """Grow ``status.capacity`` of a Bound PVC to its request when its class allows it."""
    want, have = requested(pvc), capacity(pvc)
    status = pvc.get("status") or {}
    if want is None or have is None or status.get("phase") != "Bound":
        return
    try:
        if parse_quantity(want) <= parse_quantity(have):
            return
    except ValueError:
        return
    meta = pvc["metadata"]
    if not expandable(pvc, classes):
        return
    emit(store, pvc, "Resizing", f"External resizer is resizing volume "
         f"{(pvc.get('spec') or {}).get('volumeName', '')}", component=RESIZER)
    emit(store, pvc, "ExternalExpanding", "waiting for an external controller to expand this "
         "PVC", component="volume_expand")

    def grow(obj: Obj, size: str = want) -> None:
        st = obj.setdefault("status", {})
        st.setdefault("capacity", {})["storage"] = size
        st.pop("conditions", None)
        st.pop("allocatedResources", None)

    grown = store.mutate("persistentvolumeclaims", meta["namespace"], meta["name"], grow,
                         status_only=True)
    emit(store, grown, "VolumeResizeSuccessful", "MountVolume.NodeExpandVolume succeeded for "
         f"volume \"{(pvc.get('spec') or {}).get('volumeName', '')}\"", component="kubelet")


__all__ = ["capacity", "expandable", "requested", "sync_pvc"]
