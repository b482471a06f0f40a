#!/usr/bin/env bash
# Installs promtool (Debian package `prometheus`, pinned major.minor) for the observability
# tests: `promtool check rules` / `test rules` on deploy/prometheus/, `promtool check metrics` on
# a scrape of Giru's /metrics, and the dashboards' PromQL. Called by scripts/peers.sh; skipped
# when promtool reports the pinned version. It starts no Prometheus server (a policy-rc.d that
# forbids service starts is in place while apt runs: scripts/apt.sh, as for scripts/services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
LOGS=$PWD/.tools/logs
APT_LOG=$LOGS/promtool-apt.log
VERSION=2.42.0   # Debian 12 (bookworm): prometheus 2.42.0+ds
mkdir -p "$LOGS"

say() { printf 'peers: %-34s %s\n' "$1" "$2"; }
die() { printf 'peers: FAILED: %s\n' "$1" >&2; exit 1; }
source scripts/apt.sh

# "promtool, version 2.42.0+ds (branch: ...)": the upstream version without Debian's "+ds".
promtool_version() {
  promtool --version 2>&1 | awk '$1 == "promtool," && $2 == "version" {sub(/\+.*/, "", $3); print $3}'
}

if command -v promtool >/dev/null 2>&1 && [ "$(promtool_version)" = "$VERSION" ]; then
  say "promtool $VERSION" "up to date"
  exit 0
fi

apt_install prometheus
command -v promtool >/dev/null 2>&1 || die "promtool missing after apt-get install prometheus"
found=$(promtool_version)
[ "$found" = "$VERSION" ] || die "promtool is $found, expected $VERSION"
say "promtool $VERSION" "installed"
