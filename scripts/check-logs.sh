#!/usr/bin/env bash
# The redaction check: no secret of any kind may reach a log line. Greps every server log of a
# test run (the directory scripts/test.sh passes as PORTCULLIS_TEST_LOG_DIR) for
#  - Portcullis's own secrets, recognisable by their prefixes: API keys (pck_<id>_…),
#    authorization codes (pca_), refresh tokens (pcr_), client secrets (pcs_), browser
#    binding cookies (pcb_);
#  - JWTs (access tokens, ID tokens): header.payload.signature in base64url;
#  - the fixed secrets the tests use (passwords, service tokens, internal keys), listed in
#    crates/portcullis/tests/it/support/fixed-secrets.txt.
# Prints each offending file and line number (never the secret itself) and exits 1.
#
#   scripts/check-logs.sh LOG_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:?usage: check-logs.sh LOG_DIR}"
shopt -s nullglob
logs=("$dir"/*.log)
if [ "${#logs[@]}" -eq 0 ]; then
  echo "check-logs: no logs in $dir; nothing was checked" >&2
  exit 1
fi
patterns='pck_[0-9a-f]{16}_[A-Za-z0-9_-]{20,}|pc[arsb]_[A-Za-z0-9_-]{40,}|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.'
status=0
if hits=$(grep -H -n -o -E "$patterns" "${logs[@]}" | cut -d: -f1,2); [ -n "$hits" ]; then
  echo "check-logs: secrets found in server logs (file:line):" >&2
  echo "$hits" >&2
  status=1
fi
if hits=$(grep -H -n -F -f crates/portcullis/tests/it/support/fixed-secrets.txt "${logs[@]}" | cut -d: -f1,2); [ -n "$hits" ]; then
  echo "check-logs: fixed test secrets found in server logs (file:line):" >&2
  echo "$hits" >&2
  status=1
fi
echo "check-logs: ${#logs[@]} server logs checked for secrets" >&2
exit "$status"
