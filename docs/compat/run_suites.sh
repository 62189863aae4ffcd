#!/usr/bin/env bash
# Run AMQP client libraries' own integration test suites, unchanged, against a reference
# RabbitMQ 3.10 and against Warren, one after the other, on the same port (127.0.0.1:5672,
# which several suites hard-code). Results go to $OUT (JUnit XML / go test -json / logs);
# compare them with junit_diff.py / gotest_json.py. See RESULTS.md for the last run.
#
#   run_suites.sh SUITES_DIR [SUITE...]
#   SUITE: pika aiormq aio-pika amqplib amqp091-go lapin amqprs py-amqp kombu (default: all)
#
# SUITES_DIR holds one work tree per suite, named as above. The repositories are not
# fetched by this script (this machine reaches package registries only); in this
# workplace they came from the search tool's `fetch`, e.g.
#   fetch github:pika/pika  ->  git clone /work/.mirror/pika+pika/repo $SUITES_DIR/pika
# Commits used: see RESULTS.md.
#
# Env: WARREN_BIN (default /tmp/warren-bin/warren: copy target/release/warren there first,
#      so a rebuild does not swap the binary mid-run), OUT (default /tmp/compat-results),
#      BROKERS (default "rabbitmq warren"), VENVS (default /tmp/compat-venvs).
# Needs: python3 (3.11), node >= 18 + npm, Debian golang-go (1.19) + golang-uber-goleak-dev,
#        cargo. Reference RabbitMQ comes from /work/shared/tools/reference-rabbitmq.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SUITES=${1:?usage: run_suites.sh SUITES_DIR [SUITE...]}; shift
SUITES=$(cd "$SUITES" && pwd)
LIST=${*:-pika aiormq aio-pika amqplib amqp091-go lapin amqprs py-amqp kombu}
OUT=${OUT:-/tmp/compat-results}; mkdir -p "$OUT"
VENVS=${VENVS:-/tmp/compat-venvs}; mkdir -p "$VENVS"
BROKERS=${BROKERS:-rabbitmq warren}
T=${SUITE_TIMEOUT:-900}

venv() {  # venv NAME PKG...: make a virtualenv once
  local v=$VENVS/$1; shift
  [ -x "$v/bin/python" ] || { python3 -m venv "$v" && "$v/bin/pip" install -q "$@"; } >&2
  echo "$v"
}

# ---- per-suite runners: run_<suite> BROKER  (the broker is already on 127.0.0.1:5672) ----

run_pika() {  # acceptance tests only; tests hard-code 127.0.0.1:5672; kqueue tests skip on Linux
  local v; v=$(venv pika -e "$SUITES/pika" pytest pytest-timeout pytest-xdist tornado twisted gevent)
  (cd "$SUITES/pika" && timeout "$T" "$v/bin/pytest" -n 2 --dist=loadscope --timeout=120 \
     -p no:cacheprovider tests/acceptance --junitxml="$OUT/pika-$1.xml" -q)
}

run_aiormq() {  # AMQP_URL replaces the docker container; amqps/ssl variants need a TLS listener
  local v; v=$(venv aiormq -e "$SUITES/aiormq" "pytest>=8.4,<9" "aiomisc==17.9.4" \
               "aiomisc-pytest==1.3.4" pytest-rst setuptools)
  (cd "$SUITES/aiormq" && AMQP_URL=amqp://guest:guest@127.0.0.1:5672// timeout "$T" \
     "$v/bin/pytest" -p no:cacheprovider --aiomisc-test-timeout=120 -k "not amqps and not ssl" \
     tests --junitxml="$OUT/aiormq-$1.xml" -q)
}

run_aio-pika() {  # conftest always asks Docker for a container: fake_docker.py answers with 5672
  local v; v=$(venv aio-pika -e "$SUITES/aio-pika" "aiomisc>=18.0" aiomisc-pytest pytest \
               pytest-rst shortuuid timeout-decorator setuptools)
  python3 "$HERE/fake_docker.py" --socket "$OUT/fake-docker.sock" --amqp-port 5672 &
  local fd=$!; sleep 1
  (cd "$SUITES/aio-pika" && DOCKER_HOST="unix://$OUT/fake-docker.sock" timeout "$T" \
     "$v/bin/pytest" -p no:cacheprovider --aiomisc-test-timeout=120 -k "not amqps" tests \
     --junitxml="$OUT/aio-pika-$1.xml" -q)
  local rc=$?; kill $fd; return $rc
}

run_amqplib() {  # tests hard-code amqp://localhost (5672); the ipv6 test needs [::1]:5672
  (cd "$SUITES/amqplib" && { [ -d node_modules ] || npm ci --no-audit --no-fund >&2; } &&
   timeout "$T" node --test --test-timeout=20000 \
     --test-reporter=spec --test-reporter-destination="$OUT/amqplib-$1.spec" \
     --test-reporter=junit --test-reporter-destination="$OUT/amqplib-$1.xml")
}

run_amqp091-go() {  # go.mod wants goleak v1.3.0 from the Go proxy, unreachable here: a go.work
  # outside the tree points it at Debian's goleak 1.2.0 (same VerifyTestMain API); Go 1.19
  # builds the `go 1.20` module. Recovery tests drop connections via the management API (15672).
  cat > "$OUT/amqp091.work" <<EOF
go 1.19

use $SUITES/amqp091-go

replace go.uber.org/goleak v1.3.0 => /usr/share/gocode/src/go.uber.org/goleak
EOF
  (cd "$SUITES/amqp091-go" && AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ GOWORK="$OUT/amqp091.work" \
     GOPROXY=off GOFLAGS= timeout "$T" go test -count=1 -race -json -tags integration -timeout 10m . \
     > "$OUT/amqp091-go-$1.json")
}

run_lapin() {  # AMQP_ADDR; tests/conn_refused.rs needs nothing listening on 5673
  ss -ltn | grep -q "127.0.0.1:5673 " && echo "WARNING: something listens on 5673: lapin's conn_refused test will fail" >&2
  (cd "$SUITES/lapin" && CARGO_TARGET_DIR=${CARGO_TARGET_BASE:-/tmp/cargo-target}/lapin \
     AMQP_ADDR=amqp://127.0.0.1:5672/%2f timeout "$T" cargo test --no-fail-fast \
     > "$OUT/lapin-$1.log" 2>&1)
}

run_amqprs() {  # tests hard-code localhost:5672 user "user"/"bitnami" (docker-compose.yml)
  (cd "$SUITES/amqprs" && CARGO_TARGET_DIR=${CARGO_TARGET_BASE:-/tmp/cargo-target}/amqprs \
     timeout "$T" cargo test --no-fail-fast > "$OUT/amqprs-$1.log" 2>&1)
}

run_py-amqp() {  # celery/py-amqp; RABBITMQ_HOST/RABBITMQ_5672_TCP default to localhost:5672; tls params need 5671
  local v; v=$(venv py-amqp -e "$SUITES/py-amqp" "pytest>=6.2.5,<=8.0.0" pytest-xdist pytest-rerunfailures)
  (cd "$SUITES/py-amqp" && timeout "$T" "$v/bin/pytest" -p no:cacheprovider -E rabbitmq t/integration \
     -n 2 -k "not tls" --junitxml="$OUT/py-amqp-$1.xml" -q)
}

run_kombu() {  # celery/kombu py-amqp transport integration tests (no --reruns, unlike its tox.ini)
  local v; v=$(venv kombu -e "$SUITES/py-amqp" -e "$SUITES/kombu" -r "$SUITES/kombu/requirements/test.txt" \
               pytest-xdist pytest-rerunfailures)
  (cd "$SUITES/kombu" && timeout "$T" "$v/bin/pytest" -p no:cacheprovider -v -E py-amqp \
     t/integration/test_py_amqp.py -n 2 --junitxml="$OUT/kombu-$1.xml")
}

# ---- brokers ----
warren_config() {  # guest (Warren's default) plus amqprs' user/bitnami
  cat > "$OUT/warren.toml" <<'EOF'
[[users]]
name = "guest"
password = "guest"
tags = ["administrator"]

[[users]]
name = "user"
password = "bitnami"
tags = ["administrator"]

[[vhosts]]
name = "/"

[[permissions]]
user = "guest"
vhost = "/"

[[permissions]]
user = "user"
vhost = "/"
EOF
  echo "$OUT/warren.toml"
}

start_broker() {
  case $1 in
    rabbitmq)
      "$HERE/brokers.sh" rabbitmq >&2
      /work/shared/tools/reference-rabbitmq ctl 5672 add_user user bitnami >/dev/null 2>&1
      /work/shared/tools/reference-rabbitmq ctl 5672 set_user_tags user administrator >/dev/null 2>&1
      /work/shared/tools/reference-rabbitmq ctl 5672 set_permissions -p / user '.*' '.*' '.*' >/dev/null 2>&1 ;;
    warren)
      WARREN_LOG=$OUT/warren-$suite.log "$HERE/brokers.sh" warren "$(warren_config)" >&2 ;;
  esac
}

for suite in $LIST; do
  for broker in $BROKERS; do
    start_broker "$broker" || { echo "could not start $broker" >&2; exit 1; }
    echo "=== $suite on $broker" >&2
    start=$(date +%s)
    "run_$suite" "$broker" > "$OUT/$suite-$broker.out" 2>&1
    echo "=== $suite on $broker: exit $? in $(( $(date +%s) - start )) s" >&2
  done
done
"$HERE/brokers.sh" stop >&2
if [[ " $BROKERS " == *" warren "* ]]; then
  grep -il "panick" "$OUT"/warren-*.log && echo "WARREN PANICKED: see the logs above" >&2
fi
cargo_counts() {  # sum the "test result:" lines of a cargo test log
  awk '/^test result:/ {p+=$4; f+=$6; i+=$8} END {printf "passed=%d failed=%d ignored=%d\n", p, f, i}' "$1"
}
{
  for suite in $LIST; do
    echo "## $suite"
    if [ -f "$OUT/$suite-rabbitmq.xml" ] && [ -f "$OUT/$suite-warren.xml" ]; then
      python3 "$HERE/junit_diff.py" "$OUT/$suite-rabbitmq.xml" "$OUT/$suite-warren.xml"
    elif [ -f "$OUT/$suite-rabbitmq.json" ]; then
      python3 "$HERE/gotest_json.py" "$OUT/$suite-rabbitmq.json" "$OUT/$suite-warren.json"
    else
      for b in $BROKERS; do [ -f "$OUT/$suite-$b.log" ] && echo "$b: $(cargo_counts "$OUT/$suite-$b.log")"; done
      for b in $BROKERS; do [ -f "$OUT/$suite-$b.log" ] && grep -E '^test .* FAILED$' "$OUT/$suite-$b.log" | sed "s/^/$b: /"; done
    fi
  done
} > "$OUT/summary.txt" 2>&1
echo "results in $OUT; comparison in $OUT/summary.txt" >&2
