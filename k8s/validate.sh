#!/usr/bin/env bash
# Renders with kustomize (`kubectl kustomize`) the example (k8s/), the app that the components
# add ringd to (k8s/examples/web, which uses every k8s/components/*) and a StatefulSet they
# add it to (k8s/validate/fixtures/statefulset), and checks every rendered object offline:
# against the Kubernetes schemas (and prometheus-operator's for the PodMonitor), for unknown
# fields, for Pod Security "restricted", for the instance label in every selector (and no
# selector of one install picking another's pods), and for what ringd needs of the pod
# (k8s/validate/*.mjs say which). Installs the checker's npm packages (pinned
# by k8s/validate/package-lock.json) into k8s/validate/node_modules the first time.
#
# Usage: k8s/validate.sh [OUTDIR]    (also keeps the rendered manifests in OUTDIR/*.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v kubectl >/dev/null ||
    { echo "validate: kubectl not found: apt-get install -y kubernetes-client" >&2; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null ||
    { echo "validate: node and npm not found: apt-get install -y nodejs npm" >&2; exit 1; }
# Components need kustomize 3.7 and `labels:` 4.1: kubectl 1.22 or later embeds one.
kustomize=$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v//p')
case "$kustomize" in
    [5-9].* | 4.[1-9]* | [1-9][0-9].*) ;;
    *) echo "validate: kubectl's kustomize is '${kustomize:-older than 4}': k8s/components" \
            "need kustomize 4.1 or later (kubectl 1.22+)" >&2
       exit 1 ;;
esac

# node_modules/.ring-lock is the lock file the packages were installed from.
if ! cmp -s k8s/validate/package-lock.json k8s/validate/node_modules/.ring-lock 2>/dev/null; then
    echo "validate: npm ci (kubernetes-models, prometheus-operator models, kubernetes-types" \
         "1.29 and 1.30, typescript, yaml)"
    (cd k8s/validate && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    cp k8s/validate/package-lock.json k8s/validate/node_modules/.ring-lock
fi

out=${1:-$(mktemp -d)}
[ -n "${1:-}" ] || trap 'rm -rf "$out"' EXIT
mkdir -p "$out"
sets=()
# The example, the components on a plain Deployment, the components on a StatefulSet.
for dir in k8s k8s/examples/web k8s/validate/fixtures/statefulset; do
    name=$(basename "$dir")
    [ "$name" = k8s ] && name=example
    kubectl kustomize "$dir" >"$out/$name.yaml"
    echo "validate: kubectl kustomize $dir rendered $(grep -c '^kind:' "$out/$name.yaml")" \
         "objects (kustomize $kustomize)"
    sets+=("$name=$out/$name.yaml")
done
node k8s/validate/selftest.mjs "$out/web.yaml"
node k8s/validate/validate.mjs "${sets[@]}"
