#!/usr/bin/env bash
# Helpers to start the local protocol peers (sourced by demo.sh and bench.sh):
# tansu (Kafka API, sqlite storage) and osmem-server (Elasticsearch API).
export PATH="$HOME/.cargo/bin:$PATH"

# wait_port PORT SECONDS
wait_port() {
  local port=$1 deadline=$((SECONDS + ${2:-30}))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      echo "nothing is listening on port $port after ${2:-30}s" >&2
      return 1
    fi
    sleep 0.2
  done
}

# port_free PORT: fails with a message if something already listens there
# (a leftover broker would otherwise be mistaken for the new one).
port_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "port $1 is already in use (a leftover process?); stop it or choose another port" >&2
    return 1
  fi
}

# start_kafka DIR PORT: starts tansu in the background, sets KAFKA_PID.
start_kafka() {
  local dir=$1 port=$2
  port_free "$port" || return 1
  mkdir -p "$dir"
  # tansu resolves even an absolute sqlite path against its working
  # directory, so it runs from its data directory with a relative path.
  (cd "$dir" && exec tansu broker \
    --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine "sqlite://tansu.db" >"$dir/tansu.log" 2>&1) &
  KAFKA_PID=$!
  wait_port "$port" 60 || { tail -20 "$dir/tansu.log" >&2; return 1; }
}

# create_topic PORT NAME PARTITIONS
create_topic() {
  tansu topic create "$2" --partitions "$3" --broker "tcp://127.0.0.1:$1" >/dev/null 2>&1 || true
}

# start_es DIR PORT: starts osmem-server in the background, sets ES_PID.
start_es() {
  local dir=$1 port=$2 bin
  port_free "$port" || return 1
  mkdir -p "$dir"
  bin=$(python3 -c "import osmem_server; print(osmem_server.resolve_binary())")
  "$bin" -addr "127.0.0.1:$port" -no-stdin-watch >"$dir/osmem.log" 2>&1 &
  ES_PID=$!
  wait_port "$port" 30 || { tail -20 "$dir/osmem.log" >&2; return 1; }
}
