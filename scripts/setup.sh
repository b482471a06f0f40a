#!/usr/bin/env bash
# Creates .venv/ with Giru and its dev tools from the committed lock, and builds the web UI into
# src/giru/ui/ (scripts/web.sh; needs Node 22, which it installs into .tools/). Idempotent and quick
# when warm.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.8
if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version | awk '{print $2}')" != "$UV_VERSION" ]; then
  python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
# Bytecode compiled once here: with PYTHONDONTWRITEBYTECODE set (as on some CI machines) every
# process would otherwise recompile each module it imports (seconds of CPU per `giru` start).
uv sync --locked --quiet --compile-bytecode
# xds-protos ships an old copy of the OpenTelemetry protos at the very paths of opentelemetry-proto
# (opentelemetry/proto/...); which copy a fresh install leaves is a race, and the old one breaks
# the OTLP exporters. Reinstalling opentelemetry-proto makes its files win; Giru's xDS code imports
# none of Envoy's protos that use the old copy (its OpenTelemetry tracer config does not).
uv sync --locked --quiet --compile-bytecode --reinstall-package opentelemetry-proto
.venv/bin/python -m compileall -q -j 0 src >/dev/null
bash scripts/web.sh
