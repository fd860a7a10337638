"""``python -m noa_sandbox.kube``: run the sandbox Kubernetes API server until SIGTERM.

    python -m noa_sandbox.kube --port P --state-dir DIR [--world FILE] [--host 127.0.0.1]
                               [--metrics-port M]

Objects persist in ``DIR/store.json``, tokens come from ``DIR/tokens.json`` (re-read when it
changes), requests are logged
to ``DIR/requests.jsonl``; the simulated cluster (:mod:`.cluster`) is attached to the store and
answers pod logs, proxy requests and registry lookups. With ``--metrics-port`` the objects are
also served as kube-state-metrics (:mod:`.ksm`, no authentication) on that port. The store is
flushed on exit.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from noa_sandbox.kube import cluster, ksm
from noa_sandbox.kube.auth import load_tokens
from noa_sandbox.kube.server import make_server
from noa_sandbox.kube.store import Store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m noa_sandbox.kube",
                                     description="The sandbox Kubernetes API server.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--world", type=Path, default=None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--metrics-port", type=int, default=None)
    args = parser.parse_args(argv)
    state_dir: Path = args.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    store = Store(state_dir / "store.json")
    hooks = cluster.attach(store, world_file=args.world, state_dir=state_dir)
    server = make_server(
        store,
        args.host,
        args.port,
        hooks=hooks,
        tokens=load_tokens(state_dir / "tokens.json"),
        request_log=state_dir / "requests.jsonl",
    )
    server.watch_tokens(state_dir / "tokens.json")
    metrics = None if args.metrics_port is None else ksm.serve(store, args.host, args.metrics_port)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stderr.write(
        f"noa sandbox kube-apiserver listening on {server.url} (state {state_dir}, "
        f"resourceVersion {store.resource_version})\n"
    )
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        if metrics is not None:
            metrics[0].shutdown()
            metrics[0].server_close()
        server.server_close()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
