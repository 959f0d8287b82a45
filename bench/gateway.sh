#!/usr/bin/env bash
# Gateway overhead, one run, side by side: an upstream MCP server called directly vs the same
# upstream called through Portcullis's gateway (`[[upstreams]]`, tool `bench_echo`). The upstream
# is bench-upstream, a minimal rmcp server (stateless, JSON responses) with one read-only tool,
# `echo`. Each server is pinned to CPU 0 with one Tokio worker and the load generator (oha) to
# CPU 1, so in the gateway cases Portcullis and the upstream share CPU 0 and req/s counts the work
# of both. Prints requests/s, p50, p99 and the ratio to the direct case.
#
#   bench/gateway.sh [DURATION_SECS] [CONCURRENCY] [ROUNDS]
#
# Cases, each a `tools/call` with the same small argument:
#   direct        oha → bench-upstream `echo` (2025-11-25)
#   gateway_none  oha → Portcullis → bench-upstream, upstream auth = "none" (2025-11-25)
#   gateway_jwt   the same with auth = "jwt": Portcullis signs an ES256 token per user (cached)
#                 and sends it upstream, which ignores it
#   gateway_2026  gateway_none with the 2026-07-28 protocol (`_meta`, Mcp-Method/Mcp-Name)
# Portcullis verifies the client's RS256 token (minted by bench-token, scope bench:read), checks
# the policy and a rate limit too high to refuse, and writes an audit row to SQLite, as in
# bench/load.sh. The cases run interleaved, ROUNDS times (default 3), and each case reports its
# median (see bench/load.sh for why).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONC="${2:-16}"
ROUNDS="${3:-3}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"

. bench/common.sh

TEXT="hello from oha"
ARGS='{"text":"'"$TEXT"'"}'
META='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"oha","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}'
DIRECT_2025='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":'"$ARGS"'}}'
ECHO_2025='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"bench_echo","arguments":'"$ARGS"'}}'
ECHO_2026='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"bench_echo","arguments":'"$ARGS"','"$META"'}}'
HEADERS=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')

# One request with curl: the body, then the HTTP status on a line of its own.
call() { # url token version body [mcp-name]
  local url=$1 token=$2 version=$3 body=$4 tool=${5:-}
  local extra=()
  [ "$version" = "2026-07-28" ] && extra=(-H "Mcp-Method: tools/call" -H "Mcp-Name: $tool")
  curl -s -w '\n%{http_code}' "$url" -H "Authorization: Bearer $token" "${HEADERS[@]}" \
    -H "MCP-Protocol-Version: $version" "${extra[@]}" -d "$body" || true
}
echoes() { # the output of call
  sed '$d' <<<"$1" | jq -e --arg t "$TEXT" '.result.isError != true and .result.content[0].text == $t' >/dev/null 2>&1
}
# Fails loudly unless the answer is the echoed text.
check() { # name url token version body [mcp-name]
  local name=$1 out
  shift
  out=$(call "$@")
  if ! echoes "$out"; then
    echo "FAIL: $name did not echo \"$TEXT\" (HTTP $(tail -n1 <<<"$out")), request: $4" >&2
    sed '$d' <<<"$out" >&2
    echo >&2
    exit 1
  fi
}

UP_PORT=$(free_port)
UP_URL="http://127.0.0.1:$UP_PORT/mcp"
TOKIO_WORKER_THREADS=1 taskset -c "$SERVER_CPU" "$BIN/bench-upstream" "127.0.0.1:$UP_PORT" 2>"$WORK/upstream.log" &
PIDS+=($!)
for _ in $(seq 1 100); do echoes "$(call "$UP_URL" none 2025-11-25 "$DIRECT_2025")" && break; sleep 0.1; done
check direct "$UP_URL" none 2025-11-25 "$DIRECT_2025"

# Starts Portcullis in front of bench-upstream with upstream auth $2; prints "url token" once
# /ready shows the upstream's tools listed.
start_portcullis() { # name auth [serve args...]
  local name=$1 auth=$2 port url token
  shift 2
  port=$(free_port)
  url="http://127.0.0.1:$port"
  cat > "$WORK/$name.toml" <<EOF
[[upstreams]]
name = "bench"
url = "$UP_URL"
auth = "$auth"
timeout_secs = 10
EOF
  TOKIO_WORKER_THREADS=1 taskset -c "$SERVER_CPU" "$BIN/portcullis" serve --config "$WORK/$name.toml" \
    --bind "127.0.0.1:$port" --public-url "$url" --data-dir "$WORK/$name" \
    --jwt-public-key "$WORK/public.pem" --issuer "$ISS" --audience "$url/mcp" "$@" 2>"$WORK/$name.log" &
  echo $! >> "$WORK/pids"
  wait_up "$url/health"
  local listed=""
  for _ in $(seq 1 100); do
    if curl -s "$url/ready" | jq -e '.checks["upstream:bench"].status == "ok"' >/dev/null 2>&1; then
      listed=1
      break
    fi
    sleep 0.1
  done
  if [ -z "$listed" ]; then
    echo "Portcullis ($name) did not list the upstream; /ready says:" >&2
    curl -s "$url/ready" >&2
    echo >&2
    tail -20 "$WORK/$name.log" >&2
    exit 1
  fi
  # A user's token: bench-token's client_id is `bench`, and a token whose sub equals its
  # client_id is a client-credentials token, which the default policy lets call nothing.
  token=$("$BIN/bench-token" mint "$WORK/private.pem" "$ISS" "$url/mcp" bench-user "bench:read")
  echo "$url $token"
}

NEVER_REFUSE=(--rate-limit 1000000/s --rate-limit-burst 1000000)
read -r NONE_URL NONE_TOKEN < <(start_portcullis none none "${NEVER_REFUSE[@]}")
read -r JWT_URL JWT_TOKEN < <(start_portcullis jwt jwt "${NEVER_REFUSE[@]}")
# A failed start says why on stderr and prints nothing, so its `read` fails and ends the script.

check gateway_none "$NONE_URL/mcp" "$NONE_TOKEN" 2025-11-25 "$ECHO_2025"
check gateway_jwt "$JWT_URL/mcp" "$JWT_TOKEN" 2025-11-25 "$ECHO_2025"
check gateway_2026 "$NONE_URL/mcp" "$NONE_TOKEN" 2026-07-28 "$ECHO_2026" bench_echo

run() { # name url token version body [mcp-name]
  local name=$1 url=$2 token=$3 version=$4 body=$5 tool=${6:-}
  local extra=()
  [ "$version" = "2026-07-28" ] && extra=(-H "Mcp-Method: tools/call" -H "Mcp-Name: $tool")
  taskset -c "$LOAD_CPU" oha --no-tui --output-format json -z "${DURATION}s" -c "$CONC" -m POST \
    -H "Authorization: Bearer $token" "${HEADERS[@]}" -H "MCP-Protocol-Version: $version" "${extra[@]}" \
    -d "$body" "$url" > "$WORK/$name.json"
  local rps p50 p99 ok non200
  rps=$(jq '.summary.requestsPerSec' "$WORK/$name.json")
  p50=$(jq '.latencyPercentiles.p50 * 1000' "$WORK/$name.json")
  p99=$(jq '.latencyPercentiles.p99 * 1000' "$WORK/$name.json")
  ok=$(jq '.summary.successRate' "$WORK/$name.json")
  # oha counts any HTTP answer as a success; a refusal would show up here.
  non200=$(jq '[.statusCodeDistribution | to_entries[] | select(.key != "200") | .value] | add // 0' "$WORK/$name.json")
  [ "$non200" = 0 ] || echo "warning: $name got $non200 non-200 answers: $(jq -c .statusCodeDistribution "$WORK/$name.json")" >&2
  printf '%s %.0f %.3f %.3f %s\n' "$name" "$rps" "$p50" "$p99" "$ok" >> "$WORK/results"
}

for _ in $(seq 1 "$ROUNDS"); do
  run direct "$UP_URL" none 2025-11-25 "$DIRECT_2025"
  run gateway_none "$NONE_URL/mcp" "$NONE_TOKEN" 2025-11-25 "$ECHO_2025"
  run gateway_jwt "$JWT_URL/mcp" "$JWT_TOKEN" 2025-11-25 "$ECHO_2025"
  run gateway_2026 "$NONE_URL/mcp" "$NONE_TOKEN" 2026-07-28 "$ECHO_2026" bench_echo
done

# Still answering correctly after the load (a 200 can carry a tool error).
check gateway_none "$NONE_URL/mcp" "$NONE_TOKEN" 2025-11-25 "$ECHO_2025"
check gateway_jwt "$JWT_URL/mcp" "$JWT_TOKEN" 2025-11-25 "$ECHO_2025"
check gateway_2026 "$NONE_URL/mcp" "$NONE_TOKEN" 2026-07-28 "$ECHO_2026" bench_echo

BASE=$(awk '$1=="direct"{print $2}' "$WORK/results" | median)
echo "c=$CONC, ${DURATION}s per run, median of $ROUNDS interleaved runs, servers on CPU $SERVER_CPU, oha on CPU $LOAD_CPU"
printf '%-14s %10s %8s %8s %9s %8s\n' case req/s p50_ms p99_ms success ratio
for name in $(awk '{print $1}' "$WORK/results" | awk '!seen[$0]++'); do
  rps=$(awk -v n="$name" '$1==n{print $2}' "$WORK/results" | median)
  p50=$(awk -v n="$name" '$1==n{print $3}' "$WORK/results" | median)
  p99=$(awk -v n="$name" '$1==n{print $4}' "$WORK/results" | median)
  ok=$(awk -v n="$name" '$1==n{print $5}' "$WORK/results" | sort -n | head -1)
  printf '%-14s %10.0f %8.2f %8.2f %9s %8.2f\n' "$name" "$rps" "$p50" "$p99" "$ok" "$(echo "$rps / $BASE" | bc -l)"
done
