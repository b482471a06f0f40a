#!/usr/bin/env bash
# Builds the Go SDK interop client (tests/interop/clients/goclient, go-sdk v1.8.0 pinned in its
# go.mod/go.sum) into .tools/bin/interop-goclient. Called by scripts/peers.sh and by the interop
# tests; skipped when the stamp (hash of the sources + go version) matches.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SRC=$ROOT/tests/interop/clients/goclient
BIN=$ROOT/.tools/bin
STAMPS=$ROOT/.tools/stamps
LOGS=$ROOT/.tools/logs
mkdir -p "$BIN" "$STAMPS" "$LOGS"

go=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$go" ] || { echo "peers: FAILED: go not found (expected /usr/local/go/bin/go)" >&2; exit 1; }

want="$("$go" version) $(cat "$SRC"/go.mod "$SRC"/go.sum "$SRC"/*.go | sha256sum | cut -c1-16)"
if [ -x "$BIN/interop-goclient" ] && [ -f "$STAMPS/go-client" ] && [ "$(cat "$STAMPS/go-client")" = "$want" ]; then
  printf 'peers: %-34s %s\n' "go interop client (go-sdk v1.8.0)" "up to date"
  exit 0
fi
if ! (cd "$SRC" && "$go" build -mod=readonly -o "$BIN/interop-goclient" .) >"$LOGS/go-client.log" 2>&1; then
  tail -n 25 "$LOGS/go-client.log" >&2
  echo "peers: FAILED: go build tests/interop/clients/goclient (see .tools/logs/go-client.log)" >&2
  exit 1
fi
printf '%s' "$want" >"$STAMPS/go-client"
printf 'peers: %-34s %s\n' "go interop client (go-sdk v1.8.0)" "installed"
