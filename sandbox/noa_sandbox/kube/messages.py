"""The request and response values the sandbox API server's handlers pass around."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from noa_sandbox.kube.errors import ApiError, bad_request

JSON = "application/json"


@dataclass
class Response:
    """An answer: a body, or a ``stream`` of chunks (watch)."""

    status: int
    body: bytes = b""
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterator[bytes] | None = None


def json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(obj, separators=(",", ":")).encode(), JSON, headers or {})


def error_response(error: ApiError) -> Response:
    return json_response(error.status, error.to_status())


@dataclass
class Request:
    """One parsed request and what the request log records about it."""

    method: str
    path: str
    raw_query: str
    query: dict[str, str]
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    verb: str = ""
    plural: str | None = None
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    dry_run: bool = False
    user: str | None = None

    def flag(self, key: str) -> bool:
        return self.query.get(key, "").lower() in ("true", "1")

    def json_body(self) -> Any:
        if not self.body.strip():
            raise bad_request("the request body is empty; a JSON object was expected")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as err:
            raise bad_request(f"couldn't get version/kind; json parse error: {err}") from err

    def int_param(self, key: str) -> int | None:
        value = self.query.get(key)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except ValueError as err:
            raise bad_request(f'invalid value for {key}: "{value}": must be an integer') from err


__all__ = ["JSON", "Request", "Response", "error_response", "json_response"]
