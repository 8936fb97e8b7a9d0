#!/usr/bin/env bash
# README command 1: Sluice on local defaults. Starts a local Kafka-API broker
# (tansu) and an Elasticsearch-API server (osmem), Sluice with the shipped
# pipelines, and sample log producers; then shows documents landing per
# daily index and a sample document. Ctrl-C stops everything.
#
#   DEMO_SECONDS=60 scripts/demo.sh   # stop by itself after a minute
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
KAFKA_PORT=${KAFKA_PORT:-19092}
ES_PORT=${ES_PORT:-19200}
work="$root/.sluice-dev"
source scripts/peers.sh

bash scripts/install-deps.sh
echo "building sluice (release)..."
cargo build --release --quiet --bin sluice --example make_geoip_fixture
bin="$CARGO_TARGET_DIR/release/sluice"
"$CARGO_TARGET_DIR/release/examples/make_geoip_fixture" "$work/geoip" >/dev/null

pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "stopping..."
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

rm -rf "$work/kafka" "$work/es"
start_kafka "$work/kafka" "$KAFKA_PORT"; pids+=("$KAFKA_PID")
start_es "$work/es" "$ES_PORT"; pids+=("$ES_PID")
for t in nginx-access:4 nginx-error:1 app-logs:2 filebeat:2 sluice-dlq:1; do
  create_topic "$KAFKA_PORT" "${t%%:*}" "${t##*:}"
done
echo "kafka (tansu) on 127.0.0.1:$KAFKA_PORT, elasticsearch API (osmem) on http://127.0.0.1:$ES_PORT"

export SLUICE_KAFKA__BROKERS="127.0.0.1:$KAFKA_PORT"
export SLUICE_ELASTICSEARCH__URLS="[http://127.0.0.1:$ES_PORT]"
"$bin" run --config config/sluice.yaml >"$work/sluice.log" 2>&1 &
pids+=($!)
echo "sluice running (log: .sluice-dev/sluice.log, metrics: http://127.0.0.1:9464/metrics)"

gen() { "$bin" generate --brokers "127.0.0.1:$KAFKA_PORT" --count 0 "$@" >>"$work/generate.log" 2>&1 & pids+=($!); }
gen --kind nginx-access --topic nginx-access --rate 100 --seed 1
gen --kind nginx-error --topic nginx-error --rate 2 --seed 2
gen --kind app-json --topic app-logs --rate 10 --seed 3
gen --kind app-text --topic app-logs --rate 5 --seed 4
gen --kind filebeat --topic filebeat --rate 10 --seed 5
echo "sample producers running; documents should land within seconds"
echo

es="http://127.0.0.1:$ES_PORT"
shown=0
start=$SECONDS
while true; do
  sleep 5
  curl -s -XPOST "$es/_refresh" >/dev/null || true
  echo "--- $(date +%T) documents per daily index"
  curl -s "$es/_cat/indices?h=index,docs.count&s=index" | grep -E '^(logs-|sluice-)' || echo "(none yet)"
  if [ "$shown" = 0 ]; then
    doc=$(curl -s "$es/logs-nginx.access-*/_search?size=1&q=source.geo.city_name:*" || true)
    if echo "$doc" | grep -q '"_source"'; then
      echo "--- a sample document (nginx access):"
      echo "$doc" | python3 -c 'import json,sys; h=json.load(sys.stdin)["hits"]["hits"][0]; print(json.dumps({"_index": h["_index"], "_id": h["_id"], **h["_source"]}, indent=2))'
      shown=1
    fi
  fi
  if [ "${DEMO_SECONDS:-0}" -gt 0 ] && [ $((SECONDS - start)) -ge "$DEMO_SECONDS" ]; then
    break
  fi
done
