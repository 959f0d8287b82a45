#!/usr/bin/env bash
# The test command. On a fresh machine it brings up what the tests need and nothing else is
# assumed running: private PostgreSQL and Redis instances on free ports (or the ones named by
# PORTCULLIS_TEST_POSTGRES_URL / PORTCULLIS_TEST_REDIS_URL), Debian's Chromium and tools when
# missing (scripts/test-services.sh), and the third-party MCP clients the tests drive
# (scripts/install-test-clients.sh, once). Then it runs every test binary of the workspace,
# checks every server log for secrets, and prints one closing line counting all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/test-services.sh
source scripts/test-services.sh
log=$(mktemp)
# Every server the tests start writes its log here, at debug level for Portcullis's own crates;
# afterwards scripts/check-logs.sh fails the run if any secret reached any of them.
export PORTCULLIS_TEST_LOG_DIR
PORTCULLIS_TEST_LOG_DIR=$(mktemp -d)
trap 'services_down; rm -rf "$log" "$PORTCULLIS_TEST_LOG_DIR"' EXIT
services_up
bash scripts/install-test-clients.sh
export PORTCULLIS_LOG="${PORTCULLIS_LOG:-info,rmcp=warn,portcullis=debug,portcullis_http=debug,portcullis_auth=debug,portcullis_oauth=debug,portcullis_mcp=debug,portcullis_core=debug,portcullis_backend_client=debug,portcullis_ratelimit=debug}"
status=0
cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
bash scripts/check-logs.sh "$PORTCULLIS_TEST_LOG_DIR" || status=1
# One closing line for the whole run (cargo's last line is often an empty doc-test suite).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     /^error: .*test failed|^error: could not compile/ { broken++ }
     END { printf "%d passed, %d failed%s\n", p, f, (broken ? sprintf(" (%d test binaries failed)", broken) : "") }' "$log"
exit "$status"
