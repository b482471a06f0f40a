#!/usr/bin/env bash
# Installs promtool (Debian package `prometheus`, pinned major.minor) for the observability
# tests: `promtool check rules` / `test rules` on deploy/prometheus/, `promtool check metrics` on
# a scrape of Giru's /metrics, and the dashboards' PromQL. Called by scripts/peers.sh; skipped
# when promtool reports the pinned version. It starts no Prometheus server (a policy-rc.d that
# forbids service starts is in place while apt runs, as in scripts/services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
LOGS=$PWD/.tools/logs
APT_LOG=$LOGS/promtool-apt.log
VERSION=2.42.0   # Debian 12 (bookworm): prometheus 2.42.0+ds
mkdir -p "$LOGS"

say() { printf 'peers: %-34s %s\n' "$1" "$2"; }
die() { printf 'peers: FAILED: %s\n' "$1" >&2; exit 1; }

# "promtool, version 2.42.0+ds (branch: ...)": the upstream version without Debian's "+ds".
promtool_version() {
  promtool --version 2>&1 | awk '$1 == "promtool," && $2 == "version" {sub(/\+.*/, "", $3); print $3}'
}

if command -v promtool >/dev/null 2>&1 && [ "$(promtool_version)" = "$VERSION" ]; then
  say "promtool $VERSION" "up to date"
  exit 0
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root to run: $* (no sudo on this machine)"
  fi
}

POLICY_RC=/usr/sbin/policy-rc.d
POLICY_RC_OURS=0
cleanup() {
  if [ "$POLICY_RC_OURS" -eq 1 ]; then
    as_root rm -f "$POLICY_RC"
  fi
}
trap cleanup EXIT
if [ ! -e "$POLICY_RC" ]; then
  printf '#!/bin/sh\n# temporary, from giru scripts/peers-promtool.sh\nexit 101\n' \
    | as_root tee "$POLICY_RC" >/dev/null
  as_root chmod 755 "$POLICY_RC"
  POLICY_RC_OURS=1
fi

apt_get() { as_root env DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@"; }
if ! apt_get install --no-install-recommends prometheus >"$APT_LOG" 2>&1; then
  if ! { apt_get update && apt_get install --no-install-recommends prometheus; } >>"$APT_LOG" 2>&1
  then
    tail -n 25 "$APT_LOG" >&2
    die "apt-get install prometheus (see $APT_LOG)"
  fi
fi
command -v promtool >/dev/null 2>&1 || die "promtool missing after apt-get install prometheus"
found=$(promtool_version)
[ "$found" = "$VERSION" ] || die "promtool is $found, expected $VERSION"
say "promtool $VERSION" "installed"
