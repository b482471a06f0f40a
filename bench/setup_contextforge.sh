#!/usr/bin/env bash
# Installs the peer gateway IBM ContextForge (PyPI mcp-contextforge-gateway) into its own venv under
# .tools/contextforge/, never into Giru's .venv. Idempotent: a stamp records the installed pin.
# 1.0.7 is the newest release that runs on Python 3.11 (1.1.0 needs >= 3.12).
set -euo pipefail
cd "$(dirname "$0")/.."
CF_VERSION=1.0.7
PYTHON_VERSION=3.11
DIR=.tools/contextforge
STAMP=$DIR/.stamp
WANT="mcp-contextforge-gateway==$CF_VERSION python$PYTHON_VERSION"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -x "$DIR/venv/bin/mcpgateway" ]; then
  echo "contextforge: $CF_VERSION up to date"
  exit 0
fi
mkdir -p "$DIR"
rm -rf "$DIR/venv"
uv venv --quiet --python "$PYTHON_VERSION" "$DIR/venv"
if ! uv pip install --quiet --python "$DIR/venv/bin/python" "mcp-contextforge-gateway==$CF_VERSION" \
    >"$DIR/install.log" 2>&1; then
  tail -n 25 "$DIR/install.log" >&2
  echo "contextforge: install FAILED (see $DIR/install.log)" >&2
  exit 1
fi
printf '%s' "$WANT" >"$STAMP"
echo "contextforge: $CF_VERSION installed"
