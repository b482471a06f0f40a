# Sourced (not run) by scripts/peers-{opa,vault,jaeger}.sh, from the checkout's root: a Go tool
# built at a pinned version into .tools/bin, skipped when the binary there reports that version.
#
#   go_peer NAME LABEL CURRENT BUILD FAILED
# CURRENT and BUILD are the caller's functions. CURRENT succeeds when the installed binary is the
# pinned one: "up to date", and the script ends. Otherwise BUILD runs in a subshell with `$go`
# set, its output in .tools/logs/NAME.log; when it fails, the log's tail is shown and the script
# ends with "FAILED: <FAILED> (see the log)".
#   module_source MODULE@VERSION DEST
# copies a module's source (through Go's module cache, from the module proxy) into DEST, writable,
# for builds that `go install` cannot do.
ROOT=$PWD
BIN=$ROOT/.tools/bin
LOGS=$ROOT/.tools/logs
mkdir -p "$BIN" "$LOGS"

go_peer() {
  local name=$1 label=$2 current=$3 build=$4 failed=$5
  if "$current"; then
    printf 'peers: %-34s %s\n' "$label" "up to date"
    exit 0
  fi
  go=$(command -v go || echo /usr/local/go/bin/go)
  [ -x "$go" ] || {
    echo "peers: FAILED: go not found (expected /usr/local/go/bin/go)" >&2
    exit 1
  }
  if ! ("$build") >"$LOGS/$name.log" 2>&1; then
    tail -n 25 "$LOGS/$name.log" >&2
    echo "peers: FAILED: $failed (see .tools/logs/$name.log)" >&2
    exit 1
  fi
  printf 'peers: %-34s %s\n' "$label" "installed"
}

module_source() {
  local dir
  dir=$("$go" mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$dir" ] || { echo "module directory not found for $1"; return 1; }
  cp -r "$dir" "$2"
  chmod -R u+w "$2"
}
