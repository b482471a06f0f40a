#!/usr/bin/env bash
# Installs the Go SDK's reference conformance client (go-sdk conformance/everything-client, the
# client the suite's `client` scenarios are written against) into .tools/bin/everything-client.
# Used by tests/conformance/test_client_suite.py (directly and behind Giru via
# tests/conformance/harness/giru_harness.py). Called by scripts/peers.sh; skipped when the stamp
# (package@version + go version) matches the built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PKG=github.com/modelcontextprotocol/go-sdk/conformance/everything-client
VERSION=v1.8.0
BIN=$ROOT/.tools/bin
STAMPS=$ROOT/.tools/stamps
LOGS=$ROOT/.tools/logs
mkdir -p "$BIN" "$STAMPS" "$LOGS"

go=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$go" ] || { echo "peers: FAILED: go not found (expected /usr/local/go/bin/go)" >&2; exit 1; }

want="$PKG@$VERSION $("$go" version)"
built() {
  "$go" version -m "$BIN/everything-client" 2>/dev/null \
    | awk '$1 == "mod" && $2 == "github.com/modelcontextprotocol/go-sdk" {print $3}'
}
if [ -x "$BIN/everything-client" ] && [ -f "$STAMPS/go-conformance-client" ] \
  && [ "$(cat "$STAMPS/go-conformance-client")" = "$want" ] && [ "$(built)" = "$VERSION" ]; then
  printf 'peers: %-34s %s\n' "go everything-client $VERSION" "up to date"
  exit 0
fi
if ! env GOBIN="$BIN" "$go" install "$PKG@$VERSION" >"$LOGS/go-conformance-client.log" 2>&1; then
  tail -n 25 "$LOGS/go-conformance-client.log" >&2
  echo "peers: FAILED: go install $PKG@$VERSION (see .tools/logs/go-conformance-client.log)" >&2
  exit 1
fi
printf '%s' "$want" >"$STAMPS/go-conformance-client"
printf 'peers: %-34s %s\n' "go everything-client $VERSION" "installed"
