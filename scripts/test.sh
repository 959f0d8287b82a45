#!/usr/bin/env bash
# The test command: installs the third-party MCP clients the tests drive (once), then runs the
# whole workspace's tests. Needs PostgreSQL at 127.0.0.1:5432 (database `test`, trust auth) or
# PORTCULLIS_TEST_POSTGRES_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-clients.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?
# One closing line for the whole run (cargo's last line is often an empty doc-test suite).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
