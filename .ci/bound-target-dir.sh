#!/usr/bin/env bash
# Keeps the shared cargo target directory bounded: cargo never removes what it
# wrote, and every run adds incremental caches and, as dependencies change,
# artifacts nothing uses any more. Past the bound (PRISM_TARGET_MAX_GB, default
# 40), the incremental caches go (safe: cargo rebuilds what it misses, and they
# are a third of the directory here); if that is not enough, the whole directory
# goes and a cold build follows (about ten minutes). Removing single stale
# artifacts instead would leave fingerprints calling a crate fresh whose files
# are gone.
set -euo pipefail
dir="${1:?usage: bound-target-dir.sh DIR}"
max_gb="${PRISM_TARGET_MAX_GB:-40}"
[ -d "$dir" ] || exit 0

size_gb() { du -s -BG "$dir" 2>/dev/null | cut -f1 | tr -dc '0-9'; }

size=$(size_gb)
if [ "$size" -le "$max_gb" ]; then
  echo "target dir $dir: ${size} GB (bound ${max_gb} GB)"
  exit 0
fi
echo "target dir $dir: ${size} GB, over ${max_gb} GB: dropping incremental caches"
find "$dir" -maxdepth 3 -type d -name incremental -prune -exec rm -rf {} +
size=$(size_gb)
if [ "$size" -gt "$max_gb" ]; then
  echo "still ${size} GB: removing the whole target dir"
  rm -rf "$dir"
fi
