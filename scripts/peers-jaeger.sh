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
source scripts/go-peer.sh
VERSION=1.75.0

current() {
  [ -x "$BIN/jaeger" ] && "$BIN/jaeger" version 2>/dev/null | grep -q "\"gitVersion\":\"v$VERSION\""
}

build() {
  WORK=$(mktemp -d)
  trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT  # the build's subshell
  module_source "github.com/jaegertracing/jaeger@v$VERSION" "$WORK/jaeger" || return 1
  cd "$WORK/jaeger"
  GOFLAGS=-mod=mod "$go" build -trimpath -o "$BIN/jaeger.new" \
    -ldflags "-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=v$VERSION" \
    ./cmd/jaeger
  mv "$BIN/jaeger.new" "$BIN/jaeger"
}

go_peer jaeger "jaeger v$VERSION" current build "build jaeger v$VERSION"
