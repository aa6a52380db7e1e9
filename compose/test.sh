#!/usr/bin/env bash
# Runs the compose deployments for real: installs and starts a Docker daemon where
# none runs, builds the images the compose files name (compose/local/images.sh: no
# registry needed), then runs the standard and cluster scenarios
# (compose/scenarios/run.py) and tears them down. Exits 0 only when every check held.
#   bash compose/test.sh            (as root: it may install packages and start dockerd)
# PRISM_BIN: the prism binary to ship (default: the debug build, built if stale).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
started=$(date +%s)
# shellcheck source=../dev.sh
source "$here/../dev.sh"   # ensure_nats_server, build, say; cds to the repository

ensure_docker() {
  local missing=""
  command -v dockerd >/dev/null || missing="$missing docker.io"
  command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || missing="$missing docker-compose"
  command -v debootstrap >/dev/null || missing="$missing debootstrap"
  if [ -n "$missing" ]; then
    say "installing$missing (Debian packages)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  fi
}

# A daemon this script started is stopped on exit; its image store (and so the
# cached base image) stays in /var/lib/docker for the next run.
dockerd_pid=""
start_docker() {
  docker info >/dev/null 2>&1 && return
  say "starting dockerd (log: /var/tmp/prism-dockerd.log)"
  dockerd >/var/tmp/prism-dockerd.log 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 0.5
  done
  echo "dockerd did not start; see /var/tmp/prism-dockerd.log" >&2
  return 1
}

stop_docker() {
  [ -n "$dockerd_pid" ] || return 0
  kill "$dockerd_pid" 2>/dev/null || true
  wait "$dockerd_pid" 2>/dev/null || true
}
trap stop_docker EXIT

# Images are built on this machine: refuse to start (rather than fail half-way
# through a build) when the disk holding Docker's store lacks room, after
# dropping the build cache and dangling images, which are only ever caches here.
NEEDED_GB=${PRISM_DOCKER_FREE_GB:-8}
free_gb() {
  df --output=avail -BG "$(docker info --format '{{.DockerRootDir}}' 2>/dev/null || echo /var/lib)" \
    | tail -1 | tr -dc '0-9'
}
ensure_disk() {
  [ "$(free_gb)" -ge "$NEEDED_GB" ] && return
  say "less than ${NEEDED_GB} GB free for Docker: pruning its build cache and dangling images"
  docker builder prune -af >/dev/null 2>&1 || true
  docker image prune -f >/dev/null 2>&1 || true
  if [ "$(free_gb)" -lt "$NEEDED_GB" ]; then
    echo "only $(free_gb) GB free where Docker keeps images; ${NEEDED_GB} GB are needed" >&2
    return 1
  fi
}

ensure_docker
start_docker
ensure_disk
ensure_nats_server
if [ -z "${PRISM_BIN:-}" ]; then
  build
  PRISM_BIN="$TARGET_DIR/debug/prism"
fi
PRISM_BIN="$PRISM_BIN" bash "$here/local/images.sh"
say "compose scenarios"
python3 "$here/scenarios/run.py"
say "compose stage took $(($(date +%s) - started)) s"
