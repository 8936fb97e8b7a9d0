#!/usr/bin/env bash
# The deployment artifacts, checked without a Docker engine or a cluster
# (run by scripts/test.sh; needs what scripts/install-deps.sh installs):
#   deploy/Dockerfile              hadolint; COPY sources in the build context
#   docker-compose.yml             `docker compose config` (or docker-compose
#                                  v1), mounts, depends_on, and `sluice check`
#                                  of the compose and image-default configs
#   deploy/prometheus/             promtool check rules / test rules / config
#   deploy/grafana/                dashboard structure, every query parsed
#   deploy/kibana/                 saved objects, references, mapped fields
#   deploy/kubernetes/             scripts/check-k8s.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
venv="$HOME/.cache/sluice/deploy-venv"
if [ ! -x "$venv/bin/python" ]; then
  echo "the deployment check tools are missing: run scripts/install-deps.sh" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --quiet --bin sluice --example make_geoip_fixture
sluice="$CARGO_TARGET_DIR/debug/sluice"
"$CARGO_TARGET_DIR/debug/examples/make_geoip_fixture" "$work/geoip" >/dev/null

echo "== Dockerfile"
"$venv/bin/hadolint" deploy/Dockerfile
# Every COPY from the build context must survive .dockerignore (which
# ignores everything and re-includes what the image needs).
grep -E '^COPY ' deploy/Dockerfile | grep -v -- '--from=' | sed -E 's/--chmod=[^ ]+ //' | awk '{print $2}' |
  while read -r src; do
    [ "$src" = "." ] && continue
    [ -e "$src" ] || { echo "Dockerfile copies $src, which does not exist" >&2; exit 1; }
    top=${src%%/*}
    grep -qxF "!$top/" .dockerignore || grep -qxF "!$top" .dockerignore ||
      { echo "Dockerfile copies $src, but .dockerignore leaves it out of the build context" >&2; exit 1; }
  done
echo "deploy/Dockerfile: ok"

echo "== docker-compose.yml"
if docker compose version >/dev/null 2>&1; then
  docker compose config --quiet
  docker compose config >"$work/compose.yaml"
else
  docker-compose config -q
  docker-compose config >"$work/compose.yaml"
fi
"$venv/bin/python" scripts/check_compose.py "$sluice" "$work/geoip" <"$work/compose.yaml"

echo "== Prometheus"
promtool check rules deploy/prometheus/rules.yml
promtool test rules deploy/prometheus/rules_test.yml
# prometheus.yml names its rules by their path in the container.
mkdir -p "$work/prometheus"
cp deploy/prometheus/rules.yml "$work/prometheus/rules.yml"
sed 's#/etc/prometheus/rules.yml#rules.yml#' deploy/prometheus/prometheus.yml >"$work/prometheus/prometheus.yml"
promtool check config "$work/prometheus/prometheus.yml"
# Every alert links to its own runbook section, and the section exists.
"$venv/bin/python" - <<'PY'
import re, sys, yaml
rules = yaml.safe_load(open("deploy/prometheus/rules.yml"))
runbook = open("README.md").read()
headings = set(re.findall(r"^### Runbook: (\w+)$", runbook, re.M))
alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
problems = []
for r in alerts:
    name = r["alert"]
    if r["annotations"].get("runbook_url") != f"README.md#runbook-{name.lower()}":
        problems.append(f"{name}: runbook_url is not README.md#runbook-{name.lower()}")
    for key in ("summary", "description"):
        if not r["annotations"].get(key):
            problems.append(f"{name}: no {key} annotation")
    if name not in headings:
        problems.append(f"{name}: no '### Runbook: {name}' section in README.md")
for h in sorted(headings - {r["alert"] for r in alerts}):
    problems.append(f"README.md: section for unknown alert {h}")
if problems:
    sys.exit("\n".join(problems))
print(f"{len(alerts)} alerts have runbook sections")
PY

echo "== alerter config (deploy/kubernetes/components/alerter)"
# --check reads every secret file: give it stand-ins where the Secrets
# would be mounted.
alert_tmp=$(mktemp -d)
mkdir -p "$alert_tmp/secrets"
for f in slack-webhook-url dingtalk-webhook-url; do echo "https://hooks.example.com/$f" >"$alert_tmp/secrets/$f"; done
for f in dingtalk-signing-secret smtp-password; do echo "stand-in" >"$alert_tmp/secrets/$f"; done
sed -e "s|/etc/sluice/secrets/elasticsearch-api-key|$alert_tmp/es-api-key|" \
    -e "s|/etc/sluice/secrets/elasticsearch-ca.crt|$alert_tmp/ca.pem|" \
    deploy/kubernetes/components/alerter/alerts.yaml >"$alert_tmp/alerts.yaml"
echo "c3RhbmQ6aW4=" >"$alert_tmp/es-api-key"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$alert_tmp/ca-key.pem" -out "$alert_tmp/ca.pem" -days 1 -subj "/CN=stand-in" 2>/dev/null
cargo run --quiet --bin sluice -- alert --config "$alert_tmp/alerts.yaml" --check
rm -rf "$alert_tmp"
echo "== Grafana"
python3 scripts/check_grafana.py deploy/grafana/sluice-dashboard.json

echo "== Kibana"
python3 scripts/check_kibana.py deploy/kibana/nginx.ndjson

echo "== Kubernetes"
bash scripts/check-k8s.sh
