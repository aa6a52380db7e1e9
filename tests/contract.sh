#!/usr/bin/env bash
# The API contract against the running server, checked by tools nobody here wrote:
# starts a standalone; validates its GET /openapi.json as OpenAPI 3.1
# (openapi-spec-validator) and lints it with Redocly's recommended rules (0
# errors, 0 warnings); generates a Python client from it (openapi-python-client)
# and drives a tour of the API through it (tests/contract/tour.py: every call
# answered with a listed status and parsed into its generated type); then runs
# schemathesis over every operation, signed in as the admin: no 5xx, no answer
# outside the documented schemas, statuses or content types, no crash. The
# document lists every status without a `default`, so an undocumented one fails.
#   bash tests/contract.sh             (PRISM_BIN: the prism binary; default the debug build)
#   SEED=random bash tests/contract.sh (explore beyond CI's fixed seed)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../dev.sh
source "$here/../dev.sh"   # ensure_nats_server, build, say; cds to the repository

# Pinned: a new release may add checks, which should be a change of ours, not CI's.
pip_install() { python3 -m pip install --quiet --disable-pip-version-check "$@"; }
python3 -c 'import schemathesis' 2>/dev/null && schemathesis --version | grep -q 4.32.5 \
  || pip_install schemathesis==4.32.5
python3 -c 'import openapi_spec_validator' 2>/dev/null || pip_install openapi-spec-validator==0.9.0
openapi-python-client --version 2>/dev/null | grep -q 0.29.1 || pip_install openapi-python-client==0.29.1
# Redocly's command line, from the npm registry, kept beside the build outputs.
tools="${PRISM_TOOLS_DIR:-/var/tmp/prism-tools}"
redocly="$tools/node_modules/.bin/redocly"
if ! "$redocly" --version 2>/dev/null | grep -q '^2.77.0$'; then
  mkdir -p "$tools"
  npm install --prefix "$tools" --silent --no-audit --no-fund @redocly/cli@2.77.0
fi

ensure_nats_server
if [ -z "${PRISM_BIN:-}" ]; then
  build
  PRISM_BIN="$TARGET_DIR/debug/prism"
fi

dir=$(mktemp -d)
password="contract-admin-password"
trap 'kill "${STANDALONE_PID:-}" 2>/dev/null; wait "${STANDALONE_PID:-}" 2>/dev/null; rm -rf "$dir"' EXIT
start_test_standalone "$dir" "$dir/prism.log" "$password"
base="$STANDALONE_URL"

say "OpenAPI document: $base/openapi.json"
curl -fsS "$base/openapi.json" >"$dir/openapi.json"
python3 - "$dir/openapi.json" <<'EOF'
import json, sys
from openapi_spec_validator import validate
document = json.load(open(sys.argv[1]))
validate(document)
assert document["openapi"].startswith("3.1"), document["openapi"]
print(f"valid OpenAPI {document['openapi']}: {len(document['paths'])} paths")
EOF

say "Redocly lint (recommended rules)"
# Its banner about Node.js versions goes to stderr; the verdict is the exit code.
REDOCLY_TELEMETRY=off "$redocly" lint --config "$here/contract/redocly.yaml" \
  --max-problems 200 "$dir/openapi.json" 2>&1 | grep -v '[║╔╚]'
if [ "${PIPESTATUS[0]}" -ne 0 ]; then
  echo "the API contract does not lint clean" >&2
  exit 1
fi
if REDOCLY_TELEMETRY=off "$redocly" lint --config "$here/contract/redocly.yaml" \
  --format summary "$dir/openapi.json" 2>&1 | grep -qE '^warning '; then
  echo "the API contract lints with warnings" >&2
  exit 1
fi

say "a Python client generated from the contract, and a tour through it"
# The generator reads no JSON lines (the job log's type) and no images (the
# console's icon): it is told to take them as text and bytes, which is what they
# are to a client that does not split or draw them.
printf 'package_name_override: prism_client\ncontent_type_overrides:\n  application/x-ndjson: text/plain\n  image/svg+xml: application/octet-stream\n' \
  >"$dir/generator.yaml"
openapi-python-client generate --path "$dir/openapi.json" --meta none \
  --config "$dir/generator.yaml" --output-path "$dir/client/prism_client" >"$dir/generator.log" 2>&1 \
  || { cat "$dir/generator.log" >&2; exit 1; }
if grep -q 'Warning' "$dir/generator.log"; then
  echo "the generator warned about the contract:" >&2
  cat "$dir/generator.log" >&2
  exit 1
fi
mkdir -p "$dir/files/tour"
python3 -m pip show httpx attrs python-dateutil >/dev/null 2>&1 || pip_install httpx attrs python-dateutil
python3 "$here/contract/tour.py" "$base" "$password" "$dir/files/tour" "$dir/client" \
  || { tail -n 40 "$dir/prism.log" >&2; exit 1; }

token=$(curl -fsS "$base/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"user\":\"admin\",\"password\":\"$password\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

say "schemathesis"
# Three operations end the run's own preconditions by design, so they are left
# out (each has its own end-to-end tests): logging out and revoking a token end
# the session schemathesis signs in with, and draining the standalone's node stops
# the server under test.
seed_args=(--seed "${SEED:-20261128}")
[ "${SEED:-}" = random ] && seed_args=()
if ! schemathesis run "$base/openapi.json" \
  -H "Authorization: Bearer $token" \
  --exclude-operation-id logout \
  --exclude-operation-id revokeToken \
  --exclude-operation-id drainNode \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --max-examples "${MAX_EXAMPLES:-50}" "${seed_args[@]}" --no-color; then
  echo "schemathesis found failures; the server's log: $dir/prism.log" >&2
  tail -n 40 "$dir/prism.log" >&2
  exit 1
fi
