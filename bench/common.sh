# Shared by the load scripts in bench/ (sourced from the repository root, after `set -euo pipefail`):
# tools, release binaries, a scratch directory cleaned up at exit with every server started,
# the bench signing key, and small helpers.
command -v oha >/dev/null || cargo install oha --locked
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
cargo build --release -q -p portcullis -p portcullis-bench

WORK=$(mktemp -d)
PIDS=()
# Servers started in subshells (`< <(start_portcullis …)`) record their pid in $WORK/pids.
cleanup() {
  for p in "${PIDS[@]}" $(cat "$WORK/pids" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

BIN=target/release
"$BIN/bench-token" keygen "$WORK"
ISS="https://issuer.bench"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; exit 1; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
