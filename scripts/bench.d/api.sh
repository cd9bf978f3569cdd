#!/usr/bin/env bash
# Admin API benchmark: GET /v1.0/pods, GET /v1.0/routings?limit=100 over
# $ROUTINGS rows, POST /v1.0/routings, each at concurrency 1 and 16; the
# API's RSS; and the cost of a routings page over 1,000 vs 1,000,000 rows.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../lib/packages.sh
source scripts/lib/packages.sh
packages_install wrk

DURATION="${DURATION:-10}"
ROUTINGS="${ROUTINGS:-100000}"
PORT="${BENCH_PORT:-19899}"
cargo build -q --release --bin tricircle-api --bin tricircle-db-manage

work="$(mktemp -d)"
api_pid=""
cleanup() {
    [[ -n "$api_pid" ]] && kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

base="http://127.0.0.1:$PORT"
hdr=(-H 'X-Role: admin' -H 'X-Tenant-Id: bench' -H 'X-User-Id: bench')

# start_api DBFILE: a fresh API (2 workers) over the given SQLite file.
start_api() {
    local db="$1"
    cat >"$work/api.conf" <<CONF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $PORT
auth_strategy = noauth
api_workers = 2
tricircle_db_connection = sqlite:///$db
CONF
    target/release/tricircle-db-manage --config-file "$work/api.conf" db_sync 2>/dev/null
    RUST_LOG=warn target/release/tricircle-api --config-file "$work/api.conf" 2>"$work/api.log" &
    api_pid=$!
    for _ in $(seq 100); do
        curl -sf "$base/" >/dev/null && return 0
        sleep 0.1
    done
    echo "the API did not start:" >&2
    cat "$work/api.log" >&2
    exit 1
}

stop_api() {
    kill "$api_pid"
    wait "$api_pid" 2>/dev/null || true
    api_pid=""
}

# seed_routings DBFILE N POD: N routings of project "bench" in one transaction.
seed_routings() {
    python3 - "$1" "$2" "$3" <<'PY'
import sqlite3, sys
db, n, pod = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = sqlite3.connect(db)
c.execute("""
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
INSERT INTO resource_routings (top_id, bottom_id, pod_id, project_id, resource_type, created_at)
SELECT 'top-' || i, 'bottom-' || i, ?, 'bench', 'port', datetime('now') FROM seq
""", (n, pod))
c.commit()
PY
}

pod_id() {
    curl -sf "${hdr[@]}" "$base/v1.0/pods" | python3 -c \
        'import json,sys; print([p["pod_id"] for p in json.load(sys.stdin)["pods"] if p["az_name"]][0])'
}

# run_wrk LABEL CONCURRENCY PATH [LUA]: one line of figures.
run_wrk() {
    local label="$1" c="$2" path="$3" lua="${4:-}"
    local threads=$((c < 2 ? 1 : 2))
    local args=(-t"$threads" -c"$c" -d"${DURATION}s" --latency "${hdr[@]}")
    [[ -n "$lua" ]] && args+=(-s "$lua")
    local out
    out="$(wrk "${args[@]}" "$base$path")"
    local rps p50 p99 errors
    rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    errors="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
    printf '%-34s c=%-3s %10s req/s   p50 %-9s p99 %-9s%s\n' \
        "$label" "$c" "$rps" "$p50" "$p99" "${errors:+  non-2xx: $errors}"
}

rss() {
    # The API's master and worker threads are one process.
    awk '/VmRSS|VmHWM/ {printf "%s %s %s  ", $1, $2, $3}' "/proc/$api_pid/status"
    echo
}

post_lua="$work/post.lua"
cat >"$post_lua" <<'LUA'
-- Each request creates a new routing: unique top ids per thread. The
-- headers given with -H are kept (wrk.format replaces them otherwise).
local counter = 0
local threads = 0
setup = function(thread)
    threads = threads + 1
    thread:set("tid", threads)
end
request = function()
    counter = counter + 1
    local headers = {}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    headers["Content-Type"] = "application/json"
    local body = string.format(
        '{"routing": {"top_id": "post-%s-%d-%d", "bottom_id": "b", "pod_id": "%s", ' ..
        '"project_id": "bench", "resource_type": "port"}}',
        os.time(), tid, counter, pod)
    return wrk.format("POST", nil, headers, body)
end
LUA

echo "== tricircle-api on SQLite, 2 API workers, wrk on loopback, ${DURATION}s per run, $(nproc) cores"
start_api "$work/main.sqlite"
curl -sf "${hdr[@]}" -H 'Content-Type: application/json' -d '{"pod": {"region_name": "CentralRegion"}}' "$base/v1.0/pods" >/dev/null
curl -sf "${hdr[@]}" -H 'Content-Type: application/json' -d '{"pod": {"region_name": "RegionOne", "az_name": "az1"}}' "$base/v1.0/pods" >/dev/null
pod="$(pod_id)"
seed_routings "$work/main.sqlite" "$ROUTINGS" "$pod"
sed -i "1i pod = \"$pod\"" "$post_lua"
printf 'seeded %s routings\n' "$ROUTINGS"
printf 'RSS idle: '; rss
for c in 1 16; do
    run_wrk "GET /v1.0/pods" "$c" /v1.0/pods
    run_wrk "GET /v1.0/routings?limit=100" "$c" "/v1.0/routings?limit=100"
    run_wrk "POST /v1.0/routings" "$c" /v1.0/routings "$post_lua"
done
printf 'RSS after load: '; rss
stop_api

echo "== a routings page (limit=100, marker in the middle) over 1,000 vs 1,000,000 rows"
for n in 1000 1000000; do
    db="$work/page-$n.sqlite"
    start_api "$db"
    curl -sf "${hdr[@]}" -H 'Content-Type: application/json' -d '{"pod": {"region_name": "CentralRegion"}}' "$base/v1.0/pods" >/dev/null
    curl -sf "${hdr[@]}" -H 'Content-Type: application/json' -d '{"pod": {"region_name": "RegionOne", "az_name": "az1"}}' "$base/v1.0/pods" >/dev/null
    seed_routings "$db" "$n" "$(pod_id)"
    run_wrk "page over $n rows" 1 "/v1.0/routings?limit=100&marker=$((n / 2))"
    stop_api
done
