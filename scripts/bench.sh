#!/usr/bin/env bash
# End-to-end benchmark: produces N records into a local tansu broker, then
# measures, side by side:
#   1. the broker's raw consume rate (rdkafka consumer, payloads copied);
#   2. Sluice with a passthrough pipeline, against an instantly-acking bulk
#      endpoint (examples/bulk_sink.rs: the ES-API test server is far too slow
#      to measure throughput);
#   3. Sluice with the full nginx access pipeline, same endpoint;
#   4. memory while the bulk endpoint stalls for STALL_SECS.
# Reports docs/s, CPU-seconds per 100k docs and peak RSS for each.
#
#   N=1000000 STALL_SECS=60 scripts/bench.sh
#
# CASES picks what runs (default "raw passthrough nginx stall");
# LIBRDKAFKA adds librdkafka settings as a YAML map, e.g.
#   LIBRDKAFKA='{ queued.max.messages.kbytes: "4096" }' CASES=passthrough scripts/bench.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
N=${N:-500000}
STALL_SECS=${STALL_SECS:-60}
CASES=${CASES:-raw passthrough nginx stall}
LIBRDKAFKA=${LIBRDKAFKA:-"{}"}
want() { [[ " $CASES " == *" $1 "* ]]; }
KAFKA_PORT=${KAFKA_PORT:-39092}
SINK_PORT=${SINK_PORT:-39200}
METRICS_PORT=${METRICS_PORT:-39464}
work=$(mktemp -d)
source scripts/peers.sh
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 1; for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"; }
trap cleanup EXIT INT TERM

bash scripts/install-deps.sh
cargo build --release --quiet --bin sluice --example bulk_sink --example raw_consume --example make_geoip_fixture
rel="$CARGO_TARGET_DIR/release"
"$rel/examples/make_geoip_fixture" "$work/geoip" >/dev/null
start_kafka "$work/kafka" "$KAFKA_PORT"; pids+=("$KAFKA_PID")
create_topic "$KAFKA_PORT" bench 4
create_topic "$KAFKA_PORT" sluice-dlq 1
echo "producing $N nginx lines..."
"$rel/sluice" generate --brokers "127.0.0.1:$KAFKA_PORT" --topic bench --kind nginx-access --count "$N" --seed 42 2>/dev/null

raw_rate=0
if want raw; then
  echo
  echo "== raw consume (rdkafka, same broker)"
  raw=$("$rel/examples/raw_consume" --brokers "127.0.0.1:$KAFKA_PORT" --topic bench --count "$N" --group "raw-$RANDOM")
  echo "$raw"
  raw_rate=$(echo "$raw" | sed -E 's/.*records_per_sec=([0-9]+).*/\1/')
fi

# alive PID...: fails the bench if the broker or Sluice died, rather than
# waiting forever for documents that cannot come.
alive() {
  for p in "$KAFKA_PID" "$@"; do
    kill -0 "$p" 2>/dev/null || { echo "bench: process $p exited; logs kept in $work" >&2; KEEP_WORK=1; exit 1; }
  done
}
metric() { curl -s "127.0.0.1:$METRICS_PORT/metrics" | awk -v m="$1" '$1 ~ "^"m"(\\{|$)" {s+=$2} END {printf "%d", s}'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

# run_sluice NAME PIPELINE_DIR PIPELINE [SINK_ARGS...]: prints the figures.
run_sluice() {
  local name=$1 dir=$2 pipeline=$3; shift 3
  port_free "$SINK_PORT" && port_free "$METRICS_PORT"
  "$rel/examples/bulk_sink" --addr "127.0.0.1:$SINK_PORT" "$@" 2>"$work/sink-$name.log" &
  local sink=$!; pids+=("$sink")
  wait_port "$SINK_PORT" 10
  cat >"$work/$name.yaml" <<YAML
kafka: { brokers: "127.0.0.1:$KAFKA_PORT", group_id: "bench-$name-$RANDOM", librdkafka: $LIBRDKAFKA }
pipelines: { dir: "$dir", geoip_dir: "$work/geoip" }
routes: [{ topic: bench, pipeline: $pipeline, index: "bench-$name-%{+yyyy.MM.dd}" }]
elasticsearch: { urls: ["http://127.0.0.1:$SINK_PORT"], templates_dir: "$root/templates" }
metrics: { listen: "127.0.0.1:$METRICS_PORT" }
log: { progress_interval: 0s }
YAML
  "$rel/sluice" run --config "$work/$name.yaml" 2>"$work/sluice-$name.log" &
  local pid=$!; pids+=("$pid")
  wait_port "$METRICS_PORT" 60
  until [ "$(metric sluice_records_consumed_total)" -gt 0 ]; do sleep 0.05; alive "$pid"; done
  local t0 c0 t1 c1 docs
  t0=$(date +%s.%N); c0=$(cpu_ticks "$pid")
  if [ -n "${STALL:-}" ]; then
    local samples=() stall_start fill_secs
    until grep -q stalling "$work/sink-$name.log"; do sleep 0.2; alive "$pid"; done
    stall_start=$(date +%s)
    # Records keep flowing in until the in-flight budget is full and
    # consumption pauses; from then on memory must stay flat.
    until [ "$(metric sluice_consumer_paused)" -ge 1 ] || [ $(($(date +%s) - stall_start)) -ge $((STALL_SECS / 2)) ]; do
      sleep 0.2; alive "$pid"
    done
    fill_secs=$(($(date +%s) - stall_start))
    echo "in-flight budget full ${fill_secs}s into the stall; sampling RSS until it ends"
    while [ $(($(date +%s) - stall_start)) -lt $((STALL_SECS - 2)) ]; do samples+=("$(rss_kb "$pid")"); sleep 1; done
    printf '%s\n' "${samples[@]}" | sort -n | awk -v secs="$STALL_SECS" '
      NR==1 {min=$1} {max=$1}
      END {printf "RSS while paused in a %ds stall: min %.1f MB, max %.1f MB (%.1f%% spread)\n", secs, min/1024, max/1024, (max-min)*100/min}'
  fi
  until [ "$(metric sluice_es_docs_total)" -ge "$N" ]; do sleep 0.05; alive "$pid"; done
  t1=$(date +%s.%N); c1=$(cpu_ticks "$pid")
  docs=$(metric sluice_es_docs_total)
  local hz; hz=$(getconf CLK_TCK)
  awk -v n="$docs" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v hz="$hz" -v raw="$raw_rate" -v rss="$(hwm_kb "$pid")" -v name="$name" 'BEGIN {
    secs = t1 - t0; rate = n / secs; cpu = (c1 - c0) / hz;
    printf "%s: %d docs in %.2f s = %.0f docs/s (%.0f%% of raw consume), %.2f CPU-s per 100k docs, peak RSS %.1f MB\n",
      name, n, secs, rate, (raw > 0 ? 100 * rate / raw : 0), cpu * 100000 / n, rss / 1024 }'
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  kill "$sink"; wait "$sink" 2>/dev/null || true
}

if want passthrough; then
  echo
  echo "== sluice, passthrough pipeline, instantly-acking bulk endpoint"
  run_sluice passthrough "$root/benches/e2e" passthrough
fi
if want nginx; then
  echo
  echo "== sluice, full nginx access pipeline, instantly-acking bulk endpoint"
  run_sluice nginx "$root/pipelines" nginx-access
fi
if want stall; then
  echo
  echo "== sluice, nginx pipeline, bulk endpoint stalls for ${STALL_SECS}s after 10% of the records"
  STALL=1 run_sluice stall "$root/pipelines" nginx-access --stall-after-docs $((N / 10)) --stall-secs "$STALL_SECS"
fi
