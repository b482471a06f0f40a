#!/usr/bin/env bash
# Installs the benchmark's own tools, idempotently: wrk (Debian package; the closed-loop load
# generator) and py-spy (PyPI, in its own venv under .tools/bench-tools/; the sampling profiler
# behind `python -m bench --profile`). Nothing here touches Giru's .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
WRK_VERSION=4.1.0-3+b2
PYSPY_VERSION=0.4.3
DIR=.tools/bench-tools

if [ "$(dpkg-query -W -f='${Version}' wrk 2>/dev/null || true)" = "$WRK_VERSION" ]; then
  echo "bench tools: wrk $WRK_VERSION up to date"
else
  if ! apt-get install -y -qq "wrk=$WRK_VERSION" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq "wrk=$WRK_VERSION" >/dev/null
  fi
  echo "bench tools: wrk $WRK_VERSION installed"
fi

if [ -x "$DIR/bin/py-spy" ] && [ "$("$DIR/bin/py-spy" --version | awk '{print $2}')" = "$PYSPY_VERSION" ]; then
  echo "bench tools: py-spy $PYSPY_VERSION up to date"
else
  rm -rf "$DIR"
  uv venv --quiet --python 3.11 "$DIR"
  uv pip install --quiet --python "$DIR/bin/python" "py-spy==$PYSPY_VERSION"
  echo "bench tools: py-spy $PYSPY_VERSION installed"
fi
