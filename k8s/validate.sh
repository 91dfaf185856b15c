#!/usr/bin/env bash
# Renders k8s/ with kustomize (`kubectl kustomize`) and checks every rendered object offline:
# against the Kubernetes schemas, for unknown fields, and for what ringd needs of the pod
# (k8s/validate/validate.mjs says which). Installs the checker's npm packages (pinned by
# k8s/validate/package-lock.json) into k8s/validate/node_modules the first time.
#
# Usage: k8s/validate.sh [OUT.yaml]    (also keeps the rendered manifests in OUT.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v kubectl >/dev/null ||
    { echo "validate: kubectl not found: apt-get install -y kubernetes-client" >&2; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null ||
    { echo "validate: node and npm not found: apt-get install -y nodejs npm" >&2; exit 1; }

# node_modules/.ring-lock is the lock file the packages were installed from.
if ! cmp -s k8s/validate/package-lock.json k8s/validate/node_modules/.ring-lock 2>/dev/null; then
    echo "validate: npm ci (kubernetes-models, kubernetes-types, typescript, yaml)"
    (cd k8s/validate && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    cp k8s/validate/package-lock.json k8s/validate/node_modules/.ring-lock
fi

out=${1:-$(mktemp)}
[ -n "${1:-}" ] || trap 'rm -f "$out"' EXIT
kubectl kustomize k8s/ >"$out"
echo "validate: kubectl kustomize k8s/ rendered $(grep -c '^kind:' "$out") objects ($(kubectl version --client 2>/dev/null | grep -i kustomize || echo kustomize))"
node k8s/validate/validate.mjs "$out"
