#!/usr/bin/env bash
# CI's fuzzing step: builds every libFuzzer target and runs each one briefly from the
# committed seeds (fuzz/seeds/<target>), failing if any finds a crash. Usage:
#   fuzz/ci.sh [target...]          (default: every target)
#   FUZZ_SECONDS=60 fuzz/ci.sh      (seconds per target, default 15)
# The machine has only stable Rust: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags
# (sanitizer coverage, AddressSanitizer) to it.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1 CARGO_TERM_COLOR=never
seconds=${FUZZ_SECONDS:-15}
# -a: debug assertions (integer overflow checks) in Warren and its dependencies too.
flags=(--release --debug-assertions)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "::: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

t0=$(date +%s)
cargo fuzz build "${flags[@]}"
echo "::: fuzz build took $(( $(date +%s) - t0 ))s"

if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi
failed=()
for t in "${targets[@]}"; do
  echo "::: fuzz $t for ${seconds}s"
  mkdir -p "corpus/$t"
  # corpus/<t> (git-ignored) receives what the run finds; seeds/<t> is only read.
  if ! cargo fuzz run "${flags[@]}" "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$seconds" -timeout=10 -print_final_stats=1 2>"corpus/$t.log"; then
    failed+=("$t")
    # The report: the panic or sanitizer message with the top of its stack, then the
    # reproducer's path and how to replay it.
    grep -E -A24 'panicked at|ERROR: AddressSanitizer|ERROR: libFuzzer: (timeout|out-of-memory)' \
      "corpus/$t.log" | cut -c1-400 | head -40
    grep -E -A2 '^Failing input:|^Reproduce with:|Test unit written to' "corpus/$t.log" || true
  fi
  grep -E '^(#[0-9]+\s+DONE|stat::number_of_executed_units|stat::peak_rss_mb)' \
    "corpus/$t.log" || true
done

# The plain closing line: a target passes when its run ends without a crash.
echo "fuzz: $(( ${#targets[@]} - ${#failed[@]} )) passed, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
  echo "::: crashes in: ${failed[*]}; reproducers in fuzz/artifacts/<target>/, replay one with"
  echo ":::   RUSTC_BOOTSTRAP=1 cargo fuzz run --release --debug-assertions <target> <file>"
  exit 1
fi
