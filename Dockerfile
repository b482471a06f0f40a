# syntax=docker/dockerfile:1
# Giru: the gateway worker, the control plane and the CLI are this one image with different
# commands (giru.deployment; deploy/compose/compose.yaml, deploy/helm/giru):
#   control plane: giru run --listen 0.0.0.0:18000 --config /etc/giru/manifests
#   worker:        giru run --listen 0.0.0.0:8081
#   CLI:           giru get servers, giru audit verify, giru migrate, ...
# Envoy and OPA run from their official images (envoyproxy/envoy, openpolicyagent/opa).
#
# PYTHON_IMAGE: any Debian-based image with Python 3.11 at the same path in both stages;
# NODE_IMAGE: Node 22 with npm, for the web UI (docs/deployment/compose.md: pinning by digest).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim

# The web UI (web/, SvelteKit, static): built into src/giru/ui/, which the control plane serves
# at /ui (as `make setup` does).
FROM ${NODE_IMAGE} AS web
WORKDIR /build/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.8
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
RUN python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /app
# Dependencies first (a layer that changes only with uv.lock), then the project itself.
COPY pyproject.toml uv.lock README.md ./
RUN /opt/uv/bin/uv sync --locked --no-dev --no-install-project --python "$(command -v python3)"
COPY src/ src/
COPY --from=web /build/src/giru/ui/ src/giru/ui/
# --reinstall-package: opentelemetry-proto's files must win over xds-protos' old copy of them
# (same paths; scripts/setup.sh says more).
RUN /opt/uv/bin/uv sync --locked --no-dev --reinstall-package opentelemetry-proto \
    --python "$(command -v python3)"

FROM ${PYTHON_IMAGE}
ARG GIRU_VERSION=0.0.0
LABEL org.opencontainers.image.title="giru" \
      org.opencontainers.image.description="Giru, the MCP gateway: gateway worker, control plane and CLI" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${GIRU_VERSION}" \
      org.opencontainers.image.source="https://github.com/giru-ai/giru" \
      org.opencontainers.image.documentation="https://github.com/giru-ai/giru/tree/main/docs/deployment"
# A fixed non-root uid/gid (Kubernetes runAsNonRoot checks a numeric USER).
RUN groupadd --system --gid 10001 giru \
    && useradd --system --uid 10001 --gid giru --home-dir /var/lib/giru --shell /usr/sbin/nologin giru \
    && install -d -o giru -g giru -m 0750 /var/lib/giru /etc/giru /etc/giru/manifests
WORKDIR /app
# The checkout's layout, which Giru finds its shipped policy packs by (<checkout>/policies).
COPY --from=build /app/.venv /app/.venv
COPY --from=build /app/src /app/src
COPY policies/ /app/policies/
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GIRU_LOG_FORMAT=json \
    GIRU_METERING__SPOOL_DIR=/var/lib/giru/spool \
    GIRU_AUDIT__SPOOL_DIR=/var/lib/giru/audit-spool \
    GIRU_HEALTH_URL=http://127.0.0.1:8081/healthz
# Writable paths are /var/lib/giru (spools; a volume) and /tmp: the root filesystem can be
# read-only (readOnlyRootFilesystem, `read_only: true`).
VOLUME ["/var/lib/giru"]
USER 10001:10001
EXPOSE 8081 9001 18000 19000
# Liveness of whichever role this is: GIRU_HEALTH_URL names its /healthz (the control plane
# sets http://127.0.0.1:18000/healthz).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['GIRU_HEALTH_URL'], timeout=2)"]
ENTRYPOINT ["giru"]
CMD ["run", "--listen", "0.0.0.0:8081"]
