"""`make stack` / `make stack-down`: the production topology on this machine (tests/stack.py).

.venv/bin/python scripts/stack.py up|down|status [--root .stack] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.services import ServiceUnavailableError  # noqa: E402
from tests.stack import Stack, StackLayout  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(prog="stack", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--root", type=Path, default=REPO / ".stack")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    stack = Stack(StackLayout(args.root, workers=args.workers))
    try:
        if args.action == "up":
            stack.up()
            print(_summary(stack))
        elif args.action == "down":
            stack.down()
            print("stack: stopped")
        else:
            for name, pid, port, alive in stack.status():
                print(f"{name:28} pid {pid:>7}  port {port:>5}  {'up' if alive else 'DOWN'}")
    except ServiceUnavailableError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 1
    return 0


def _summary(stack: Stack) -> str:
    rows = [
        ("MCP (Envoy)", f"{stack.edge}/mcp", "key: $GIRU_DEMO_KEY (default giru-demo-key)"),
        ("MCP over HTTPS", f"{stack.edge_tls}/mcp", f"CA: {stack.ca}"),
        ("API (Envoy)", f"{stack.edge}/api/docs", f"admin token: {stack.secrets_file}"),
        ("Envoy admin", f"{stack.admin}/config_dump", ""),
    ]
    lines = [f"  {name:<16} {url:<36} {note}".rstrip() for name, url, note in rows]
    return (
        f"\nGiru stack is up ({len(stack.worker_names)} workers behind Envoy). "
        f"Logs: {stack.root}/logs/\n" + "\n".join(lines) + "\nStop it with: make stack-down"
    )


if __name__ == "__main__":
    raise SystemExit(main())
