"""The sandbox's Kubernetes API server: the Kubernetes REST API over HTTP/1.1, stdlib only.

:func:`make_server` serves a :class:`~.store.Store` so that the official ``kubernetes`` client
works against it as against a real cluster: the core and group APIs of :mod:`.resources`
(get/list/watch/create/update/patch/delete/deletecollection, ``dryRun=All``, ``status`` and
``scale`` subresources, label/field selectors, ``limit``/``continue``), watch streams
(chunked newline-delimited JSON, ended by ``timeoutSeconds`` or the client closing the
connection), pod logs and the service/pod proxy (answered by the cluster's
:class:`~.hooks.Hooks`, see :mod:`.workloads`), ``/version``, health and discovery, the OCI
registry endpoints of the sandbox registry (``/v2/...``), and ``/sandbox/faults`` for tests.
Failures are ``Status`` objects (see :mod:`.errors`); auth is bearer tokens with two roles
(:mod:`.auth`); every request is logged before its response is sent (:mod:`.requestlog`).

Hooks may raise :class:`~.errors.ApiError` to answer with a ``Status`` (e.g. a container that
is still waiting to start).
"""

from __future__ import annotations

import base64
import json
import logging
import select
import socket
import socketserver
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from noa_sandbox.kube import discovery, workloads
from noa_sandbox.kube.auth import Principal, allowed, authenticate, forbidden, load_tokens
from noa_sandbox.kube.errors import ApiError, bad_request
from noa_sandbox.kube.faults import Faults, parse_fault
from noa_sandbox.kube.hooks import Hooks
from noa_sandbox.kube.messages import Request, Response, error_response, json_response
from noa_sandbox.kube.requestlog import RequestLog, is_mutating
from noa_sandbox.kube.resources import ResourceType
from noa_sandbox.kube.routes import Route, method_not_allowed, route, verb_of
from noa_sandbox.kube.store import Obj, Store

log = logging.getLogger(__name__)

DEFAULT_WATCH_TIMEOUT_S = 1800.0


class KubeApiServer(ThreadingHTTPServer):
    """The HTTP server; its handler reads the fields below."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        store: Store,
        hooks: Hooks,
        tokens: Mapping[str, Principal],
        request_log: Path | None,
    ) -> None:
        super().__init__(address, Handler)
        self.store = store
        self.hooks = hooks
        self.tokens = dict(tokens)
        self.tokens_file: Path | None = None
        self._tokens_stamp: tuple[int, int] | None = None
        self.request_log = RequestLog(request_log)
        self.faults = Faults()

    def watch_tokens(self, path: Path) -> None:
        """Take tokens from ``path`` from now on, re-reading it whenever it changes (so ``noa
        sandbox up`` can add contexts to a running server)."""
        self.tokens_file = path
        self.current_tokens()

    def current_tokens(self) -> Mapping[str, Principal]:
        """The tokens in force (re-read from :attr:`tokens_file` when it changed; a file that
        cannot be read or parsed keeps the previous tokens)."""
        if self.tokens_file is None:
            return self.tokens
        try:
            st = self.tokens_file.stat()
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp != self._tokens_stamp:
                self.tokens = dict(load_tokens(self.tokens_file))
                self._tokens_stamp = stamp
        except (OSError, ValueError):
            pass
        return self.tokens

    def server_bind(self) -> None:
        """Bind without ``HTTPServer``'s reverse DNS lookup (``getfqdn`` can take seconds)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


def make_server(
    store: Store,
    host: str,
    port: int,
    *,
    hooks: Hooks,
    tokens: Mapping[str, Principal],
    request_log: Path | None,
) -> KubeApiServer:
    """A server bound to ``host:port`` (``0``: a free port); call ``serve_forever()``."""
    return KubeApiServer((host, port), store, hooks, tokens, request_log)


class Handler(BaseHTTPRequestHandler):
    """One connection (keep-alive); every method goes through :meth:`handle_request`."""

    protocol_version = "HTTP/1.1"
    server: KubeApiServer
    server_version = "noa-sandbox-kube-apiserver"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self.handle_request()

    def do_HEAD(self) -> None:  # noqa: N802
        self.handle_request()

    def do_POST(self) -> None:  # noqa: N802
        self.handle_request()

    def do_PUT(self) -> None:  # noqa: N802
        self.handle_request()

    def do_PATCH(self) -> None:  # noqa: N802
        self.handle_request()

    def do_DELETE(self) -> None:  # noqa: N802
        self.handle_request()

    def do_OPTIONS(self) -> None:  # noqa: N802
        self.handle_request()

    # ---------------------------------------------------------------------------- plumbing

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def handle_request(self) -> None:
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            raw_query=url.query,
            query={k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()},
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
        )
        try:
            response = self._dispatch(request)
        except ApiError as err:
            response = error_response(err)
        except Exception:  # noqa: BLE001 - a bug must answer 500, not drop the connection
            log.exception("sandbox API server failed on %s %s", self.command, self.path)
            response = error_response(ApiError(500, "InternalError", "Internal error occurred"))
        self.server.request_log.write({
            "method": request.method,
            "path": request.path,
            "query": request.raw_query,
            "verb": request.verb,
            "plural": request.plural,
            "namespace": request.namespace,
            "name": request.name,
            "subresource": request.subresource,
            "dry_run": request.dry_run,
            "user": request.user,
            "status": response.status,
            "mutating": is_mutating(request.verb, request.method, request.dry_run),
        })
        try:
            self._send(request, response)
        except OSError:  # the client went away (e.g. its read timeout expired)
            self.close_connection = True

    def _send(self, request: Request, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        for key, value in response.headers.items():
            self.send_header(key, value)
        if response.stream is not None:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._send_stream(response.stream)
            return
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if request.method != "HEAD" and response.body:
            self.wfile.write(response.body)

    def _send_stream(self, chunks: Iterator[bytes]) -> None:
        try:
            for chunk in chunks:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    # ---------------------------------------------------------------------------- dispatch

    def _dispatch(self, request: Request) -> Response:
        try:
            target = route(request.path)
        except ApiError:
            request.verb = "unknown"
            raise
        if target.endpoint == "health":
            request.verb = "health"
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if target.endpoint == "version":
            request.verb = "version"
            return json_response(200, discovery.VERSION)
        if target.endpoint == "registry":
            request.verb = "registry"
            return workloads.registry(self.server, request, target)
        if target.endpoint == "resource":
            self._describe(request, target)
        principal = authenticate(request.headers.get("authorization"),
                                 self.server.current_tokens())
        request.user = principal.user
        if target.endpoint == "faults":
            request.verb = "faults"
            return self._faults(request, principal)
        if target.endpoint == "discovery":
            request.verb = "discovery"
            return self._discovery(request, target)
        return self._resource(request, target, principal)

    def _discovery(self, request: Request, target: Route) -> Response:
        if request.method not in ("GET", "HEAD"):
            raise method_not_allowed()
        if request.path.rstrip("/") == "/api":
            host, port = self.server.server_address[:2]
            return json_response(200, discovery.api_versions(f"{host!s}:{port}"))
        if not target.version:
            doc = discovery.api_group(target.group) if target.group else \
                discovery.api_group_list()
        else:
            doc = discovery.api_resource_list(target.group, target.version)
        if doc is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource",
                           {})
        return json_response(200, doc)

    def _faults(self, request: Request, principal: Principal) -> Response:
        if principal.role != "admin":
            raise ApiError(403, "Forbidden",
                           f'User "{principal.user}" cannot manage fault injection')
        faults = self.server.faults
        if request.method == "POST":
            faults.add(parse_fault(request.json_body()))
            return json_response(201, {"faults": faults.snapshot()})
        if request.method == "DELETE":
            faults.clear()
            return json_response(200, {"faults": []})
        if request.method == "GET":
            return json_response(200, {"faults": faults.snapshot()})
        raise method_not_allowed()

    @staticmethod
    def _describe(request: Request, target: Route) -> str | None:
        """Fill in what the request log says of a resource request; returns its RBAC verb."""
        assert target.rt is not None
        request.plural = target.rt.plural
        request.namespace = target.namespace
        request.name = target.name
        request.subresource = target.subresource
        verb = verb_of(target, request.method, request.flag("watch"))
        if target.subresource in ("log", "proxy"):
            request.verb = target.subresource
        else:
            request.verb = verb or request.method.lower()
        request.dry_run = request.query.get("dryRun") == "All"
        return verb

    def _resource(self, request: Request, target: Route, principal: Principal) -> Response:
        rt = target.rt
        assert rt is not None
        verb = self._describe(request, target)
        if verb is None:
            raise method_not_allowed()
        dry_run = request.query.get("dryRun")
        if dry_run not in (None, "", "All"):
            raise bad_request(f'Invalid dry run value "{dry_run}": supported value is "All"')
        if not allowed(principal, verb, rt.plural, target.subresource, group=rt.group,
                       namespace=target.namespace, name=target.name):
            raise forbidden(principal, verb, rt.plural, rt.group, target.namespace, target.name,
                            target.subresource)
        fault = self.server.faults.take(
            (verb, request.verb), rt.plural, target.namespace, target.name
        )
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            error = fault.error(rt.plural, rt.group, target.name)
            if error is not None:
                raise error
        if target.subresource == "log":
            return workloads.pod_log(self.server, request, target)
        if target.subresource == "proxy":
            return workloads.proxy(self.server, request, target)
        return self._api_verb(request, target, rt, verb)

    # ------------------------------------------------------------------------ API verbs

    def _api_verb(self, request: Request, target: Route, rt: ResourceType, verb: str) -> Response:
        store = self.server.store
        ns, name, sub = target.namespace, target.name, target.subresource
        dry = request.dry_run
        if verb == "watch":
            return self._watch(request, target, rt)
        if verb == "list":
            return self._list(request, rt, ns)
        if verb == "get":
            assert name is not None
            if sub == "scale":
                return json_response(200, store.get_scale(rt.plural, ns, name))
            return json_response(200, store.get(rt.plural, ns, name))
        if verb == "create":
            return json_response(201, store.create(rt.plural, ns, request.json_body(),
                                                   dry_run=dry))
        if verb == "update":
            assert name is not None
            return json_response(200, store.replace(rt.plural, ns, name, request.json_body(),
                                                    subresource=sub, dry_run=dry))
        if verb == "patch":
            assert name is not None
            content_type = request.headers.get("content-type") or ""
            return json_response(200, store.patch(rt.plural, ns, name, request.json_body(),
                                                  content_type, subresource=sub, dry_run=dry))
        options = self._delete_options(request)
        if options.get("dry_run"):
            request.dry_run = dry = True
        propagation = str(options.get("propagation") or "Background")
        if verb == "delete":
            assert name is not None
            return json_response(200, store.delete(
                rt.plural, ns, name, propagation=propagation,
                precondition_rv=options.get("rv"), precondition_uid=options.get("uid"),
                dry_run=dry,
            ))
        if rt.namespaced and ns is None:
            raise method_not_allowed()
        deleted = store.delete_collection(
            rt.plural, ns, label_selector=request.query.get("labelSelector"),
            field_selector=request.query.get("fieldSelector"), propagation=propagation,
            dry_run=dry,
        )
        return json_response(200, self._list_doc(rt, deleted, store.resource_version))

    @staticmethod
    def _delete_options(request: Request) -> dict[str, Any]:
        options: dict[str, Any] = {
            "propagation": request.query.get("propagationPolicy"),
        }
        if request.body.strip():
            body = request.json_body()
            if not isinstance(body, dict):
                raise bad_request("DeleteOptions must be a JSON object")
            if body.get("propagationPolicy"):
                options["propagation"] = body["propagationPolicy"]
            elif body.get("orphanDependents") is True:
                options["propagation"] = "Orphan"
            preconditions = body.get("preconditions") or {}
            options["rv"] = preconditions.get("resourceVersion")
            options["uid"] = preconditions.get("uid")
            dry_run = body.get("dryRun") or []
            if dry_run and dry_run != ["All"]:
                raise bad_request(f'Invalid dry run value "{dry_run}": supported value is "All"')
            options["dry_run"] = dry_run == ["All"]
        return options

    @staticmethod
    def _list_doc(rt: ResourceType, items: list[Obj], rv: int,
                  extra_meta: dict[str, Any] | None = None) -> Obj:
        return {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": str(rv), **(extra_meta or {})},
            "items": items,
        }

    def _list(self, request: Request, rt: ResourceType, namespace: str | None) -> Response:
        items, rv = self.server.store.list(
            rt.plural, namespace, label_selector=request.query.get("labelSelector"),
            field_selector=request.query.get("fieldSelector"),
        )
        start = 0
        token = request.query.get("continue")
        if token:
            try:
                start = int(json.loads(base64.urlsafe_b64decode(token.encode()))["start"])
            except (ValueError, KeyError, TypeError) as err:
                raise bad_request(f"continue key is not valid: {err}") from err
        limit = request.int_param("limit")
        extra: dict[str, Any] = {}
        page = items[start:]
        if limit is not None and limit > 0 and len(page) > limit:
            page = page[:limit]
            end = start + limit
            extra["continue"] = base64.urlsafe_b64encode(
                json.dumps({"start": end, "rv": rv}).encode()
            ).decode()
            extra["remainingItemCount"] = len(items) - end
        return json_response(200, self._list_doc(rt, page, rv, extra))

    def _watch(self, request: Request, target: Route, rt: ResourceType) -> Response:
        field_selector = request.query.get("fieldSelector")
        if target.name is not None:
            by_name = f"metadata.name={target.name}"
            field_selector = f"{field_selector},{by_name}" if field_selector else by_name
        rv_text = request.query.get("resourceVersion") or ""
        try:
            resource_version = int(rv_text) if rv_text else None
        except ValueError as err:
            raise bad_request(f'invalid resourceVersion "{rv_text}"') from err
        timeout = request.int_param("timeoutSeconds")
        stop = threading.Event()
        try:
            events: Iterator[tuple[str, Obj]] | None = self.server.store.watch(
                rt.plural,
                target.namespace,
                resource_version=resource_version,
                label_selector=request.query.get("labelSelector"),
                field_selector=field_selector,
                timeout_s=float(timeout) if timeout else DEFAULT_WATCH_TIMEOUT_S,
                stop=stop,
            )
            early: ApiError | None = None
        except ApiError as err:
            if err.status != 410:
                raise
            events, early = None, err
        return Response(200, stream=self._watch_chunks(events, early, stop))

    def _watch_chunks(
        self, events: Iterator[tuple[str, Obj]] | None, early: ApiError | None,
        stop: threading.Event,
    ) -> Iterator[bytes]:
        def line(kind: str, obj: Obj) -> bytes:
            return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + \
                b"\n"

        if early is not None or events is None:
            yield line("ERROR", (early or ApiError(500, "InternalError", "")).to_status())
            return
        monitor = threading.Thread(target=self._watch_disconnect, args=(stop,), daemon=True)
        monitor.start()
        try:
            for kind, obj in events:
                yield line(kind, obj)
        except ApiError as err:
            yield line("ERROR", err.to_status())
        finally:
            stop.set()

    def _watch_disconnect(self, stop: threading.Event) -> None:
        """Set ``stop`` when the client closes the connection of a watch."""
        sock = self.connection
        while not stop.is_set():
            try:
                readable, _, _ = select.select([sock], [], [], 1.0)
                if readable and sock.recv(1, socket.MSG_PEEK) == b"":
                    stop.set()
                    return
                if readable:
                    stop.wait(1.0)
            except (OSError, ValueError):
                stop.set()
                return

__all__ = ["DEFAULT_WATCH_TIMEOUT_S", "Handler", "KubeApiServer", "make_server"]
