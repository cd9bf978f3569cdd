#!/usr/bin/env bash
# Admin API benchmark: GET /v1.0/pods, GET /v1.0/routings?limit=100 and
# POST /v1.0/routings, each at concurrency 1 and 16, with 1 and with 2 API
# workers, over each routings table size in ROUTINGS; the API's RSS idle,
# right after the load and once settled; and the cost of a routings page
# over 1,000 vs 1,000,000 rows. Issue 11's aims (every list page at least
# 100 times the original's, which one worker answered at 98 req/s for the
# pods and 62 for a 100-row routings page over 10,000 rows; p99 under 5 ms;
# RSS after load under 17 MiB) are printed next to their figures.
# BIN_DIR runs binaries built elsewhere instead of building this tree.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../lib/packages.sh
source scripts/lib/packages.sh
packages_install wrk

DURATION="${DURATION:-10}"
ROUTINGS="${ROUTINGS:-10000 100000}"
WORKERS="${WORKERS:-1 2}"
PORT="${BENCH_PORT:-19899}"
# Issue 11's aims.
AIM_PODS_RPS=9800
AIM_PAGE_RPS=6000
AIM_P99_MS=5
AIM_RSS_MIB=17
# BIN_DIR: binaries built elsewhere (another commit's, to compare).
if [[ -n "${BIN_DIR:-}" ]]; then
    bin="$BIN_DIR"
else
    cargo build -q --release --bin tricircle-api --bin tricircle-db-manage
    bin="${CARGO_TARGET_DIR:-target}/release"
fi

work="$(mktemp -d)"
api_pid=""
cleanup() {
    [[ -n "$api_pid" ]] && kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

base="http://127.0.0.1:$PORT"
hdr=(-H 'X-Role: admin' -H 'X-Tenant-Id: bench' -H 'X-User-Id: bench')

# start_api DBFILE WORKERS: a fresh API over the given SQLite file.
start_api() {
    local db="$1" workers="$2"
    cat >"$work/api.conf" <<CONF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $PORT
auth_strategy = noauth
api_workers = $workers
tricircle_db_connection = sqlite:///$db
CONF
    "$bin/tricircle-db-manage" --config-file "$work/api.conf" db_sync 2>/dev/null
    RUST_LOG=warn "$bin/tricircle-api" --config-file "$work/api.conf" 2>"$work/api.log" &
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

add_pods() {
    curl -sf "${hdr[@]}" -H 'Content-Type: application/json' -d '{"pod": {"region_name": "CentralRegion"}}' "$base/v1.0/pods" >/dev/null
    curl -sf "${hdr[@]}" -H 'Content-Type: application/json' -d '{"pod": {"region_name": "RegionOne", "az_name": "az1"}}' "$base/v1.0/pods" >/dev/null
}

pod_id() {
    curl -sf "${hdr[@]}" "$base/v1.0/pods" | python3 -c \
        'import json,sys; print([p["pod_id"] for p in json.load(sys.stdin)["pods"] if p["az_name"]][0])'
}

# run_wrk LABEL CONCURRENCY PATH [LUA [MIN_RPS]]: one line of figures; with
# MIN_RPS, the aims (MIN_RPS req/s, p99 under AIM_P99_MS) beside them.
run_wrk() {
    local label="$1" c="$2" path="$3" lua="${4:-}" min_rps="${5:-}"
    local threads=$((c < 2 ? 1 : 2))
    local args=(-t"$threads" -c"$c" -d"${DURATION}s" --latency "${hdr[@]}")
    [[ -n "$lua" ]] && args+=(-s "$lua")
    local out
    out="$(wrk "${args[@]}" "$base$path")"
    local rps p50 p99 errors aim=""
    rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    errors="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
    if [[ -n "$min_rps" ]]; then
        aim="$(awk -v rps="$rps" -v p99="$p99" -v min="$min_rps" -v max_ms="$AIM_P99_MS" 'BEGIN {
            ms = p99 + 0
            if (p99 ~ /us$/) ms /= 1000; else if (p99 ~ /[0-9]s$/ && p99 !~ /ms$/) ms *= 1000
            printf "   aim >= %d req/s: %s, p99 < %d ms: %s", min, (rps + 0 >= min ? "met" : "NOT met"),
                max_ms, (ms < max_ms ? "met" : "NOT met")
        }')"
    fi
    printf '%-34s c=%-3s %10s req/s   p50 %-9s p99 %-9s%s%s\n' \
        "$label" "$c" "$rps" "$p50" "$p99" "${errors:+  non-2xx: $errors}" "$aim"
}

# rss LABEL [AIM]: the API's resident memory (its workers are threads of
# one process), the anonymous part (its own heap and stacks) beside it.
rss() {
    local label="$1" aim="${2:-}"
    awk -v label="$label" -v aim="$aim" '
        /^VmRSS/ {rss = $2} /^RssAnon/ {anon = $2} /^RssFile/ {file = $2} /^Threads/ {threads = $2}
        END {
            printf "%-34s %6.1f MiB (heap and stacks %.1f, mapped code %.1f), %d threads", label, rss / 1024, anon / 1024, file / 1024, threads
            if (aim != "") printf "   aim < %d MiB: %s", aim, (rss / 1024 < aim ? "met" : "NOT met")
            printf "\n"
        }' "/proc/$api_pid/status"
}

post_lua="$work/post.lua"
write_post_lua() {
    cat >"$post_lua" <<LUA
pod = "$1"
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
}

echo "== tricircle-api on SQLite, wrk on loopback, ${DURATION}s per run, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for workers in $WORKERS; do
    for rows in $ROUTINGS; do
        echo "-- $workers API worker(s), $rows routings"
        db="$work/main-$workers-$rows.sqlite"
        start_api "$db" "$workers"
        add_pods
        pod="$(pod_id)"
        seed_routings "$db" "$rows" "$pod"
        write_post_lua "$pod"
        rss "RSS idle"
        # The aims are for one worker; two are shown for comparison.
        pods_aim="" page_aim=""
        [[ "$workers" == 1 ]] && pods_aim="$AIM_PODS_RPS" page_aim="$AIM_PAGE_RPS"
        for c in 1 16; do
            run_wrk "GET /v1.0/pods" "$c" /v1.0/pods "" "$([[ $c == 16 ]] && echo "$pods_aim")"
            run_wrk "GET /v1.0/routings?limit=100" "$c" "/v1.0/routings?limit=100" "" "$([[ $c == 16 ]] && echo "$page_aim")"
        done
        rss "RSS after the GET load" "$([[ $workers == 1 ]] && echo "$AIM_RSS_MIB")"
        for c in 1 16; do
            run_wrk "POST /v1.0/routings" "$c" /v1.0/routings "$post_lua"
        done
        rss "RSS after the POST load"
        # Idle database threads end 10 s after their last task; the heap
        # is trimmed after connections close and once more after that.
        sleep 20
        rss "RSS settled (20 s later)"
        stop_api
    done
done

echo "== a routings page (limit=100, marker in the middle) over 1,000 vs 1,000,000 rows, 1 worker"
for n in 1000 1000000; do
    db="$work/page-$n.sqlite"
    start_api "$db" 1
    add_pods
    seed_routings "$db" "$n" "$(pod_id)"
    run_wrk "page over $n rows" 1 "/v1.0/routings?limit=100&marker=$((n / 2))"
    stop_api
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
