#!/usr/bin/env bash
# Declare rate, side by side: one client declares durable queues and binds each to
# amq.direct, one round trip per method, on Warren (fresh data dir) and on the reference
# RabbitMQ 3.10. Prints each broker's rate per block of 1,000 queues (the rate at 1,000
# existing queues against the rate at 10,000). Usage: bench/declare_rate.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-10000}
cargo build --release -p warren --bins
cargo build --release -p warren-perf --example declare_rate
../shared/tools/reference-rabbitmq start 5682 >/dev/null
data=$(mktemp -d)
trap 'kill $warren 2>/dev/null; rm -rf "$data"' EXIT
taskset -c 0 target/release/warren --amqp-listen 127.0.0.1:5792 --http-listen 127.0.0.1:0 --data-dir "$data" >/dev/null 2>&1 &
warren=$!
sleep 1
for broker in warren rabbitmq; do
  port=5792; [ "$broker" = rabbitmq ] && port=5682
  echo "== $broker"
  taskset -c 1 target/release/examples/declare_rate "amqp://guest:guest@127.0.0.1:$port/%2f" "$count" 1000
done
