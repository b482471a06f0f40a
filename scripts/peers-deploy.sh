#!/usr/bin/env bash
# The deployment tools tests/deploy runs, built from the Go module proxy into .tools/bin (pinned;
# each skipped when the binary reports its version or its stamp matches). Called by
# scripts/peers.sh. Go's module and build caches live outside the repo (~/go, ~/.cache/go-build),
# so a fresh clone on the same machine rebuilds in seconds.
#   helm              helm lint --strict, helm template (deploy/helm/giru)
#   kustomize         kustomize build (deploy/kustomize/{dev,prod})
#   compose-validate  tools/compose-validate: compose-go v2, the loader `docker compose` uses
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.tools/bin
LOGS=$ROOT/.tools/logs
STAMPS=$ROOT/.tools/stamps
HELM_VERSION=3.21.4
HELM_K8S_MINOR=36                       # the k8s.io/client-go v0.36 helm 3.21.4 is built with
KUSTOMIZE_VERSION=5.8.2                 # 5.8.3 needs go 1.27; the machine has 1.26
mkdir -p "$BIN" "$LOGS" "$STAMPS"

say() { printf 'peers: %-34s %s\n' "$1" "$2"; }
go=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$go" ] || { echo "peers: FAILED: go not found (expected /usr/local/go/bin/go)" >&2; exit 1; }

# build STEP CMD...: runs CMD with its output in .tools/logs/STEP.log; on failure shows the tail.
build() {
  local step=$1; shift
  if ! "$@" >"$LOGS/$step.log" 2>&1; then
    tail -n 25 "$LOGS/$step.log" >&2
    echo "peers: FAILED: $step (see .tools/logs/$step.log)" >&2
    exit 1
  fi
}

step_helm() {
  local want="helm.sh/helm/v3@v$HELM_VERSION k8s=1.$HELM_K8S_MINOR"
  if [ -x "$BIN/helm" ] && [ "$(cat "$STAMPS/helm" 2>/dev/null)" = "$want" ] \
    && [ "$("$BIN/helm" version --template '{{.Version}}' 2>/dev/null)" = "v$HELM_VERSION" ]; then
    say "helm v$HELM_VERSION" "up to date"
    return
  fi
  # The linker flags helm's Makefile sets: its version string (else v3.x-dev) and the Kubernetes
  # version `helm lint` and `helm template` assume (else 1.20).
  local pkg=helm.sh/helm/v3
  build helm env GOBIN="$BIN" GOFLAGS=-mod=mod "$go" install -ldflags "-X $pkg/internal/version.version=v$HELM_VERSION \
-X $pkg/pkg/lint/rules.k8sVersionMajor=1 -X $pkg/pkg/lint/rules.k8sVersionMinor=$HELM_K8S_MINOR \
-X $pkg/pkg/chartutil.k8sVersionMajor=1 -X $pkg/pkg/chartutil.k8sVersionMinor=$HELM_K8S_MINOR" \
    "$pkg/cmd/helm@v$HELM_VERSION"
  printf '%s' "$want" >"$STAMPS/helm"
  say "helm v$HELM_VERSION" "installed"
}

step_kustomize() {
  local want="sigs.k8s.io/kustomize/kustomize/v5@v$KUSTOMIZE_VERSION"
  if [ -x "$BIN/kustomize" ] && [ "$(cat "$STAMPS/kustomize" 2>/dev/null)" = "$want" ]; then
    say "kustomize v$KUSTOMIZE_VERSION" "up to date"
    return
  fi
  build kustomize env GOBIN="$BIN" GOFLAGS=-mod=mod "$go" install "$want"
  printf '%s' "$want" >"$STAMPS/kustomize"
  say "kustomize v$KUSTOMIZE_VERSION" "installed"
}

step_compose_validate() {
  local want
  want=$(cat tools/compose-validate/go.mod tools/compose-validate/go.sum tools/compose-validate/*.go | sha256sum | cut -c1-16)
  if [ -x "$BIN/compose-validate" ] && [ "$(cat "$STAMPS/compose-validate" 2>/dev/null)" = "$want" ]; then
    say "compose-validate (compose-go)" "up to date"
    return
  fi
  build compose-validate bash -c 'cd tools/compose-validate && "$1" build -o "$2/compose-validate" .' _ "$go" "$BIN"
  printf '%s' "$want" >"$STAMPS/compose-validate"
  say "compose-validate (compose-go)" "installed"
}

step_compose_validate
step_helm
step_kustomize
