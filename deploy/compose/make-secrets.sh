#!/usr/bin/env bash
# Makes ./secrets/ for compose.yaml (once; existing files are kept): random values for Giru's
# key pepper, secrets key, bootstrap admin token, OPA's bundle token and PostgreSQL's password,
# the database URL that uses it, and a development CA + edge certificate for Envoy's HTTPS
# listener (scripts/dev-ca.sh; bring your own certificate in production).
set -euo pipefail
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
secret() { [ -s "secrets/$1" ] || printf '%s' "$2" >"secrets/$1"; }
random() { openssl rand -hex 32; }
secret GIRU_KEY_PEPPER "$(random)"
secret GIRU_SECRETS__KEY "$(random)"
secret GIRU_ADMIN_TOKEN "giru_admin_$(random)"
secret GIRU_POLICY__BUNDLE_TOKEN "$(random)"
secret postgres_password "$(random)"
secret GIRU_DATABASE_URL "postgresql+asyncpg://giru:$(cat secrets/postgres_password)@postgres:5432/giru"
[ -s secrets/tls/edge.pem ] || bash ../../scripts/dev-ca.sh secrets/tls >/dev/null
# The containers run as uid 10001 (Giru) and 999 (PostgreSQL); Compose mounts these files as
# they are, so they must be readable by those users.
chmod 0644 secrets/* secrets/tls/*.pem secrets/tls/*.key 2>/dev/null || true
chmod 0755 secrets secrets/tls
echo "secrets in $(pwd)/secrets (keep them out of version control)"
