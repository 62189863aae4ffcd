#!/usr/bin/env bash
# The conformance suite through a cluster node that holds none of the suite's queues.
#
# Two nodes, A and B. A places new queues with `min-masters` and already holds 2,000
# queues, so every queue the suite declares through A (over AMQP or the API) lives on B,
# except exclusive ones, which stay with their connection as in RabbitMQ. The suite talks
# only to A: every publish, consume, get, ack, purge and delete it makes goes across the
# link, and every count it reads comes from B.
#
# Usage: bash tests/cluster_conformance.sh [path/to/warren] [path/to/warren-conformance]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
warren=${1:-$root/target/release/warren}
conformance=${2:-$root/target/release/warren-conformance}
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
a_amqp=$(free_port); a_http=$(free_port); a_cluster=$(free_port)
b_amqp=$(free_port); b_http=$(free_port); b_cluster=$(free_port)
peers="[\"127.0.0.1:$a_cluster\", \"127.0.0.1:$b_cluster\"]"

start() { # name amqp http cluster locator
  mkdir -p "$dir/$1"
  cat >"$dir/$1/warren.toml" <<EOF
node_name = "warren-$1@localhost"
data_dir = "$dir/$1/data"
[amqp]
listen = "127.0.0.1:$2"
[http]
listen = "127.0.0.1:$3"
[cluster]
listen = "127.0.0.1:$4"
cookie = "conformance-cluster-cookie"
peers = $peers
net_ticktime = 5
queue_master_locator = "$5"
EOF
  NO_COLOR=1 "$warren" --config "$dir/$1/warren.toml" >"$dir/$1/log" 2>&1 &
  pids+=($!)
}
start a "$a_amqp" "$a_http" "$a_cluster" min-masters
start b "$b_amqp" "$b_http" "$b_cluster" client-local

api() { curl -fsS -u guest:guest "$@"; }
for _ in $(seq 1 300); do
  if api "http://127.0.0.1:$a_http/api/cluster" 2>/dev/null |
    python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if len(s["running_nodes"])==2 and s["leader"] else 1)'; then
    break
  fi
  sleep 0.2
done

# 2,000 queues on A (a client-local locator in their arguments), in one definitions import.
python3 - "$a_http" <<'EOF'
import base64, json, sys, urllib.request
queues = [{"name": f"held-on-a-{i}", "vhost": "/", "durable": True, "auto_delete": False,
           "arguments": {"x-queue-master-locator": "client-local"}} for i in range(2000)]
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/api/definitions",
                             data=json.dumps({"queues": queues}).encode(), method="POST",
                             headers={"content-type": "application/json",
                                      "authorization": "Basic " + base64.b64encode(b"guest:guest").decode()})
urllib.request.urlopen(req, timeout=300).read()
EOF
held=$(api "http://127.0.0.1:$a_http/api/queues?columns=node" |
  python3 -c 'import json,sys; print(sum(q["node"]=="warren-a@localhost" for q in json.load(sys.stdin)))')
echo "::: node A holds $held queues; the suite's go to node B"
[ "$held" -ge 2000 ] || { echo "expected 2000 queues on A"; exit 1; }

rc=0
"$conformance" --url "amqp://guest:guest@127.0.0.1:$a_amqp/%2f" \
  --mgmt-url "http://127.0.0.1:$a_http" \
  --expected-skips "$root/conformance/expected-skips/warren.txt" || rc=$?
for i in 0 1; do
  n=$([ $i = 0 ] && echo a || echo b)
  if ! kill -0 "${pids[$i]}" 2>/dev/null; then
    echo "node $n died; its log ends:"; tail -50 "$dir/$n/log"; rc=1
  fi
done
exit $rc
