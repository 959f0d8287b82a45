#!/usr/bin/env bash
# Load comparison, one command, one run: every case of the performance targets side by side with
# the floor, a bare axum handler doing the same RS256 verification on every request and returning
# the fixed bytes Portcullis returns for list_tasks. Each server is pinned to CPU 0 with one Tokio
# worker and the load generator (oha) to CPU 1. Prints requests/s, p99, the ratio to the floor,
# peak RSS, a concurrency sweep (1, 16, 64) as a table and as Mermaid charts, and each target met
# or missed.
#
#   bench/load.sh [DURATION_SECS] [CONCURRENCY] [ROUNDS]
#
# Cases (2025-11-25 unless named 2026):
#   bare                 the floor
#   list_tasks_2025/2026 default configuration: token cache on, audit on, rate limiter on with a
#                        budget the load never exhausts, SQLite
#   list_tasks_nocache   --token-cache-size 0: every request's signature verified
#   list_tasks_nolimit   --rate-limit off
#   list_tasks_redis     budgets in Redis
#   list_tasks_pg        PostgreSQL instead of SQLite
#   create_task_2025     a durable write (SQLite, synchronous=FULL), and create_task_pg
# PostgreSQL and Redis are private instances started by scripts/test-services.sh (or the ones
# PORTCULLIS_TEST_POSTGRES_URL / PORTCULLIS_TEST_REDIS_URL name).
#
# The cases run interleaved, ROUNDS times (default 3), and each reports its median: on a shared
# machine the speed drifts by 10-20% from one minute to the next, and interleaving spreads that
# drift over every case instead of whichever ran last. COMPARE_BIN=path/to/portcullis adds the
# list_tasks and create_task cases against another build (e.g. the previous commit) for A/B runs.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-8}"
CONC="${2:-16}"
ROUNDS="${3:-3}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"

# shellcheck source=scripts/test-services.sh
. scripts/test-services.sh
services_up
. bench/common.sh
trap 'cleanup; services_down' EXIT

META='"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"oha","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}'
LIST_2025='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tasks","arguments":{"limit":10}}}'
LIST_2026='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tasks","arguments":{"limit":10},'"$META"'}}'
CREATE_2025='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_task","arguments":{"title":"load test","description":"created by bench/load.sh"}}}'
HEADERS=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')

# Starts a Portcullis build on a free port with 10 seeded tasks; prints "url token pid".
start_portcullis() { # binary name [serve args...]
  local bin=$1 name=$2 port url token pid
  shift 2
  port=$(free_port)
  url="http://127.0.0.1:$port"
  TOKIO_WORKER_THREADS=1 taskset -c "$SERVER_CPU" "$bin" serve --bind "127.0.0.1:$port" --public-url "$url" \
    --data-dir "$WORK/$name" --jwt-public-key "$WORK/public.pem" --issuer "$ISS" --audience "$url/mcp" "$@" 2>"$WORK/$name.log" &
  pid=$!
  echo "$pid" >> "$WORK/pids"
  wait_up "$url/health"
  token=$("$BIN/bench-token" mint "$WORK/private.pem" "$ISS" "$url/mcp" bench "tasks:read tasks:write")
  for _ in $(seq 1 10); do
    curl -sf -o /dev/null "$url/mcp" -H "Authorization: Bearer $token" "${HEADERS[@]}" \
      -H 'MCP-Protocol-Version: 2025-11-25' -d "$CREATE_2025"
  done
  echo "$url $token $pid"
}

# A fresh database on the PostgreSQL instance for this run.
PG_DB="portcullis_bench_$$"
psql -q "$PORTCULLIS_TEST_POSTGRES_URL" -c "CREATE DATABASE $PG_DB" >/dev/null
PG_URL="${PORTCULLIS_TEST_POSTGRES_URL%/*}/$PG_DB"

NEVER_REFUSE=(--rate-limit 1000000/s --rate-limit-burst 1000000)
read -r PC_URL PC_TOKEN PC_PID < <(start_portcullis "$BIN/portcullis" portcullis "${NEVER_REFUSE[@]}")
read -r NC_URL NC_TOKEN _ < <(start_portcullis "$BIN/portcullis" nocache "${NEVER_REFUSE[@]}" --token-cache-size 0)
read -r OFF_URL OFF_TOKEN _ < <(start_portcullis "$BIN/portcullis" nolimit --rate-limit off)
read -r RED_URL RED_TOKEN _ < <(start_portcullis "$BIN/portcullis" redis "${NEVER_REFUSE[@]}" \
  --redis-url "$PORTCULLIS_TEST_REDIS_URL" --redis-prefix "portcullis-bench:$$:" --redis-failure-mode closed)
read -r PG_SRV_URL PG_TOKEN _ < <(start_portcullis "$BIN/portcullis" pg "${NEVER_REFUSE[@]}" --database-url "$PG_URL")
if [ -n "${COMPARE_BIN:-}" ]; then
  read -r CMP_URL CMP_TOKEN _ < <(start_portcullis "$COMPARE_BIN" compare "${NEVER_REFUSE[@]}")
fi

# The floor returns exactly the bytes Portcullis returns for list_tasks (10 tasks).
curl -sf "$PC_URL/mcp" -H "Authorization: Bearer $PC_TOKEN" "${HEADERS[@]}" \
  -H 'MCP-Protocol-Version: 2025-11-25' -d "$LIST_2025" | jq '.result' > "$WORK/result.json"
BARE_PORT=$(free_port)
TOKIO_WORKER_THREADS=1 taskset -c "$SERVER_CPU" "$BIN/bare-mcp" "127.0.0.1:$BARE_PORT" "$WORK/public.pem" "$ISS" "http://127.0.0.1:$BARE_PORT/mcp" "$WORK/result.json" &
PIDS+=($!)
BARE_URL="http://127.0.0.1:$BARE_PORT/mcp"
BARE_TOKEN=$("$BIN/bench-token" mint "$WORK/private.pem" "$ISS" "$BARE_URL" bench "tasks:read tasks:write")
wait_up_post() { for _ in $(seq 1 50); do curl -s -o /dev/null -X POST "$1" && return 0; sleep 0.1; done; }
wait_up_post "$BARE_URL"

run() { # name concurrency url token version body [mcp-name]
  local name=$1 conc=$2 url=$3 token=$4 version=$5 body=$6 tool=${7:-}
  local extra=()
  [ "$version" = "2026-07-28" ] && extra=(-H "Mcp-Method: tools/call" -H "Mcp-Name: $tool")
  taskset -c "$LOAD_CPU" oha --no-tui --output-format json -z "${DURATION}s" -c "$conc" -m POST \
    -H "Authorization: Bearer $token" "${HEADERS[@]}" -H "MCP-Protocol-Version: $version" "${extra[@]}" \
    -d "$body" "$url" > "$WORK/$name.json"
  local rps p99 ok
  rps=$(jq '.summary.requestsPerSec' "$WORK/$name.json")
  p99=$(jq '.latencyPercentiles.p99 * 1000' "$WORK/$name.json")
  ok=$(jq '.summary.successRate' "$WORK/$name.json")
  printf '%s %.0f %.3f %s\n' "$name" "$rps" "$p99" "$ok" >> "$WORK/results"
}

for _ in $(seq 1 "$ROUNDS"); do
  run bare "$CONC" "$BARE_URL" "$BARE_TOKEN" 2025-11-25 "$LIST_2025"
  run list_tasks_2025 "$CONC" "$PC_URL/mcp" "$PC_TOKEN" 2025-11-25 "$LIST_2025"
  run list_tasks_2026 "$CONC" "$PC_URL/mcp" "$PC_TOKEN" 2026-07-28 "$LIST_2026" list_tasks
  run list_tasks_nocache "$CONC" "$NC_URL/mcp" "$NC_TOKEN" 2025-11-25 "$LIST_2025"
  run list_tasks_nolimit "$CONC" "$OFF_URL/mcp" "$OFF_TOKEN" 2025-11-25 "$LIST_2025"
  run list_tasks_redis "$CONC" "$RED_URL/mcp" "$RED_TOKEN" 2025-11-25 "$LIST_2025"
  run list_tasks_pg "$CONC" "$PG_SRV_URL/mcp" "$PG_TOKEN" 2025-11-25 "$LIST_2025"
  [ -n "${COMPARE_BIN:-}" ] && run compare_list_2025 "$CONC" "$CMP_URL/mcp" "$CMP_TOKEN" 2025-11-25 "$LIST_2025"
done
# The sweep, one run per point, for the chart: c=1 and c=64 (c=16 is the table's).
for c in 1 64; do
  run "sweep_bare_c$c" "$c" "$BARE_URL" "$BARE_TOKEN" 2025-11-25 "$LIST_2025"
  run "sweep_portcullis_c$c" "$c" "$PC_URL/mcp" "$PC_TOKEN" 2025-11-25 "$LIST_2025"
done
RSS_KB=$(awk '/^VmHWM/ {print $2}' "/proc/$PC_PID/status")
# Writes last: the task table grows during these cases and would change what list_tasks reads.
for _ in $(seq 1 "$ROUNDS"); do
  run create_task_2025 "$CONC" "$PC_URL/mcp" "$PC_TOKEN" 2025-11-25 "$CREATE_2025"
  run create_task_pg "$CONC" "$PG_SRV_URL/mcp" "$PG_TOKEN" 2025-11-25 "$CREATE_2025"
  [ -n "${COMPARE_BIN:-}" ] && run compare_create_2025 "$CONC" "$CMP_URL/mcp" "$CMP_TOKEN" 2025-11-25 "$CREATE_2025"
done

col() { awk -v n="$1" -v c="$2" '$1==n{print $c}' "$WORK/results" | median; }
BASE=$(col bare 2)
BASE_P99=$(col bare 3)
echo "$(date -u +%Y-%m-%d), $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo))"
echo "c=$CONC, ${DURATION}s per run, median of $ROUNDS interleaved runs, servers on CPU $SERVER_CPU, oha on CPU $LOAD_CPU"
printf '%-20s %10s %10s %9s %8s %9s\n' case req/s p99_ms success ratio p99_ratio
for name in $(awk '{print $1}' "$WORK/results" | grep -v '^sweep_' | awk '!seen[$0]++'); do
  rps=$(col "$name" 2)
  p99=$(col "$name" 3)
  ok=$(awk -v n="$name" '$1==n{print $4}' "$WORK/results" | sort -n | head -1)
  printf '%-20s %10.0f %10.2f %9s %8.2f %9.2f\n' "$name" "$rps" "$p99" "$ok" \
    "$(echo "$rps / $BASE" | bc -l)" "$(echo "$p99 / $BASE_P99" | bc -l)"
done
echo "peak RSS of the default Portcullis server (after the read cases): $((RSS_KB / 1024)) MiB"

# The sweep: c=16 from the table above.
point() { # server c column
  if [ "$2" = "$CONC" ]; then
    if [ "$1" = bare ]; then col bare "$3"; else col list_tasks_2025 "$3"; fi
  else
    col "sweep_$1_c$2" "$3"
  fi
}
echo
echo "concurrency sweep, list_tasks 2025-11-25 (req/s, p99 ms):"
printf '%-12s %10s %10s %10s %10s\n' c bare_rps portc_rps bare_p99 portc_p99
for c in 1 "$CONC" 64; do
  printf '%-12s %10.0f %10.0f %10.2f %10.2f\n' "$c" "$(point bare "$c" 2)" "$(point portcullis "$c" 2)" \
    "$(point bare "$c" 3)" "$(point portcullis "$c" 3)"
done
chart() { # title y-label column format
  echo '```mermaid'
  echo 'xychart-beta'
  echo "  title \"$1\""
  echo "  x-axis \"concurrent clients\" [1, $CONC, 64]"
  echo "  y-axis \"$2\""
  for s in portcullis bare; do
    printf '  line [%s, %s, %s]\n' "$(printf "$4" "$(point "$s" 1 "$3")")" \
      "$(printf "$4" "$(point "$s" "$CONC" "$3")")" "$(printf "$4" "$(point "$s" 64 "$3")")"
  done
  echo '```'
}
echo
echo "charts (first line Portcullis, second the floor):"
chart "list_tasks: requests per second" "req/s" 2 '%.0f'
chart "list_tasks: p99 latency" "ms" 3 '%.2f'

# The targets (issue 20).
ratio() { echo "$(col "$1" 2) / $BASE" | bc -l; }
check() { # label value op limit
  if [ "$(echo "$2 $3 $4" | bc -l)" = 1 ]; then verdict=met; else verdict=MISSED; fi
  printf '%-44s %8.2f %s %-6s %s\n' "$1" "$2" "$3" "$4" "$verdict"
}
echo
echo "targets:"
check "list_tasks 2025, default configuration" "$(ratio list_tasks_2025)" '>=' 1.0
check "list_tasks 2026, default configuration" "$(ratio list_tasks_2026)" '>=' 1.0
check "list_tasks, token cache off" "$(ratio list_tasks_nocache)" '>=' 0.6
check "create_task" "$(ratio create_task_2025)" '>=' 0.5
check "p99 of list_tasks 2025 over the floor's" "$(echo "$(col list_tasks_2025 3) / $BASE_P99" | bc -l)" '<=' 1.5
check "peak RSS, MiB" "$(echo "$RSS_KB / 1024" | bc -l)" '<' 60
