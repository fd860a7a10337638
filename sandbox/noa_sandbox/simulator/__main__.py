"""``python -m noa_sandbox.simulator --port P --state FILE``: run the simulated NOA Server."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from noa_sandbox.simulator.cache import RedisCaches
from noa_sandbox.simulator.exporter import run


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and serve until signalled."""
    parser = argparse.ArgumentParser(
        prog="python -m noa_sandbox.simulator",
        description="Simulated NOA Server: /metrics driven by a world file (scenario, pods).",
    )
    parser.add_argument("--port", type=int, required=True, help="loopback port for /metrics")
    parser.add_argument("--state", type=Path, required=True, help="world file (JSON)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default loopback)")
    parser.add_argument("--redis-endpoint", type=Path, help="JSON file naming Redis' host/port")
    parser.add_argument("--redis-password-file", type=Path, help="file holding Redis' password")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    caches = None
    if args.redis_endpoint is not None and args.redis_password_file is not None:
        caches = RedisCaches(args.redis_endpoint, args.redis_password_file)
    return run(args.port, args.state, host=args.host, caches=caches)


if __name__ == "__main__":
    sys.exit(main())
