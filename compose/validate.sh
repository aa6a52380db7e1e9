#!/usr/bin/env bash
# Validates compose/*.yml: with compose's own `config` where compose exists (v2's
# `docker compose` or v1's docker-compose), and always with validate.py (no Docker
# engine needed).
set -euo pipefail
cd "$(dirname "$0")"
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check pyyaml
compose=""
if docker compose version >/dev/null 2>&1; then compose="docker compose"
elif command -v docker-compose >/dev/null; then compose="docker-compose"; fi
if [ -n "$compose" ]; then
  # The separated file requires the metrics listener's token; any will do here.
  export PRISM_METRICS_TOKEN="${PRISM_METRICS_TOKEN:-validation-only-metrics-token}"
  for file in standard.yml cluster.yml cluster-separate-configdb.yml; do
    $compose -f "$file" config --quiet
  done
  $compose -f cluster.yml -f cluster.embedded-store.yml config --quiet
fi
python3 validate.py
