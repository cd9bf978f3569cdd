#!/usr/bin/env bash
# Job engine benchmark: $JOBS configure_route jobs over $ROUTERS routers
# posted to tricircle-api (wrk), cast over RabbitMQ to one xjob process (the
# testbed binary: the real service with a no-op handler), on MariaDB.
# Prints end-to-end jobs/s (first NEW row -> last success row), the latency
# from a job's NEW row (written by its POST) to the next RUNNING (lock) row
# of its router, and xjob's RSS.
#
# Times come from triggers writing NOW(6) into a side table on every insert
# into async_jobs and async_job_logs (the job tables store whole seconds on
# MySQL, and the lock row's time is overwritten when it finishes).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../lib/packages.sh
source scripts/lib/packages.sh
packages_install wrk

JOBS="${JOBS:-10000}"
ROUTERS="${ROUTERS:-1000}"
CONCURRENCY="${CONCURRENCY:-16}"
PORT="${BENCH_PORT:-19898}"
# xjob's options; the reference's worker_sleep_time default (0.1 s after
# every run) caps one process at workers / 0.1 s jobs per second.
XJOB_WORKERS="${XJOB_WORKERS:-64}"
WORKER_SLEEP_TIME="${WORKER_SLEEP_TIME:-0}"

# Private servers with their own state and ports (not the test suite's).
export TRICIRCLE_STATE="${BENCH_STATE:-$PWD/target/bench-services}"
export TRICIRCLE_MARIADB_PORT="${BENCH_MARIADB_PORT:-13356}"
export TRICIRCLE_RABBIT_PORT="${BENCH_RABBIT_PORT:-15693}"
export TRICIRCLE_RABBIT_DIST_PORT="${BENCH_RABBIT_DIST_PORT:-25693}"
export TRICIRCLE_RABBIT_EPMD_PORT="${BENCH_RABBIT_EPMD_PORT:-14389}"
# shellcheck source=../lib/db-servers.sh
source scripts/lib/db-servers.sh
# shellcheck source=../lib/rabbitmq.sh
source scripts/lib/rabbitmq.sh

cargo build -q --release -p tricircle-cmd -p tricircle-xjob --features tricircle-xjob/testbed \
    --bin tricircle-api --bin tricircle-db-manage --bin xjob-testbed

work="$(mktemp -d)"
api_pid=""
xjob_pid=""
cleanup() {
    [[ -n "$xjob_pid" ]] && kill "$xjob_pid" 2>/dev/null && wait "$xjob_pid" 2>/dev/null
    [[ -n "$api_pid" ]] && kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null
    rabbitmq_stop 2>/dev/null || true
    mariadb_stop 2>/dev/null || true
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
        echo "logs and configuration kept in $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

db_servers_install
rabbitmq_install
mariadb_start
rabbitmq_start

# mysql://root:<pw>@127.0.0.1:<port>/ from mariadb_start.
db_pw="$(sed -E 's#^mysql://root:([^@]*)@.*#\1#' <<<"$TRICIRCLE_TEST_MYSQL_URL")"
db_name="tricircle_bench_$$"
sql() {
    MYSQL_PWD="$db_pw" mariadb --no-defaults -h127.0.0.1 -P"$TRICIRCLE_MARIADB_PORT" -uroot \
        -N -B "$@"
}
sql -e "DROP DATABASE IF EXISTS $db_name; CREATE DATABASE $db_name CHARACTER SET utf8"
db_url="mysql+pymysql://root:$db_pw@127.0.0.1:$TRICIRCLE_MARIADB_PORT/$db_name?charset=utf8"

(
    umask 077
    cat >"$work/api.conf" <<CONF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $PORT
auth_strategy = noauth
api_workers = 2
tricircle_db_connection = $db_url
transport_url = $TRICIRCLE_TEST_RABBIT_URL
[database]
max_pool_size = 32
CONF
    cat >"$work/xjob.conf" <<CONF
[DEFAULT]
host = bench-xjob
tricircle_db_connection = $db_url
transport_url = $TRICIRCLE_TEST_RABBIT_URL
workers = $XJOB_WORKERS
worker_sleep_time = $WORKER_SLEEP_TIME
periodic_interval = 5
periodic_fuzzy_delay = 0
[database]
max_pool_size = $((XJOB_WORKERS + 8))
CONF
)
target/release/tricircle-db-manage --config-file "$work/api.conf" db_sync 2>/dev/null

# Insert times at microsecond precision, for the figures only.
sql "$db_name" <<'SQL'
CREATE TABLE bench_events (kind VARCHAR(16), resource_id VARCHAR(127), ts DATETIME(6)) ENGINE=InnoDB;
CREATE TRIGGER bench_jobs AFTER INSERT ON async_jobs FOR EACH ROW
    INSERT INTO bench_events VALUES (NEW.status, NEW.resource_id, NOW(6));
CREATE TRIGGER bench_logs AFTER INSERT ON async_job_logs FOR EACH ROW
    INSERT INTO bench_events VALUES ('log', NEW.resource_id, NOW(6));
SQL

base="http://127.0.0.1:$PORT"
hdr=(-H 'X-Role: admin' -H 'X-Tenant-Id: bench' -H 'X-User-Id: bench')
RUST_LOG=warn target/release/tricircle-api --config-file "$work/api.conf" 2>"$work/api.log" &
api_pid=$!
for _ in $(seq 100); do
    curl -sf "$base/" >/dev/null && break
    sleep 0.1
done
curl -sf "$base/" >/dev/null || {
    echo "the API did not start:" >&2
    cat "$work/api.log" >&2
    exit 1
}

# configure_route needs its router routed in the project.
curl -sf "${hdr[@]}" -H 'Content-Type: application/json' -d '{"pod": {"region_name": "CentralRegion"}}' "$base/v1.0/pods" >/dev/null
pod="$(curl -sf "${hdr[@]}" -H 'Content-Type: application/json' \
    -d '{"pod": {"region_name": "RegionOne", "az_name": "az1"}}' "$base/v1.0/pods" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["pod"]["pod_id"])')"
sql "$db_name" -e "INSERT INTO resource_routings (top_id, bottom_id, pod_id, project_id, resource_type, created_at)
    SELECT CONCAT('router-', seq), CONCAT('bottom-', seq), '$pod', 'bench', 'router', NOW()
    FROM seq_0_to_$((ROUTERS - 1))"

RUST_LOG=warn,tricircle_rpc=info target/release/xjob-testbed --config-file "$work/xjob.conf" 2>"$work/xjob.log" &
xjob_pid=$!
# The consumer declares its queues in the background; casts sent before
# would only reach the periodic task.
for _ in $(seq 300); do
    grep -q 'RPC consumer ready' "$work/xjob.log" && break
    sleep 0.1
done
grep -q 'RPC consumer ready' "$work/xjob.log" || {
    echo "xjob did not start consuming:" >&2
    cat "$work/xjob.log" >&2
    exit 1
}
rss() {
    awk '/VmRSS|VmHWM/ {printf "%s %s %s  ", $1, $2, $3}' "/proc/$1/status"
    echo
}
printf 'xjob RSS idle: '; rss "$xjob_pid"

threads=2
cat >"$work/post.lua" <<LUA
-- Exactly $JOBS POSTs, router (job index mod $ROUTERS); then cheap GETs
-- until the script stops wrk.
local per_thread = $JOBS / $threads
local routers = $ROUTERS
local threads = $threads
LUA
cat >>"$work/post.lua" <<'LUA'
local counter = 0
local n = 0
setup = function(thread)
    n = n + 1
    thread:set("tid", n)
end
request = function()
    if counter >= per_thread then
        return wrk.format("GET", "/")
    end
    counter = counter + 1
    local i = (counter - 1) * threads + (tid - 1)
    local headers = {}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    headers["Content-Type"] = "application/json"
    local body = string.format(
        '{"job": {"type": "configure_route", "project_id": "bench", ' ..
        '"resource": {"router_id": "router-%d"}}}', i % routers)
    return wrk.format("POST", "/v1.0/jobs", headers, body)
end
LUA

echo "== $JOBS jobs over $ROUTERS routers: tricircle-api (2 workers) -> RabbitMQ -> xjob" \
    "(workers = $XJOB_WORKERS, worker_sleep_time = $WORKER_SLEEP_TIME), MariaDB, $(nproc) cores"
cpu_secs() {
    # utime + stime of a process, in seconds.
    awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$1/stat"
}
mariadb_pid="$(cat "$MARIADB_PID")"
rabbit_pid="$(head -n1 "$TRICIRCLE_STATE/rabbitmq/rabbitmq.pid")"
declare -A cpu0
for p in "$api_pid" "$xjob_pid" "$mariadb_pid" "$rabbit_pid"; do cpu0[$p]="$(cpu_secs "$p")"; done
# wrk runs for a fixed time; it is stopped once every job is posted.
wrk -t"$threads" -c"$CONCURRENCY" -d600s --latency "${hdr[@]}" -s "$work/post.lua" "$base/v1.0/jobs" >"$work/wrk.txt" &
wrk_pid=$!
# Until every job is posted, or (wrk may lose a request when stopping a
# connection) until the count stops growing.
last=-1
still=0
for _ in $(seq 6000); do
    n="$(sql "$db_name" -e "SELECT COUNT(*) FROM bench_events WHERE kind = '3_New'")"
    [[ "$n" -ge "$JOBS" ]] && break
    if [[ "$n" == "$last" && "$n" -gt 0 ]]; then
        still=$((still + 1))
        [[ "$still" -ge 20 ]] && break
    else
        still=0
    fi
    last="$n"
    sleep 0.1
done
kill -INT "$wrk_pid" 2>/dev/null || true
wait "$wrk_pid" || true
awk '/50%|99%/' "$work/wrk.txt" | sed 's/^ */  POST latency (wrk): /'

for _ in $(seq 600); do
    open="$(sql "$db_name" -e 'SELECT COUNT(*) FROM async_jobs')"
    [[ "$open" == 0 ]] && break
    sleep 0.5
done
printf 'xjob RSS after the run: '; rss "$xjob_pid"
printf '  CPU seconds during the run:'
for p in "$api_pid" "$xjob_pid" "$mariadb_pid" "$rabbit_pid"; do
    case "$p" in "$api_pid") n=api ;; "$xjob_pid") n=xjob ;; "$mariadb_pid") n=mariadb ;; *) n=rabbitmq ;; esac
    awk -v n="$n" -v a="$(cpu_secs "$p")" -v b="${cpu0[$p]}" 'BEGIN {printf " %s %.1f", n, a - b}'
done
echo
posted="$(sql "$db_name" -e "SELECT COUNT(*) FROM bench_events WHERE kind = '3_New'")"
[[ "$posted" == "$JOBS" ]] || echo "WARNING: $posted jobs posted, not $JOBS" >&2
[[ "$open" == 0 ]] || echo "WARNING: $open job rows still open" >&2

sql "$db_name" -e "SELECT kind, resource_id, UNIX_TIMESTAMP(ts) FROM bench_events ORDER BY ts" |
    python3 -c '
import sys
from collections import defaultdict
new, running, logs = [], defaultdict(list), []
for line in sys.stdin:
    kind, rid, ts = line.split("\t")
    ts = float(ts)
    if kind == "3_New":
        new.append((rid, ts))
    elif kind == "2_Running":
        running[rid].append(ts)
    elif kind == "log":
        logs.append(ts)
first, last = min(t for _, t in new), max(logs)
print(f"  {len(new)} jobs in {last - first:.2f} s (first NEW row -> last success row): "
      f"{len(new) / (last - first):,.0f} jobs/s; {sum(len(v) for v in running.values())} handler runs, "
      f"{len(logs)} success rows")
import bisect
lat, unserved = [], 0
for rid, t in new:
    runs = running[rid]
    i = bisect.bisect_left(runs, t)
    if i < len(runs):
        lat.append(runs[i] - t)
    else:
        unserved += 1
lat.sort()
pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
print(f"  NEW -> next RUNNING of the router: p50 {pct(0.50):.1f} ms, p99 {pct(0.99):.1f} ms, "
      f"max {lat[-1] * 1000:.1f} ms ({unserved} jobs served by a run that started before them)")
'
