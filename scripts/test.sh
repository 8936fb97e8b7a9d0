#!/usr/bin/env bash
# README command 2: every test. Installs what the tests need (idempotent),
# then: formatting, lints, unit/golden/property/end-to-end tests, the
# pipelines' embedded tests, and checks of the deployment artifacts.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/install-deps.sh

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo doc (broken or private intra-doc links fail)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
echo "== cargo test"
cargo test --all-targets
echo "== embedded pipeline tests"
fixtures=$(mktemp -d)
trap 'rm -rf "$fixtures"' EXIT
cargo run --quiet --example make_geoip_fixture -- "$fixtures" >/dev/null
cargo run --quiet --bin sluice -- pipeline test --pipeline pipelines/ --geoip-dir "$fixtures"
cargo run --quiet --bin sluice -- pipeline test --pipeline benches/pipelines/ --geoip-dir "$fixtures"
echo "== config check"
SLUICE_PIPELINES__GEOIP_DIR="$fixtures" cargo run --quiet --bin sluice -- check --config config/sluice.yaml
echo "== alerting config check"
cargo run --quiet --bin sluice -- alert --config config/alerts.yaml --check
echo "== deployment artifacts"
bash scripts/check-deploy.sh
echo "all tests passed"
