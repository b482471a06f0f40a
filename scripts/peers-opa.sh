#!/usr/bin/env bash
# Builds Open Policy Agent (github.com/open-policy-agent/opa, pinned) into .tools/bin/opa with
# `go install`. Called by scripts/peers.sh; skipped when the binary reports the pinned version.
# Giru runs it as a managed child (embedded mode) and the tests run `opa test` / `opa check`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/go-peer.sh
VERSION=1.22.3

current() { [ -x "$BIN/opa" ] && "$BIN/opa" version 2>/dev/null | grep -qx "Version: $VERSION"; }

build() {
  GOBIN="$BIN" GOFLAGS=-mod=mod "$go" install "github.com/open-policy-agent/opa@v$VERSION"
}

go_peer opa "opa v$VERSION" current build "go install opa@v$VERSION"
