#!/usr/bin/env bash
# Validates compose/*.yml: with `docker compose config` where the compose plugin
# exists, and always with validate.py (no Docker engine needed).
set -euo pipefail
cd "$(dirname "$0")"
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check pyyaml
if docker compose version >/dev/null 2>&1; then
  for file in *.yml; do docker compose -f "$file" config --quiet; done
fi
python3 validate.py
