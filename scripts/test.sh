#!/usr/bin/env bash
# The test command: installs the third-party MCP clients the tests drive (once), then runs the
# whole workspace's tests. Needs PostgreSQL at 127.0.0.1:5432 (database `test`, trust auth) or
# PORTCULLIS_TEST_POSTGRES_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-clients.sh
cargo test --workspace --locked "$@"
