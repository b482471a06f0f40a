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

# as_root CMD...: CMD as root (sudo when not root already).
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

# Debian starts a package's service on install; a policy-rc.d that answers 101 (action forbidden)
# prevents it. Docker images ship one already; otherwise ours lives only while apt runs.
forbid_service_starts() {
  if [ ! -e "$POLICY_RC" ]; then
    printf '#!/bin/sh\n# temporary, from giru scripts/services.sh\nexit 101\n' \
      | as_root tee "$POLICY_RC" >/dev/null
    as_root chmod 755 "$POLICY_RC"
    POLICY_RC_OURS=1
  fi
}

apt_get() { as_root env DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@"; }

# apt_install PACKAGE...: tries the cached package lists first; `apt-get update` (once) only when
# they cannot serve the install (a fresh machine has none).
apt_install() {
  forbid_service_starts
  if apt_get install --no-install-recommends "$@" >"$APT_LOG" 2>&1; then
    return
  fi
  if ! { apt_get update && apt_get install --no-install-recommends "$@"; } >>"$APT_LOG" 2>&1; then
    tail -n 25 "$APT_LOG" >&2
    die "apt-get install $* (see $APT_LOG)"
  fi
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
