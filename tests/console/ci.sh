#!/usr/bin/env bash
# The console's browser tests as CI runs them: Debian's Chromium (installed if missing; never
# `playwright install`), playwright-core from the lock file, then run.mjs and mirrors.mjs (a
# 3-node cluster) against the release binary (or the one given); both run, and it fails if
# either does. Run from anywhere: bash tests/console/ci.sh [path/to/warren]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
(cd "$here" && npm ci --no-audit --no-fund --silent)
bin=${1:-$here/../../target/release/warren}
rc=0
node "$here/run.mjs" "$bin" || rc=1
node "$here/mirrors.mjs" "$bin" || rc=1
exit $rc
