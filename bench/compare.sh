#!/usr/bin/env bash
# Builds Warren and warren-perf in release mode, starts the reference RabbitMQ 3.10, and runs
# the side-by-side benchmark (bench/compare.py); writes BENCHMARKS.md. Extra arguments go to
# compare.py (e.g. --runs 3 --seconds 10 --only S1,S3).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p warren -p warren-perf
cargo build --release -p warren-perf --example relay_floor
../shared/tools/reference-rabbitmq start 5682
exec python3 bench/compare.py "$@"
