#!/usr/bin/env bash
# Builds Open Policy Agent (github.com/open-policy-agent/opa, pinned) into .tools/bin/opa with
# `go install`. Called by scripts/peers.sh; skipped when the binary reports the pinned version.
# Giru runs it as a managed child (embedded mode) and the tests run `opa test` / `opa check`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.tools/bin
LOGS=$ROOT/.tools/logs
VERSION=1.22.3
mkdir -p "$BIN" "$LOGS"

if [ -x "$BIN/opa" ] && "$BIN/opa" version 2>/dev/null | grep -qx "Version: $VERSION"; then
  printf 'peers: %-34s %s\n' "opa v$VERSION" "up to date"
  exit 0
fi
go=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$go" ] || { echo "peers: FAILED: go not found (expected /usr/local/go/bin/go)" >&2; exit 1; }
if ! GOBIN="$BIN" GOFLAGS=-mod=mod "$go" install "github.com/open-policy-agent/opa@v$VERSION" \
    >"$LOGS/opa.log" 2>&1; then
  tail -n 25 "$LOGS/opa.log" >&2
  echo "peers: FAILED: go install opa@v$VERSION (see .tools/logs/opa.log)" >&2
  exit 1
fi
printf 'peers: %-34s %s\n' "opa v$VERSION" "installed"
