# Giru: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
CONFIG ?= examples/quickstart/
LISTEN ?= 127.0.0.1:8080

.PHONY: help setup peers services run stack stack-down image image-test test lint typecheck unit integration schemas ui-api bench clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## Create .venv/ (Python deps from uv.lock) and build the web UI into src/giru/ui/
	@bash scripts/setup.sh

peers: ## Install test peers: Node 22, the Go conformance fixture, npm MCP servers and clients, promtool
	@bash scripts/peers.sh

services: ## Install PostgreSQL 15 and Redis binaries (tests start their own servers)
	@bash scripts/services.sh

run: setup peers ## Start Giru on $(LISTEN) with the quickstart config
	GIRU_DEMO_KEY=$${GIRU_DEMO_KEY:-giru-demo-key} bash scripts/run.sh $(CONFIG) $(LISTEN)

stack: setup peers services ## The production topology locally: PostgreSQL, Redis, OPA, control plane, 2 workers, Envoy
	$(VENV)/bin/python scripts/stack.py up

stack-down: ## Stop what `make stack` started
	$(VENV)/bin/python scripts/stack.py down

image: ## Build Giru's image without Docker (buildah on a debootstrap base; 4-9 min)
	bash scripts/image.sh

image-test: setup peers ## Build the image and run it: /healthz and a tools/call (not in `make test`: slow)
	GIRU_IMAGE_TESTS=1 $(VENV)/bin/pytest tests/deploy/test_image_build.py -v

lint: setup ## ruff (lint + format check)
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts

typecheck: setup ## mypy --strict over src/ and tests/
	$(VENV)/bin/mypy

unit: setup ## Unit tests only
	$(VENV)/bin/pytest tests/unit -q

test: setup peers services lint typecheck ## Everything CI runs: lint, types, unit, integration, conformance, interop
	$(VENV)/bin/pytest -q

schemas: setup ## Regenerate docs/schemas/ (one JSON Schema per manifest kind) from the models
	$(VENV)/bin/python -m giru.manifests.schemas docs/schemas

ui-api: setup ## Regenerate the web UI's API client (web/src/lib/api/) from the control plane's OpenAPI
	$(VENV)/bin/python scripts/openapi.py web/src/lib/api/openapi.json
	cd web && ../.tools/bin/npm run api

bench: setup peers ## Benchmarks (never run as tests); results in bench/results/
	$(VENV)/bin/python -m bench

clean: ## Remove .venv/ and installed tools
	rm -rf $(VENV) .tools
