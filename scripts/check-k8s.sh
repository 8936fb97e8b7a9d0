#!/usr/bin/env bash
# Kubernetes manifests: the copies of pipelines/, templates/ and the alert
# rules are up to date, and every overlay renders, matches the Kubernetes
# and CRD schemas, references only objects that exist, and carries a
# configuration that `sluice check` accepts. Needs what
# scripts/install-deps.sh installs (the deploy virtualenv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
venv="$HOME/.cache/sluice/deploy-venv"
if [ ! -x "$venv/bin/kubectl" ] || [ ! -x "$venv/bin/python" ]; then
  echo "the deployment check tools are missing: run scripts/install-deps.sh" >&2
  exit 1
fi

python3 scripts/sync-k8s-config.py --check

cargo build --quiet --bin sluice --example make_geoip_fixture
fixtures=$(mktemp -d)
trap 'rm -rf "$fixtures"' EXIT
"$CARGO_TARGET_DIR/debug/examples/make_geoip_fixture" "$fixtures" >/dev/null
"$venv/bin/python" scripts/check_k8s.py "$venv/bin/kubectl" "$CARGO_TARGET_DIR/debug/sluice" "$fixtures"
