#!/usr/bin/env bash
# Makes sure the binaries of the services the integration tests start themselves are installed:
# PostgreSQL 15 server (initdb, pg_ctl, postgres) and redis-server, from Debian packages, and the
# openssl CLI (scripts/dev-ca.sh makes the stack's development certificates with it), and Chromium
# (the browser the sign-in tests and the web UI's end-to-end tests drive with playwright-core).
# Idempotent and instant when they are present. It starts no system service: tests/services.py
# runs its own servers on free loopback ports in temp dirs.
set -euo pipefail
cd "$(dirname "$0")/.."
LOGS=$PWD/.tools/logs
APT_LOG=$LOGS/services-apt.log
mkdir -p "$LOGS"

PG_MAJOR=15
PG_PACKAGES=(postgresql "postgresql-$PG_MAJOR")
REDIS_PACKAGES=(redis-server)

say() { printf 'services: %-34s %s\n' "$1" "$2"; }
die() { printf 'services: FAILED: %s\n' "$1" >&2; exit 1; }
source scripts/apt.sh

# pg_bindir: the directory holding initdb, pg_ctl and postgres (PATH first, then Debian's layout,
# which keeps them off PATH); the same search as tests/services.py.
pg_bindir() {
  local initdb dir
  if initdb=$(command -v initdb) && dir=$(dirname "$(readlink -f "$initdb")") \
    && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
    echo "$dir"
    return 0
  fi
  for dir in /usr/lib/postgresql/"$PG_MAJOR"/bin /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

missing=()
pg_bindir >/dev/null || missing+=("${PG_PACKAGES[@]}")
command -v redis-server >/dev/null 2>&1 || missing+=("${REDIS_PACKAGES[@]}")
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ -x /usr/bin/chromium ] || missing+=(chromium)  # sign-in and web UI tests (playwright-core)
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}"
fi

dir=$(pg_bindir) || die "initdb/pg_ctl/postgres missing after apt-get install ${PG_PACKAGES[*]}"
redis=$(command -v redis-server) || die "redis-server missing after apt-get install"
state=$([ ${#missing[@]} -gt 0 ] && echo installed || echo present)
say "postgresql server, redis-server" "$state ($dir, $redis)"
