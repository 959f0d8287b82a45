#!/usr/bin/env bash
# Load comparison, one run, side by side: Portcullis vs a bare axum handler doing the same RS256
# verification and returning a fixed tool result. Each server is pinned to CPU 0 with one Tokio
# worker and the load generator (oha) to CPU 1. Prints requests/s, p99 and the ratio to the
# baseline.
#
#   bench/load.sh [DURATION_SECS] [CONCURRENCY] [ROUNDS]
#
# The cases run interleaved, ROUNDS times (default 3), and each case reports its median: on a
# shared machine the speed drifts by 10-20% from one minute to the next, and interleaving spreads
# that drift over every case instead of whichever ran last. COMPARE_BIN=path/to/portcullis adds
# the list_tasks and create_task cases against another build (e.g. the previous commit) for A/B runs.
#
# The main Portcullis server runs with an in-process rate limit too high to refuse anything, so
# its cost is in every Portcullis number; list_tasks_nolimit (limiter off) and list_tasks_redis
# (budgets in the Redis at REDIS_URL, default redis://127.0.0.1:6379) show what it costs.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONC="${2:-16}"
ROUNDS="${3:-3}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"

. bench/common.sh

META='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"oha","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}'
LIST_2025='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tasks","arguments":{"limit":10}}}'
LIST_2026='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tasks","arguments":{"limit":10},'"$META"'}}'
CREATE_2025='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_task","arguments":{"title":"load test","description":"created by bench/load.sh"}}}'
HEADERS=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')

# Starts a Portcullis build on a free port with 10 seeded tasks; prints "url token".
start_portcullis() { # binary name [serve args...]
  local bin=$1 name=$2 port url token
  shift 2
  port=$(free_port)
  url="http://127.0.0.1:$port"
  TOKIO_WORKER_THREADS=1 taskset -c "$SERVER_CPU" "$bin" serve --bind "127.0.0.1:$port" --public-url "$url" \
    --data-dir "$WORK/$name" --jwt-public-key "$WORK/public.pem" --issuer "$ISS" --audience "$url/mcp" "$@" 2>"$WORK/$name.log" &
  echo $! >> "$WORK/pids"
  wait_up "$url/health"
  token=$("$BIN/bench-token" mint "$WORK/private.pem" "$ISS" "$url/mcp" bench "tasks:read tasks:write")
  for _ in $(seq 1 10); do
    curl -sf -o /dev/null "$url/mcp" -H "Authorization: Bearer $token" "${HEADERS[@]}" \
      -H 'MCP-Protocol-Version: 2025-11-25' -d "$CREATE_2025"
  done
  echo "$url $token"
}

NEVER_REFUSE=(--rate-limit 1000000/s --rate-limit-burst 1000000)
read -r PC_URL PC_TOKEN < <(start_portcullis "$BIN/portcullis" portcullis "${NEVER_REFUSE[@]}")
read -r OFF_URL OFF_TOKEN < <(start_portcullis "$BIN/portcullis" nolimit --rate-limit off)
read -r RED_URL RED_TOKEN < <(start_portcullis "$BIN/portcullis" redis "${NEVER_REFUSE[@]}" \
  --redis-url "${REDIS_URL:-redis://127.0.0.1:6379}" --redis-prefix "portcullis-bench:$$:" --redis-failure-mode closed)
if [ -n "${COMPARE_BIN:-}" ]; then
  read -r CMP_URL CMP_TOKEN < <(start_portcullis "$COMPARE_BIN" compare)
fi

# The baseline returns exactly the bytes Portcullis returns for list_tasks (10 tasks).
curl -sf "$PC_URL/mcp" -H "Authorization: Bearer $PC_TOKEN" "${HEADERS[@]}" \
  -H 'MCP-Protocol-Version: 2025-11-25' -d "$LIST_2025" | jq '.result' > "$WORK/result.json"
BARE_PORT=$(free_port)
TOKIO_WORKER_THREADS=1 taskset -c "$SERVER_CPU" "$BIN/bare-mcp" "127.0.0.1:$BARE_PORT" "$WORK/public.pem" "$ISS" "http://127.0.0.1:$BARE_PORT/mcp" "$WORK/result.json" &
PIDS+=($!)
BARE_TOKEN=$("$BIN/bench-token" mint "$WORK/private.pem" "$ISS" "http://127.0.0.1:$BARE_PORT/mcp" bench "tasks:read tasks:write")
sleep 0.5

run() { # name url token version body [mcp-name]
  local name=$1 url=$2 token=$3 version=$4 body=$5 tool=${6:-}
  local extra=()
  [ "$version" = "2026-07-28" ] && extra=(-H "Mcp-Method: tools/call" -H "Mcp-Name: $tool")
  taskset -c "$LOAD_CPU" oha --no-tui --output-format json -z "${DURATION}s" -c "$CONC" -m POST \
    -H "Authorization: Bearer $token" "${HEADERS[@]}" -H "MCP-Protocol-Version: $version" "${extra[@]}" \
    -d "$body" "$url" > "$WORK/$name.json"
  local rps p99 ok
  rps=$(jq '.summary.requestsPerSec' "$WORK/$name.json")
  p99=$(jq '.latencyPercentiles.p99 * 1000' "$WORK/$name.json")
  ok=$(jq '.summary.successRate' "$WORK/$name.json")
  printf '%s %.0f %.2f %s\n' "$name" "$rps" "$p99" "$ok" >> "$WORK/results"
}

for _ in $(seq 1 "$ROUNDS"); do
  run bare "http://127.0.0.1:$BARE_PORT/mcp" "$BARE_TOKEN" 2025-11-25 "$LIST_2025"
  run list_tasks_2025 "$PC_URL/mcp" "$PC_TOKEN" 2025-11-25 "$LIST_2025"
  run list_tasks_2026 "$PC_URL/mcp" "$PC_TOKEN" 2026-07-28 "$LIST_2026" list_tasks
  run list_tasks_nolimit "$OFF_URL/mcp" "$OFF_TOKEN" 2025-11-25 "$LIST_2025"
  run list_tasks_redis "$RED_URL/mcp" "$RED_TOKEN" 2025-11-25 "$LIST_2025"
  [ -n "${COMPARE_BIN:-}" ] && run compare_list_2025 "$CMP_URL/mcp" "$CMP_TOKEN" 2025-11-25 "$LIST_2025"
done
# Writes last: the task table grows during this case and would change what list_tasks reads.
for _ in $(seq 1 "$ROUNDS"); do
  run create_task_2025 "$PC_URL/mcp" "$PC_TOKEN" 2025-11-25 "$CREATE_2025"
  [ -n "${COMPARE_BIN:-}" ] && run compare_create_2025 "$CMP_URL/mcp" "$CMP_TOKEN" 2025-11-25 "$CREATE_2025"
done

BASE=$(awk '$1=="bare"{print $2}' "$WORK/results" | median)
echo "c=$CONC, ${DURATION}s per run, median of $ROUNDS interleaved runs, server on CPU $SERVER_CPU, oha on CPU $LOAD_CPU"
printf '%-18s %10s %10s %9s %8s\n' case req/s p99_ms success ratio
for name in $(awk '{print $1}' "$WORK/results" | awk '!seen[$0]++'); do
  rps=$(awk -v n="$name" '$1==n{print $2}' "$WORK/results" | median)
  p99=$(awk -v n="$name" '$1==n{print $3}' "$WORK/results" | median)
  ok=$(awk -v n="$name" '$1==n{print $4}' "$WORK/results" | sort -n | head -1)
  printf '%-18s %10.0f %10.2f %9s %8.2f\n' "$name" "$rps" "$p99" "$ok" "$(echo "$rps / $BASE" | bc -l)"
done
