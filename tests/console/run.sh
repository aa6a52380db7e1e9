#!/usr/bin/env bash
# The web console in a real headless Chromium (Debian's `chromium`, driven by
# Playwright), against a real standalone this script starts on a free port with
# the examples applied. Screenshots of every view visited land in
# tests/console/artifacts/ (CI keeps them).
#   PRISM_BIN   the prism binary (default: $CARGO_TARGET_DIR/debug/prism)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=/dev/null
source "$root/dev.sh"

if ! command -v chromium >/dev/null; then
  say "installing Debian's chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
if ! prism_console_built; then
  echo "the console is not built into prism (Node 20.19+ missing?): see docs/console.md" >&2
  exit 1
fi
cd "$here"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent
fi

ensure_nats_server
PRISM_BIN="${PRISM_BIN:-$TARGET_DIR/debug/prism}"
work="$(mktemp -d)"
mkdir -p "$work/data/files" "$work/home"
export PRISM_CONSOLE_ADMIN_PASSWORD="console-admin-password"
export PRISM_CONSOLE_FILES="$work/data/files"
export PRISM_CONSOLE_BIN="$PRISM_BIN"
export PRISM_CONSOLE_HOME="$work/home"
export PRISM_CONSOLE_EXAMPLES="$root/examples"
# A big history, written before the standalone opens the store (its jobs view
# must show the first page in under a second).
export PRISM_CONSOLE_JOBS="${PRISM_CONSOLE_JOBS:-100000}"
cargo build --quiet -p prism-tests --bin seed-jobs
"$TARGET_DIR/debug/seed-jobs" "sqlite://$work/data/config.db" "$PRISM_CONSOLE_JOBS"
trap 'kill "${STANDALONE_PID:-}" 2>/dev/null; wait "${STANDALONE_PID:-}" 2>/dev/null; rm -rf "$work"' EXIT
start_test_standalone "$work/data" "$work/prism.log" "$PRISM_CONSOLE_ADMIN_PASSWORD"
export PRISM_CONSOLE_URL="$STANDALONE_URL"
# The console's API types are generated from this very document: they must not drift.
if ! curl -fsS "$PRISM_CONSOLE_URL/openapi.json" | cmp -s - "$root/services/console/web/src/api/openapi.json"; then
  echo "services/console/web/src/api/openapi.json is not the served /openapi.json:" >&2
  echo "  curl $PRISM_CONSOLE_URL/openapi.json > services/console/web/src/api/openapi.json && (cd services/console/web && npm run api)" >&2
  exit 1
fi
# The console stays under 1 MB gzipped.
bytes=$(cat "$root"/services/console/web/dist/assets/* "$root"/services/console/web/dist/index.html | gzip -9 | wc -c)
say "the console: $bytes bytes gzipped (bound 1 MB)"
if [ "$bytes" -gt 1048576 ]; then echo "the console is over 1 MB gzipped" >&2; exit 1; fi
rm -rf "$here/artifacts"
mkdir -p "$here/artifacts"
say "console tests against $PRISM_CONSOLE_URL (screenshots: tests/console/artifacts)"
if ! npx playwright test "$@"; then
  echo "--- the standalone's log (last 60 lines)" >&2
  tail -n 60 "$work/prism.log" >&2
  exit 1
fi
