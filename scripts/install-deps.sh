#!/usr/bin/env bash
# Installs what the tests and the demo need, idempotently: the tansu
# Kafka-API broker, the osmem ES-API server, aiosmtpd (alerting tests),
# promtool (Prometheus rules) and kubeconform (Kubernetes manifests).
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
