#!/usr/bin/env bash
# The test command: installs the third-party MCP clients the tests drive (once), then runs the
# whole workspace's tests. Needs PostgreSQL at 127.0.0.1:5432 (database `test`, trust auth) or
# PORTCULLIS_TEST_POSTGRES_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-clients.sh
log=$(mktemp)
# Every server the tests start writes its log here, at debug level for Portcullis's own crates;
# afterwards scripts/check-logs.sh fails the run if any secret reached any of them.
export PORTCULLIS_TEST_LOG_DIR
PORTCULLIS_TEST_LOG_DIR=$(mktemp -d)
export PORTCULLIS_LOG="${PORTCULLIS_LOG:-info,rmcp=warn,portcullis=debug,portcullis_http=debug,portcullis_auth=debug,portcullis_oauth=debug,portcullis_mcp=debug,portcullis_core=debug,portcullis_backend_client=debug,portcullis_ratelimit=debug}"
trap 'rm -rf "$log" "$PORTCULLIS_TEST_LOG_DIR"' EXIT
status=0
cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
bash scripts/check-logs.sh "$PORTCULLIS_TEST_LOG_DIR" || status=1
# One closing line for the whole run (cargo's last line is often an empty doc-test suite).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
