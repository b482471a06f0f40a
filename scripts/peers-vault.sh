#!/usr/bin/env bash
# Builds HashiCorp Vault (MPL-2.0, pinned) from the Go module proxy source into .tools/bin/vault.
# Called by scripts/peers.sh; skipped when the binary reports the pinned version. The tests start
# `vault server -dev` (and a file-storage server) from it for the `vault` secret backend.
#
# The module zip of github.com/hashicorp/vault lacks its nested modules (api, api/auth/*, sdk), which
# its go.mod replaces with local folders: the build drops those replaces, pins the sdk to the version
# its go.mod names (a newer one does not compile), and leaves out the pki and transit builtins, which
# need two sdk symbols that version lacks (KV v2, the auth methods and audit devices are untouched).
# ~15 min cold on a busy 2-core machine; seconds when Go's module and build caches are warm.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/go-peer.sh
VERSION=1.14.0
SDK=github.com/hashicorp/vault/sdk@v0.9.2-0.20230530190758-08ee474850e0

current() { [ -x "$BIN/vault" ] && "$BIN/vault" version 2>/dev/null | grep -q "^Vault v$VERSION "; }

build() {
  WORK=$(mktemp -d)
  trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT  # the build's subshell
  module_source "github.com/hashicorp/vault@v$VERSION" "$WORK/vault" || return 1
  cd "$WORK/vault"
  local nested
  for nested in api api/auth/approle api/auth/kubernetes api/auth/userpass sdk; do
    "$go" mod edit "-dropreplace=github.com/hashicorp/vault/$nested"
  done
  "$go" mod edit "-replace=github.com/hashicorp/vault/sdk=$SDK"
  sed -i -e '/builtin\/logical\/pki"/d' -e '/builtin\/logical\/transit"/d' \
    -e '/"pki":/d' -e '/"transit":/d' helper/builtinplugins/registry.go
  GOFLAGS=-mod=mod "$go" build -o "$WORK/vault.bin" .
  "$WORK/vault.bin" version | grep -q "^Vault v$VERSION " || { echo "built binary is not v$VERSION"; return 1; }
  mv -f "$WORK/vault.bin" "$BIN/vault"
}

go_peer vault "vault v$VERSION" current build "vault v$VERSION from source"
