#!/usr/bin/env bash
# Installs the MCP test peers into .tools/ (placeholder until the peers script lands).
set -euo pipefail
