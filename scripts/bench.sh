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
"$rel/examples/make_geoip_fixture" --bench "$work/geoip" >/dev/null
start_kafka "$work/kafka" "$KAFKA_PORT"; pids+=("$KAFKA_PID")
create_topic "$KAFKA_PORT" bench 4
create_topic "$KAFKA_PORT" sluice-dlq 1
echo "producing $N nginx lines..."
"$rel/sluice" generate --brokers "127.0.0.1:$KAFKA_PORT" --topic bench --kind nginx-access --count "$N" --seed 42 2>/dev/null

# The LIBRDKAFKA map as raw_consume -X KEY=VALUE arguments.
raw_x=()
while IFS= read -r kv; do
  [ -n "$kv" ] && raw_x+=(-X "$kv")
done < <(echo "$LIBRDKAFKA" | tr -d '{}"' | tr ',' '\n' | sed -E 's/^ *([^: ]+) *: *(.*[^ ]) *$/\1=\2/; /^ *$/d')

raw_rate=0
if want raw; then
  # The ratio is taken against a consumer with Sluice's own librdkafka
  # settings (prefetch bounded to 8 MiB), so it measures what Sluice adds
  # on top of consuming. librdkafka's unbounded defaults (64 MiB queue,
  # 50 MiB fetches) are shown too: tansu answers large fetches much faster.
  echo
  echo "== raw consume (rdkafka, same broker, Sluice's librdkafka settings)"
  raw=$("$rel/examples/raw_consume" --brokers "127.0.0.1:$KAFKA_PORT" --topic bench --count "$N" --group "raw-$RANDOM" "${raw_x[@]}")
  echo "$raw"
  raw_rate=$(echo "$raw" | sed -E 's/.*records_per_sec=([0-9]+).*/\1/')
  echo "== raw consume, librdkafka's default prefetch (context, not the ratio's base)"
  "$rel/examples/raw_consume" --brokers "127.0.0.1:$KAFKA_PORT" --topic bench --count "$N" --group "raw-$RANDOM" \
    -X queued.max.messages.kbytes=65536 -X fetch.max.bytes=52428800 "${raw_x[@]}"
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
    # Consumption also pauses briefly in normal running, so "full" means
    # paused in five samples in a row, a second or more into the stall.
    local paused_for=0
    until { [ "$paused_for" -ge 5 ] && [ $(($(date +%s) - stall_start)) -ge 1 ]; } || [ $(($(date +%s) - stall_start)) -ge $((STALL_SECS / 2)) ]; do
      if [ "$(metric sluice_consumer_paused)" -ge 1 ]; then paused_for=$((paused_for + 1)); else paused_for=0; fi
      sleep 0.2; alive "$pid"
    done
    fill_secs=$(($(date +%s) - stall_start))
    echo "in-flight budget full ${fill_secs}s into the stall; sampling RSS until it ends"
    while [ $(($(date +%s) - stall_start)) -lt $((STALL_SECS - 2)) ]; do samples+=("$(rss_kb "$pid")"); sleep 1; done
    echo "RSS samples (MB, 1/s): $(printf "%s\n" "${samples[@]}" | awk '{printf "%.0f ", $1/1024}')"
    # Flat means no growth: nothing above the size at the pause. Sluice
    # trims free memory when it pauses, so RSS may step down first; the
    # spread is therefore also given for the stall after its first 5 s.
    printf '%s\n' "${samples[@]}" | awk -v secs="$STALL_SECS" '
      NR==1 {first=$1; min=$1; max=$1}
      {if ($1 < min) min=$1; if ($1 > max) max=$1}
      NR>5 {if (!lmin || $1 < lmin) lmin=$1; if ($1 > lmax) lmax=$1}
      END {printf "RSS while paused in a %ds stall: %.1f MB at the pause, then %.1f-%.1f MB; growth above the pause size %.1f%%; spread after the first 5 s %.1f%%\n",
        secs, first/1024, min/1024, max/1024, (max-first)*100/first, (lmin ? (lmax-lmin)*100/lmin : 0)}'
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
