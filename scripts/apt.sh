# Sourced (not run) by scripts/services.sh and scripts/peers-promtool.sh: Debian packages installed
# without starting their services. The caller defines `die` and sets APT_LOG first.
#
#   apt_install PACKAGE...   tries the cached package lists first; `apt-get update` (once) only
#                            when they cannot serve the install (a fresh machine has none).
# Debian starts a package's service on install; a policy-rc.d that answers 101 (action forbidden)
# prevents it. Docker images ship one already; otherwise ours lives only while the script runs.

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

forbid_service_starts() {
  if [ ! -e "$POLICY_RC" ]; then
    printf '#!/bin/sh\n# temporary, from giru scripts/%s\nexit 101\n' "$(basename "$0")" \
      | as_root tee "$POLICY_RC" >/dev/null
    as_root chmod 755 "$POLICY_RC"
    POLICY_RC_OURS=1
  fi
}

apt_get() { as_root env DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@"; }

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
