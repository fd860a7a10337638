"""``python -m noa_sandbox.simulator --port P --state FILE``: run the simulated NOA Server."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

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
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return run(args.port, args.state, host=args.host)


if __name__ == "__main__":
    sys.exit(main())
