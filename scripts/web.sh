#!/usr/bin/env bash
# Builds the web UI (web/, SvelteKit) into src/giru/ui/, which the control plane serves at /ui
# and wheels carry. Skipped when nothing in web/ changed since the last build (a stamp with the
# sources' hash in src/giru/ui/.build-stamp); `npm ci` runs only when package-lock.json changed.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=src/giru/ui
STAMP=$OUT/.build-stamp
NPM=$PWD/.tools/bin/npm

bash scripts/peers.sh node   # Node 22 and the npm wrapper in .tools/bin

# run_quietly WHAT CMD...: CMD's output only when it fails.
run_quietly() {
  local what=$1 log
  shift
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    rm -f "$log"
    printf 'web: FAILED: %s\n' "$what" >&2
    exit 1
  fi
  rm -f "$log"
}

lock=$(sha256sum web/package.json web/package-lock.json | sha256sum | cut -c1-16)
if [ ! -f web/node_modules/.giru-lock ] || [ "$(cat web/node_modules/.giru-lock)" != "$lock" ]; then
  run_quietly "npm ci in web/" bash -c 'cd web && nice -n 10 "$1" ci --no-audit --no-fund' _ "$NPM"
  printf '%s' "$lock" >web/node_modules/.giru-lock
  printf 'web: %-34s %s\n' "npm packages (web/)" "installed"
fi

sources=$(find web -path web/node_modules -prune -o -path web/.svelte-kit -prune \
  -o -path web/test-results -prune -o -type f -print | LC_ALL=C sort)
want=$( (printf '%s\n' "$sources"; printf '%s\n' "$sources" | xargs -d '\n' sha256sum) | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -f "$OUT/index.html" ]; then
  printf 'web: %-34s %s\n' "UI build (src/giru/ui)" "up to date"
  exit 0
fi
run_quietly "vite build in web/" bash -c 'cd web && nice -n 10 "$1" run build' _ "$NPM"
printf '%s' "$want" >"$STAMP"
printf 'web: %-34s %s\n' "UI build (src/giru/ui)" "built"
