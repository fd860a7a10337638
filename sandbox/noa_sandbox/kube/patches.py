"""The three PATCH flavours of the Kubernetes API, applied to JSON documents.

Content types (``Content-Type`` of the PATCH request):

- ``application/json-patch+json``: RFC 6902 (add, remove, replace, move, copy, test); a
  malformed patch is 400 BadRequest, an operation that does not apply (failed ``test``, missing
  path, bad index) is 422 Invalid, as with the real server.
- ``application/merge-patch+json``: RFC 7386 (objects merge recursively, ``null`` deletes, lists
  are replaced).
- ``application/strategic-merge-patch+json``: merge patch, except that lists with a *patch merge
  key* are merged item by item: ``containers``/``initContainers``/``ephemeralContainers``/
  ``volumes``/``env``/``imagePullSecrets``/``hostAliases`` by ``name``, container ``ports`` by
  ``containerPort``, Service ``spec.ports`` by ``port``, ``volumeMounts`` by ``mountPath``,
  ``volumeDevices`` by ``devicePath``, ``conditions`` by ``type``, ``ownerReferences`` by
  ``uid``; ``finalizers`` merge as a set; other lists (``tolerations``, ``args``, ``envFrom``...)
  are replaced. Directives: ``$patch: replace|delete|merge`` (map and list item),
  ``$deleteFromPrimitiveList/<field>``, ``$retainKeys`` (honoured), ``$setElementOrder/<field>``
  (dropped). Custom resources have no merge keys, so it degrades to a merge patch (the real server
  refuses strategic merge on custom resources with 415; we accept it, see below).
- ``application/apply-patch+yaml`` (server-side apply): 415 UnsupportedMediaType.

What the official client sends (``kubernetes`` 37.0.1, read from its source): the generated
``patch_namespaced_*`` methods pick ``application/json-patch+json`` (the first JSON type in the
list ``select_header_content_type`` gets), and ``kubernetes/client/rest.py`` rewrites that to
``application/strategic-merge-patch+json`` when the body is not a list. So
``patch_namespaced_deployment(name, ns, {...})`` sends a **strategic merge patch** and
``patch_namespaced_deployment(name, ns, [{"op": ...}])`` a **JSON patch**;
``_content_type="application/merge-patch+json"`` forces a merge patch. The same rewrite applies to
``CustomObjectsApi.patch_namespaced_custom_object``, which is why strategic merge is accepted for
custom resources too.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from noa_sandbox.kube.errors import ApiError, bad_request

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
SUPPORTED = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


def apply_patch(doc: Any, patch: Any, content_type: str) -> Any:
    """Apply ``patch`` (already JSON-decoded) of ``content_type`` to a copy of ``doc``."""
    media = content_type.split(";")[0].strip().lower()
    if media == JSON_PATCH:
        return json_patch(doc, patch)
    if media == MERGE_PATCH:
        if not isinstance(patch, dict):
            raise bad_request("a JSON merge patch must be a JSON object")
        return merge_patch(doc, patch)
    if media == STRATEGIC_MERGE_PATCH:
        if not isinstance(patch, dict):
            raise bad_request("a strategic merge patch must be a JSON object")
        return strategic_merge_patch(doc, patch)
    if media.startswith("application/apply-patch"):
        raise ApiError(
            415,
            "UnsupportedMediaType",
            "server-side apply (application/apply-patch+yaml) is not supported by the NOA sandbox "
            "API server; send a strategic merge, JSON merge or JSON patch instead",
        )
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(SUPPORTED)}",
    )


# -------------------------------------------------------------------------------- RFC 7386


def merge_patch(doc: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -------------------------------------------------------------------------------- RFC 6902


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise bad_request(f"invalid JSON pointer {path!r}")
    if path == "":
        return []
    return [_unescape(t) for t in path[1:].split("/")]


def _index(container: list[Any], token: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:  # noqa: S105 - the JSON pointer "end of array" token
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise _unprocessable(f"invalid index {token!r} in JSON patch path")
    index = int(token)
    limit = len(container) if allow_end else len(container) - 1
    if index > limit:
        raise _unprocessable(f"index {index} out of bounds in JSON patch path")
    return index


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    current = doc
    for token in tokens[:-1]:
        if isinstance(current, dict):
            if token not in current:
                raise _unprocessable(f"doc is missing path: {path!r}")
            current = current[token]
        elif isinstance(current, list):
            current = current[_index(current, token, allow_end=False)]
        else:
            raise _unprocessable(f"doc is missing path: {path!r}")
    return current


def _get(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _unprocessable(f"doc is missing path: {path!r}")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, allow_end=False)]
    raise _unprocessable(f"doc is missing path: {path!r}")


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, allow_end=True), value)
    else:
        raise _unprocessable(f"doc is missing path: {path!r}")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    tokens = _pointer(path)
    if not tokens:
        raise _unprocessable("cannot remove the document root")
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _unprocessable(f"Unable to remove nonexistent key: {last}: missing value")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, allow_end=False))
    raise _unprocessable(f"doc is missing path: {path!r}")


def json_patch(doc: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch."""
    if not isinstance(operations, list):
        raise bad_request("a JSON patch must be a JSON array of operations")
    result = copy.deepcopy(doc)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise bad_request(f"invalid JSON patch operation: {json.dumps(operation)[:200]}")
        op, path = operation["op"], operation["path"]
        if op in ("add", "replace", "test") and "value" not in operation:
            raise bad_request(f"JSON patch operation {op!r} at {path!r} has no value")
        value = copy.deepcopy(operation.get("value"))
        if op == "add":
            result = _add(result, path, value)
        elif op == "remove":
            result, _ = _remove(result, path)
        elif op == "replace":
            _get(result, path)  # must exist
            if _pointer(path):
                result, _ = _remove(result, path)
            result = _add(result, path, value) if _pointer(path) else value
        elif op in ("move", "copy"):
            source = operation.get("from")
            if not isinstance(source, str):
                raise bad_request(f"JSON patch operation {op!r} needs 'from'")
            if op == "move":
                result, moved = _remove(result, source)
            else:
                moved = copy.deepcopy(_get(result, source))
            result = _add(result, path, moved)
        elif op == "test":
            if _get(result, path) != value:
                raise _unprocessable(
                    f"the server rejected our request due to an error in our request: "
                    f"testing value {path} failed: test failed"
                )
        else:
            raise bad_request(f"Unexpected kind: {op}")
    return result


# ---------------------------------------------------------------------- strategic merge patch

_NAME_KEYED = {
    "containers",
    "initContainers",
    "ephemeralContainers",
    "volumes",
    "env",
    "imagePullSecrets",
    "hostAliases",
}
_SET_LISTS = {"finalizers"}
_CONTAINER_LISTS = {"containers", "initContainers", "ephemeralContainers"}


def merge_key(path: tuple[str, ...], field: str) -> str | None:
    """The patch merge key of list ``field`` at ``path`` (``None``: the list is replaced)."""
    if field in _NAME_KEYED:
        if field == "hostAliases":
            return "ip"
        return "name"
    if field == "ports":
        return "containerPort" if path and path[-1] in _CONTAINER_LISTS else "port"
    if field == "volumeMounts":
        return "mountPath"
    if field == "volumeDevices":
        return "devicePath"
    if field == "conditions":
        return "type"
    if field == "ownerReferences":
        return "uid"
    return None


def strategic_merge_patch(doc: Any, patch: dict[str, Any]) -> Any:
    """Kubernetes strategic merge patch (see the module docstring for the supported keys)."""
    return _smp_map(copy.deepcopy(doc) if isinstance(doc, dict) else {}, patch, ())


def _smp_map(original: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...]) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    body = {k: v for k, v in patch.items() if k != "$patch"}
    if directive == "replace":
        return _strip_directives(body)
    if directive not in (None, "merge"):
        raise bad_request(f"Unknown patch type: {directive}")
    retain = body.pop("$retainKeys", None)
    result = original
    for key, value in body.items():
        if key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = [v for v in result[field] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
            continue
        current = result.get(key)
        if isinstance(value, dict):
            merged = _smp_map(current if isinstance(current, dict) else {}, value, (*path, key))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _smp_list(current if isinstance(current, list) else [], value, path, key)
        else:
            result[key] = value
    if isinstance(retain, list):
        keep = set(retain)
        result = {k: v for k, v in result.items() if k in keep}
    return result


def _smp_list(
    original: list[Any], patch: list[Any], path: tuple[str, ...], field: str
) -> list[Any]:
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [
            _strip_directives(i)
            for i in patch
            if not (isinstance(i, dict) and i.get("$patch") == "replace")
        ]
    if field in _SET_LISTS:
        result = list(original)
        for item in patch:
            if item not in result:
                result.append(item)
        return result
    key = merge_key(path, field)
    if key is None or not all(isinstance(i, dict) for i in patch):
        return [_strip_directives(i) for i in patch if not _is_delete(i)]
    result = [copy.deepcopy(i) for i in original]
    for item in patch:
        if key not in item:
            raise bad_request(f"map: {item} does not contain declared merge key: {key}")
        position = next(
            (n for n, cur in enumerate(result) if isinstance(cur, dict) and cur.get(key)
             == item[key]),
            None,
        )
        if item.get("$patch") == "delete":
            if position is not None:
                result.pop(position)
            continue
        if position is None:
            result.append(_strip_directives(item))
        else:
            merged = _smp_map(result[position], item, (*path, field))
            result[position] = merged
    return result


def _is_delete(item: Any) -> bool:
    return isinstance(item, dict) and item.get("$patch") == "delete"


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if not k.startswith("$") and v is not None
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


__all__ = [
    "APPLY_PATCH",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "apply_patch",
    "json_patch",
    "merge_key",
    "merge_patch",
    "strategic_merge_patch",
]
