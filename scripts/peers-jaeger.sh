#!/usr/bin/env bash
# Builds Jaeger (github.com/jaegertracing/jaeger, pinned) from the Go module proxy source into
# .tools/bin/jaeger. Called by scripts/peers.sh; skipped when the binary reports the pinned version.
# The module's v1.x tags carry Jaeger v2 (an OpenTelemetry Collector distribution) at cmd/jaeger,
# whose all-in-one configuration takes OTLP over gRPC and HTTP, keeps traces in memory and serves the
# query API; the tracing tests start it on free loopback ports with a generated configuration.
#
# `go install jaeger@v…` refuses the module (its go.mod has a replace directive), so the build copies
# the module source and runs `go build ./cmd/jaeger` inside it, with its own go.mod and go.sum.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.tools/bin
LOGS=$ROOT/.tools/logs
VERSION=1.75.0
mkdir -p "$BIN" "$LOGS"

if [ -x "$BIN/jaeger" ] && "$BIN/jaeger" version 2>/dev/null | grep -q "\"gitVersion\":\"v$VERSION\""; then
  printf 'peers: %-34s %s\n' "jaeger v$VERSION" "up to date"
  exit 0
fi
go=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$go" ] || { echo "peers: FAILED: go not found (expected /usr/local/go/bin/go)" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT

build() {
  local dir
  dir=$("$go" mod download -json "github.com/jaegertracing/jaeger@v$VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$dir" ] || { echo "module directory not found for jaeger@v$VERSION"; return 1; }
  cp -r "$dir" "$WORK/jaeger"
  chmod -R u+w "$WORK/jaeger"
  cd "$WORK/jaeger"
  GOFLAGS=-mod=mod "$go" build -trimpath -o "$BIN/jaeger.new" \
    -ldflags "-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=v$VERSION" \
    ./cmd/jaeger
  mv "$BIN/jaeger.new" "$BIN/jaeger"
}

if ! (build) >"$LOGS/jaeger.log" 2>&1; then
  tail -n 25 "$LOGS/jaeger.log" >&2
  echo "peers: FAILED: build jaeger v$VERSION (see .tools/logs/jaeger.log)" >&2
  exit 1
fi
printf 'peers: %-34s %s\n' "jaeger v$VERSION" "installed"
