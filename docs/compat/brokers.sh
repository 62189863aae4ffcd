#!/usr/bin/env bash
# Broker switching for docs/compat runs. Several suites hard-code 127.0.0.1:5672 (pika,
# amqplib, amqprs) or the management port 15672, so the broker under test is always put on
# 5672 itself (no forwarder in between): either Warren, or a second reference RabbitMQ node
# (ref5672, management on 15672) started with /work/shared/tools/reference-rabbitmq.
#
#   brokers.sh warren [CONFIG.toml]   # stop ref5672, start Warren on 5672 with a fresh data dir
#   brokers.sh rabbitmq               # stop Warren, start reference RabbitMQ on 5672/15672
#   brokers.sh stop                   # stop both
#
# WARREN_BIN (default /tmp/warren-bin/warren, a copy of target/release/warren),
# WARREN_LOG (default /tmp/warren-compat.log), WARREN_DATA (default /tmp/warren-compat-data).
set -euo pipefail
REF=/work/shared/tools/reference-rabbitmq
WARREN_BIN=${WARREN_BIN:-/tmp/warren-bin/warren}
WARREN_LOG=${WARREN_LOG:-/tmp/warren-compat.log}
WARREN_DATA=${WARREN_DATA:-/tmp/warren-compat-data}
PIDFILE=/tmp/warren-compat.pid

wait_port_free() { for _ in $(seq 1 60); do ss -ltn | grep -q "127.0.0.1:5672 " || return 0; sleep 1; done; echo "port 5672 still busy" >&2; return 1; }
wait_port_open() { for _ in $(seq 1 60); do ss -ltn | grep -q "127.0.0.1:5672 " && return 0; sleep 1; done; echo "nothing listens on 5672" >&2; return 1; }

stop_warren() {
  if [ -f $PIDFILE ] && kill -0 "$(cat $PIDFILE)" 2>/dev/null; then
    kill "$(cat $PIDFILE)"; for _ in $(seq 1 30); do kill -0 "$(cat $PIDFILE)" 2>/dev/null || break; sleep 0.5; done
  fi
  rm -f $PIDFILE
}
stop_ref() { "$REF" stop 5672 >/dev/null 2>&1 || true; }

case ${1:-} in
  warren)
    stop_ref; stop_warren; wait_port_free
    rm -rf "$WARREN_DATA"
    extra=(); [ -n "${2:-}" ] && extra=(--config "$2")
    "$WARREN_BIN" "${extra[@]}" --data-dir "$WARREN_DATA" --amqp-listen 127.0.0.1:5672 --http-listen 127.0.0.1:0 \
      --http-listen 127.0.0.1:15699 >>"$WARREN_LOG" 2>&1 &
    echo $! > $PIDFILE; wait_port_open; echo "warren on 5672 (pid $(cat $PIDFILE), log $WARREN_LOG)" ;;
  rabbitmq)
    stop_warren; wait_port_free
    "$REF" reset 5672 >/dev/null 2>&1 || true
    "$REF" start 5672; wait_port_open ;;
  stop) stop_warren; stop_ref ;;
  *) echo "usage: $0 warren [CONFIG] | rabbitmq | stop" >&2; exit 2 ;;
esac
