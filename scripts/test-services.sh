#!/usr/bin/env bash
# Sourced by scripts/test.sh: brings up what the tests need on this machine, privately, and
# tears it down when the test run exits.
#
# - PostgreSQL: PORTCULLIS_TEST_POSTGRES_URL when set; else a throw-away cluster (initdb +
#   pg_ctl) in a temporary directory on a free port, with a `test` database and trust auth.
# - Redis: PORTCULLIS_TEST_REDIS_URL when set; else a redis-server on a free port that keeps
#   nothing on disk.
# - Debian packages the tests drive (PostgreSQL, Redis, Chromium, openssl, procps) are
#   installed with apt-get when missing and this runs as root.
# Nothing here touches a PostgreSQL or Redis that is already running.

services_log() { printf 'test-services: %s\n' "$*" >&2; }

apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    services_log "missing $*; install it (Debian: apt-get install $*)"
    return 1
  fi
  services_log "installing $*"
  if [ -z "${SERVICES_APT_UPDATED:-}" ]; then
    apt-get update -qq >/dev/null
    SERVICES_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

SERVICES_DIR=$(mktemp -d)
chmod 755 "$SERVICES_DIR"
SERVICES_PIDS=()
PG_CTL=""
PG_DATA=""
PG_USER=""

services_down() {
  if [ -n "$PG_CTL" ]; then
    if [ -n "$PG_USER" ]; then
      runuser -u "$PG_USER" -- "$PG_CTL" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
    else
      "$PG_CTL" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
    fi
  fi
  for pid in "${SERVICES_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$SERVICES_DIR"
}

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

start_postgres() {
  if [ -n "${PORTCULLIS_TEST_POSTGRES_URL:-}" ]; then
    services_log "PostgreSQL: using PORTCULLIS_TEST_POSTGRES_URL"
    return 0
  fi
  local bin
  bin=$(pg_bin) || { apt_install postgresql && bin=$(pg_bin); } || return 1
  local port
  port=$(free_port)
  PG_DATA="$SERVICES_DIR/postgres"
  PG_CTL="$bin/pg_ctl"
  local run=()
  # initdb refuses to run as root: use the postgres account the package created.
  if [ "$(id -u)" = 0 ]; then
    PG_USER=postgres
    id "$PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home "$PG_USER"
    run=(runuser -u "$PG_USER" --)
    install -d -o "$PG_USER" "$PG_DATA"
  fi
  "${run[@]}" "$bin/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 >"$SERVICES_DIR/initdb.log" 2>&1 \
    || { cat "$SERVICES_DIR/initdb.log" >&2; return 1; }
  "${run[@]}" "$PG_CTL" -D "$PG_DATA" -l "$PG_DATA/server.log" -w -t 60 \
    -o "-p $port -k $PG_DATA -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" \
    start >/dev/null || { cat "$PG_DATA/server.log" >&2; return 1; }
  "${run[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres test
  export PORTCULLIS_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/test"
  services_log "PostgreSQL: private cluster on port $port"
}

start_redis() {
  if [ -n "${PORTCULLIS_TEST_REDIS_URL:-}" ]; then
    services_log "Redis: using PORTCULLIS_TEST_REDIS_URL"
    return 0
  fi
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server || return 1
  local port
  port=$(free_port)
  redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$SERVICES_DIR" --logfile "$SERVICES_DIR/redis.log" &
  SERVICES_PIDS+=("$!")
  for _ in $(seq 1 100); do
    redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null
  export PORTCULLIS_TEST_REDIS_URL="redis://127.0.0.1:$port"
  services_log "Redis: private server on port $port"
}

ensure_tools() {
  # The browser test drives Debian's Chromium; the TLS test makes a certificate with openssl;
  # the shutdown test signals with kill; psql drops the tests' databases.
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  [ -x /usr/bin/kill ] || [ -x /bin/kill ] || missing+=(procps)
  command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
  if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
}

services_up() {
  ensure_tools || return 1
  start_postgres || return 1
  start_redis || return 1
}
