#!/usr/bin/env bash
# shellcheck disable=SC2317 # setup_<db> defines the per-database helpers
# Job engine benchmark: configure_route jobs posted to tricircle-api (2
# workers), cast over RabbitMQ to xjob (the testbed binary: the real service
# with a test handler), on MariaDB and PostgreSQL. Cases, per database:
#
#   flood x1, x3   JOBS no-op jobs over ROUTERS routers posted by wrk as fast
#                  as it goes, to one / three xjob processes: end-to-end
#                  jobs/s (first NEW row -> last success row) and pickup
#                  latency under the backlog
#   rate x1        RATE jobs/s offered (an open loop, post_rate.py) for
#                  RATE_SECS seconds: pickup latency at that load
#   scale x1, x3   SCALE_JOBS jobs on as many routers, each run sleeping
#                  SCALE_SLEEP_MS (200: real jobs take 0.1-1 s) in
#                  SCALE_WORKERS job loops per process, so that a process is
#                  bound by its workers, not by the 2 cores all processes
#                  share: jobs/s of three processes against one
#
# Pickup latency is from a job's NEW row (written by its POST) to the next
# RUNNING (lock) row of its router. Times come from triggers writing the
# clock into a side table on every insert into async_jobs and
# async_job_logs (the job tables store whole seconds on MySQL, and a lock
# row's time is overwritten when it finishes). Every handler run appends
# start/end lines to one file (O_APPEND) in all processes: two runs of one
# router at once would show as a start between a start and its end.
# The API and xjob log in as their own database users, so statements and
# the server's CPU are told apart (MariaDB's USER_STATISTICS,
# PostgreSQL's pg_stat_statements).
#
# DB=mariadb|postgresql (default both), CASES (default "flood1 flood3
# rate1 scale1 scale3"), JOBS, ROUTERS, CONCURRENCY, XJOB_WORKERS,
# WORKER_SLEEP_TIME, RATE, RATE_SECS, SCALE_JOBS, SCALE_SLEEP_MS,
# SCALE_WORKERS; BENCH_BINARIES=DIR runs the binaries found there instead of
# building (to compare builds).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../lib/packages.sh
source scripts/lib/packages.sh
packages_install wrk

DBS="${DB:-mariadb postgresql}"
CASES="${CASES:-flood1 flood3 rate1 scale1 scale3}"
JOBS="${JOBS:-10000}"
ROUTERS="${ROUTERS:-1000}"
CONCURRENCY="${CONCURRENCY:-16}"
PORT="${BENCH_PORT:-19898}"
# xjob's options (job loops at once per process); the reference's
# worker_sleep_time default (0.1 s after every run) caps one process at
# workers / 0.1 s jobs per second.
XJOB_WORKERS="${XJOB_WORKERS:-64}"
WORKER_SLEEP_TIME="${WORKER_SLEEP_TIME:-0}"
RATE="${RATE:-500}"
RATE_SECS="${RATE_SECS:-10}"
SCALE_JOBS="${SCALE_JOBS:-1200}"
SCALE_SLEEP_MS="${SCALE_SLEEP_MS:-200}"
SCALE_WORKERS="${SCALE_WORKERS:-16}"

# Private servers with their own state and ports (not the test suite's).
export TRICIRCLE_STATE="${BENCH_STATE:-$PWD/target/bench-services}"
export TRICIRCLE_MARIADB_PORT="${BENCH_MARIADB_PORT:-13356}"
export TRICIRCLE_PG_PORT="${BENCH_PG_PORT:-15442}"
export TRICIRCLE_RABBIT_PORT="${BENCH_RABBIT_PORT:-15693}"
export TRICIRCLE_RABBIT_DIST_PORT="${BENCH_RABBIT_DIST_PORT:-25693}"
export TRICIRCLE_RABBIT_EPMD_PORT="${BENCH_RABBIT_EPMD_PORT:-14389}"
# pg_stat_statements counts statements per user; three xjobs of the
# original engine (a pooled connection per running job) need more clients.
export TRICIRCLE_PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements -c max_connections=500"
# shellcheck source=../lib/db-servers.sh
source scripts/lib/db-servers.sh
# shellcheck source=../lib/rabbitmq.sh
source scripts/lib/rabbitmq.sh

if [[ -n "${BENCH_BINARIES:-}" ]]; then
    bin="$(cd "$BENCH_BINARIES" && pwd)"
else
    cargo build -q --release -p tricircle-cmd -p tricircle-xjob --features tricircle-xjob/testbed \
        --bin tricircle-api --bin tricircle-db-manage --bin xjob-testbed
    bin="${CARGO_TARGET_DIR:-$PWD/target}/release"
fi

work="$(mktemp -d)"
api_pid=""
xjob_pids=()
client_pid=""
started_mariadb=0
started_postgres=0
stop_xjobs() {
    local p
    for p in "${xjob_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${xjob_pids[@]}"; do wait "$p" 2>/dev/null || true; done
    xjob_pids=()
}
stop_api() {
    if [[ -n "$api_pid" ]]; then
        kill "$api_pid" 2>/dev/null || true
        wait "$api_pid" 2>/dev/null || true
    fi
    api_pid=""
}
cleanup() {
    [[ -n "$client_pid" ]] && kill "$client_pid" 2>/dev/null
    stop_xjobs
    stop_api
    rabbitmq_stop 2>/dev/null || true
    [[ "$started_mariadb" == 1 ]] && { mariadb_stop 2>/dev/null || true; }
    [[ "$started_postgres" == 1 ]] && { postgres_stop 2>/dev/null || true; }
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
        echo "logs and configuration kept in $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

db_servers_install
rabbitmq_install
rabbitmq_start
rabbit_pid="$(head -n1 "$TRICIRCLE_STATE/rabbitmq/rabbitmq.pid")"

db_name="tricircle_bench_$$"
user_pw="$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
base="http://127.0.0.1:$PORT"
hdr=(-H 'X-Role: admin' -H 'X-Tenant-Id: bench' -H 'X-User-Id: bench')

cpu_secs() {
    # utime + stime (+ reaped children's) of a process, in seconds.
    awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15 + $16 + $17) / hz}' "/proc/$1/stat" 2>/dev/null ||
        echo 0
}
# The database server's CPU: mariadbd, or the postmaster with its live
# backends (exited ones are in its children's times).
db_cpu() {
    local total p
    total="$(cpu_secs "$db_pid")"
    if [[ "$db" == postgresql ]]; then
        for p in $(pgrep -P "$db_pid"); do
            total="$(awk -v a="$total" -v b="$(cpu_secs "$p")" 'BEGIN {printf "%.2f", a + b}')"
        done
    fi
    echo "$total"
}

# --- per database -----------------------------------------------------------
# Set per database: sql (the client), q STATEMENT (on the bench database),
# epoch EXPR (seconds since 1970 of a column).
sql() { :; }
q() { :; }
epoch() { :; }
setup_mariadb() {
    mariadb_start
    started_mariadb=1
    db_pid="$(cat "$MARIADB_PID")"
    pw="$(sed -E 's#^mysql://root:([^@]*)@.*#\1#' <<<"$TRICIRCLE_TEST_MYSQL_URL")"
    sql() {
        MYSQL_PWD="$pw" mariadb --no-defaults -h127.0.0.1 -P"$TRICIRCLE_MARIADB_PORT" -uroot -N -B "$@"
    }
    q() { sql "$db_name" -e "$1"; }
    epoch() { echo "UNIX_TIMESTAMP($1)"; }
    sql -e "DROP DATABASE IF EXISTS $db_name; CREATE DATABASE $db_name CHARACTER SET utf8;
        CREATE USER IF NOT EXISTS 'bench_api'@'127.0.0.1' IDENTIFIED BY '$user_pw';
        CREATE USER IF NOT EXISTS 'bench_xjob'@'127.0.0.1' IDENTIFIED BY '$user_pw';
        ALTER USER 'bench_api'@'127.0.0.1' IDENTIFIED BY '$user_pw';
        ALTER USER 'bench_xjob'@'127.0.0.1' IDENTIFIED BY '$user_pw';
        GRANT ALL ON $db_name.* TO 'bench_api'@'127.0.0.1';
        GRANT ALL ON $db_name.* TO 'bench_xjob'@'127.0.0.1';
        SET GLOBAL userstat = 1"
    admin_url="mysql+pymysql://root:$pw@127.0.0.1:$TRICIRCLE_MARIADB_PORT/$db_name?charset=utf8"
    url_of() { echo "mysql+pymysql://$1:$user_pw@127.0.0.1:$TRICIRCLE_MARIADB_PORT/$db_name?charset=utf8"; }
    db_sync
    sql "$db_name" <<'SQL'
CREATE TABLE bench_events (kind VARCHAR(16), resource_id VARCHAR(127), ts DATETIME(6), job_id VARCHAR(36)) ENGINE=InnoDB;
CREATE TRIGGER bench_jobs AFTER INSERT ON async_jobs FOR EACH ROW
    INSERT INTO bench_events VALUES (NEW.status, NEW.resource_id, NOW(6), NEW.id);
CREATE TRIGGER bench_logs AFTER INSERT ON async_job_logs FOR EACH ROW
    INSERT INTO bench_events VALUES ('log', NEW.resource_id, NOW(6), NEW.id);
SQL
    seq_sql="SELECT CONCAT('router-', seq) AS top, CONCAT('bottom-', seq) AS bottom FROM seq_0_to_$((max_routers - 1))"
    stats_reset() { sql -e "FLUSH USER_STATISTICS"; }
    # user, statements, commits, rollbacks, server CPU seconds
    stats() {
        sql -e "SELECT USER, SELECT_COMMANDS + UPDATE_COMMANDS + OTHER_COMMANDS, COMMIT_TRANSACTIONS,
            ROLLBACK_TRANSACTIONS, ROUND(CPU_TIME, 2) FROM information_schema.USER_STATISTICS
            WHERE USER LIKE 'bench_%' ORDER BY USER"
    }
}
setup_postgresql() {
    postgres_start
    started_postgres=1
    db_pid="$(head -n1 "$POSTGRES_PID")"
    pw="$(sed -E 's#^postgresql://postgres:([^@]*)@.*#\1#' <<<"$TRICIRCLE_TEST_PG_URL")"
    sql() {
        local d=postgres
        if [[ $# -gt 0 && "$1" != -* ]]; then
            d="$1"
            shift
        fi
        PGPASSWORD="$pw" psql -X -q -h 127.0.0.1 -p "$TRICIRCLE_PG_PORT" -U postgres -d "$d" -At -F $'\t' \
            -v ON_ERROR_STOP=1 "$@"
    }
    q() { sql "$db_name" -c "$1"; }
    epoch() { echo "EXTRACT(EPOCH FROM $1)"; }
    sql -c "DROP DATABASE IF EXISTS $db_name" -c "CREATE DATABASE $db_name ENCODING 'UTF8'"
    for u in bench_api bench_xjob; do
        sql -c "DO \$\$ BEGIN CREATE ROLE $u LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" \
            -c "ALTER ROLE $u PASSWORD '$user_pw'"
    done
    admin_url="postgresql://postgres:$pw@127.0.0.1:$TRICIRCLE_PG_PORT/$db_name"
    url_of() { echo "postgresql://$1:$user_pw@127.0.0.1:$TRICIRCLE_PG_PORT/$db_name"; }
    db_sync
    sql "$db_name" <<'SQL'
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE bench_events (kind VARCHAR(16), resource_id VARCHAR(127), ts TIMESTAMP(6), job_id VARCHAR(36));
CREATE FUNCTION bench_job_event() RETURNS trigger AS $$
BEGIN INSERT INTO bench_events VALUES (NEW.status, NEW.resource_id, clock_timestamp(), NEW.id); RETURN NULL; END
$$ LANGUAGE plpgsql;
CREATE FUNCTION bench_log_event() RETURNS trigger AS $$
BEGIN INSERT INTO bench_events VALUES ('log', NEW.resource_id, clock_timestamp(), NEW.id); RETURN NULL; END
$$ LANGUAGE plpgsql;
CREATE TRIGGER bench_jobs AFTER INSERT ON async_jobs FOR EACH ROW EXECUTE FUNCTION bench_job_event();
CREATE TRIGGER bench_logs AFTER INSERT ON async_job_logs FOR EACH ROW EXECUTE FUNCTION bench_log_event();
GRANT ALL ON ALL TABLES IN SCHEMA public TO bench_api, bench_xjob;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO bench_api, bench_xjob;
SQL
    seq_sql="SELECT 'router-' || s AS top, 'bottom-' || s AS bottom FROM generate_series(0, $((max_routers - 1))) s"
    stats_reset() { q "SELECT pg_stat_statements_reset()" >/dev/null; }
    # user, statements, commits, rollbacks, server CPU seconds (not known per user: -)
    stats() {
        q "SELECT r.rolname, SUM(s.calls),
            SUM(s.calls) FILTER (WHERE s.query ILIKE 'commit%'),
            SUM(s.calls) FILTER (WHERE s.query ILIKE 'rollback%'),
            ROUND(SUM(s.total_exec_time)::numeric / 1000, 2)
            FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
            WHERE r.rolname LIKE 'bench_%' GROUP BY r.rolname ORDER BY r.rolname"
    }
    # Where the server's time goes: the costliest statements per user.
    top_statements() {
        q "SELECT r.rolname, s.calls, ROUND(s.total_exec_time::numeric, 1), s.rows,
            LEFT(REGEXP_REPLACE(s.query, '\s+', ' ', 'g'), 110)
            FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
            WHERE r.rolname LIKE 'bench_%' ORDER BY s.total_exec_time DESC LIMIT ${TOP_STATEMENTS:-6}" |
            awk -F'\t' '{printf "    %s: %s calls, %s ms, %s rows: %s\n", $1, $2, $3, $4, $5}'
    }
}
db_sync() {
    (
        umask 077
        printf '[DEFAULT]\ntricircle_db_connection = %s\n' "$admin_url" >"$work/admin.conf"
    )
    "$bin/tricircle-db-manage" --config-file "$work/admin.conf" db_sync 2>/dev/null
}

start_api() {
    (
        umask 077
        cat >"$work/api.conf" <<CONF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $PORT
auth_strategy = noauth
api_workers = 2
tricircle_db_connection = $(url_of bench_api)
transport_url = $TRICIRCLE_TEST_RABBIT_URL
[database]
max_pool_size = 32
CONF
    )
    RUST_LOG=warn "$bin/tricircle-api" --config-file "$work/api.conf" 2>"$work/api-$db.log" &
    api_pid=$!
    for _ in $(seq 100); do
        curl -sf "$base/" >/dev/null && break
        sleep 0.1
    done
    curl -sf "$base/" >/dev/null || {
        echo "the API did not start:" >&2
        cat "$work/api-$db.log" >&2
        exit 1
    }
    # configure_route needs its router routed in the project.
    curl -sf "${hdr[@]}" -H 'Content-Type: application/json' -d '{"pod": {"region_name": "CentralRegion"}}' \
        "$base/v1.0/pods" >/dev/null
    local pod
    pod="$(curl -sf "${hdr[@]}" -H 'Content-Type: application/json' \
        -d '{"pod": {"region_name": "RegionOne", "az_name": "az1"}}' "$base/v1.0/pods" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["pod"]["pod_id"])')"
    sql "$db_name" <<SQL
INSERT INTO resource_routings (top_id, bottom_id, pod_id, project_id, resource_type, created_at)
    SELECT r.top, r.bottom, '$pod', 'bench', 'router', CURRENT_TIMESTAMP FROM ($seq_sql) AS r;
SQL
}

# xjob-testbed processes: start_xjobs N WORKERS SLEEP_MS [EXECUTOR_POOL]
# (job loops at once per process: workers x executor_thread_pool_size, at
# most 1,024; the pool's default is 64)
start_xjobs() {
    local n="$1" workers="$2" sleep_ms="$3" executor="${4:-64}" i
    for ((i = 1; i <= n; i++)); do
        (
            umask 077
            cat >"$work/xjob$i.conf" <<CONF
[DEFAULT]
host = bench-xjob-$i
tricircle_db_connection = $(url_of bench_xjob)
transport_url = $TRICIRCLE_TEST_RABBIT_URL
workers = $workers
executor_thread_pool_size = $executor
worker_sleep_time = $WORKER_SLEEP_TIME
periodic_interval = 5
periodic_fuzzy_delay = 0
[database]
max_pool_size = $((workers + 8))
CONF
        )
        RUST_LOG=warn,tricircle_rpc=info "$bin/xjob-testbed" --config-file "$work/xjob$i.conf" \
            --sleep-ms "$sleep_ms" --record "$work/runs.txt" 2>"$work/xjob-$db-$case_tag-$i.log" &
        xjob_pids+=($!)
    done
    # The consumers declare their queues in the background; casts sent
    # before would only reach the periodic task.
    for ((i = 1; i <= n; i++)); do
        for _ in $(seq 300); do
            grep -q 'RPC consumer ready' "$work/xjob-$db-$case_tag-$i.log" && break
            sleep 0.1
        done
        grep -q 'RPC consumer ready' "$work/xjob-$db-$case_tag-$i.log" || {
            echo "xjob $i did not start consuming:" >&2
            cat "$work/xjob-$db-$case_tag-$i.log" >&2
            exit 1
        }
    done
}

rss() {
    awk '/VmRSS|VmHWM/ {printf "%s %s %s  ", $1, $2, $3}' "/proc/$1/status"
}

# wrk posting exactly $1 jobs over $2 routers, then cheap GETs until stopped.
write_wrk_script() {
    local jobs="$1" routers="$2" threads=2
    cat >"$work/post.lua" <<LUA
local per_thread = $jobs / $threads
local routers = $routers
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
}

posted() { q "SELECT COUNT(*) FROM bench_events WHERE kind = '3_New'"; }

# run_case NAME KIND(flood|rate) XJOBS WORKERS SLEEP_MS JOBS ROUTERS [EXECUTOR_POOL]
run_case() {
    local name="$1" kind="$2" n="$3" workers="$4" sleep_ms="$5" jobs="$6" routers="$7" executor="${8:-64}"
    case_tag="${name// /}"
    for t in async_jobs async_job_logs async_job_failures bench_events; do q "DELETE FROM $t"; done
    rm -f "$work/runs.txt"
    start_xjobs "$n" "$workers" "$sleep_ms" "$executor"
    local loops=$((workers * executor))
    [[ "$loops" -gt 1024 ]] && loops=1024
    echo "== $db, $name: $jobs jobs over $routers routers, $n xjob process(es)" \
        "($loops job loops each, handler sleeps $sleep_ms ms), load $(cut -d' ' -f1-3 /proc/loadavg)"
    stats_reset
    local p cpu_api cpu_db cpu_rabbit cpu_xjob=0
    cpu_api="$(cpu_secs "$api_pid")"
    cpu_db="$(db_cpu)"
    cpu_rabbit="$(cpu_secs "$rabbit_pid")"
    for p in "${xjob_pids[@]}"; do cpu_xjob="$(awk -v a="$cpu_xjob" -v b="$(cpu_secs "$p")" 'BEGIN {print a + b}')"; done
    local t0
    t0="$(date +%s.%N)"
    if [[ "$kind" == flood ]]; then
        write_wrk_script "$jobs" "$routers"
        # wrk runs for a fixed time; it is stopped once every job is posted.
        wrk -t2 -c"$CONCURRENCY" -d600s --latency "${hdr[@]}" -s "$work/post.lua" "$base/v1.0/jobs" \
            >"$work/wrk.txt" &
        client_pid=$!
        # Until every job is posted, or (wrk may lose a request when
        # stopping a connection) until the count stops growing.
        local last=-1 still=0 c
        for _ in $(seq 6000); do
            c="$(posted)"
            [[ "$c" -ge "$jobs" ]] && break
            if [[ "$c" == "$last" && "$c" -gt 0 ]]; then
                still=$((still + 1))
                [[ "$still" -ge 20 ]] && break
            else
                still=0
            fi
            last="$c"
            sleep 0.1
        done
        kill -INT "$client_pid" 2>/dev/null || true
        wait "$client_pid" || true
        client_pid=""
        awk '/50%|99%/' "$work/wrk.txt" | sed 's/^ */  POST latency (wrk): /'
    else
        python3 scripts/bench.d/post_rate.py "$base" "$RATE" "$jobs" "$routers"
    fi
    local open
    for _ in $(seq 1200); do
        open="$(q 'SELECT COUNT(*) FROM async_jobs')"
        [[ "$open" == 0 ]] && break
        sleep 0.25
    done
    local elapsed
    elapsed="$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')"
    printf '  CPU seconds (%s s wall):' "$elapsed"
    local now_x=0
    for p in "${xjob_pids[@]}"; do now_x="$(awk -v a="$now_x" -v b="$(cpu_secs "$p")" 'BEGIN {print a + b}')"; done
    awk -v a="$(cpu_secs "$api_pid")" -v a0="$cpu_api" -v x="$now_x" -v x0="$cpu_xjob" \
        -v d="$(db_cpu)" -v d0="$cpu_db" -v r="$(cpu_secs "$rabbit_pid")" -v r0="$cpu_rabbit" -v db="$db" \
        'BEGIN {printf " api %.1f, xjob %.1f, %s %.1f, rabbitmq %.1f\n", a - a0, x - x0, db, d - d0, r - r0}'
    printf '  xjob RSS: '
    for p in "${xjob_pids[@]}"; do rss "$p"; done
    echo
    local c
    c="$(posted)"
    [[ "$c" == "$jobs" ]] || echo "  WARNING: $c jobs posted, not $jobs" >&2
    [[ "$open" == 0 ]] || echo "  WARNING: $open job rows still open" >&2
    stats >"$work/stats.txt"
    if [[ "$db" == postgresql ]]; then
        echo "  costliest statements (pg_stat_statements):"
        top_statements
    fi
    stop_xjobs
    q "SELECT kind, resource_id, $(epoch ts) FROM bench_events ORDER BY ts" |
        python3 scripts/bench.d/jobs_figures.py "$db" "$name" "$work/stats.txt" "$work/runs.txt" \
            "$work/summary.txt"
}

for db in $DBS; do
    case "$db" in
    mariadb | postgresql) ;;
    *)
        echo "DB must be mariadb or postgresql, not $db" >&2
        exit 2
        ;;
    esac
    max_routers="$ROUTERS"
    [[ "$SCALE_JOBS" -gt "$max_routers" ]] && max_routers="$SCALE_JOBS"
    "setup_$db"
    start_api
    for c in $CASES; do
        case "$c" in
        flood1) run_case "flood x1" flood 1 "$XJOB_WORKERS" 0 "$JOBS" "$ROUTERS" ;;
        flood3) run_case "flood x3" flood 3 "$XJOB_WORKERS" 0 "$JOBS" "$ROUTERS" ;;
        rate1) run_case "rate x1" rate 1 "$XJOB_WORKERS" 0 "$((RATE * RATE_SECS))" "$ROUTERS" ;;
        scale1) run_case "scale x1" flood 1 "$SCALE_WORKERS" "$SCALE_SLEEP_MS" "$SCALE_JOBS" "$SCALE_JOBS" 1 ;;
        scale3) run_case "scale x3" flood 3 "$SCALE_WORKERS" "$SCALE_SLEEP_MS" "$SCALE_JOBS" "$SCALE_JOBS" 1 ;;
        *)
            echo "unknown case $c (flood1 flood3 rate1 scale1 scale3)" >&2
            exit 2
            ;;
        esac
    done
    stop_api
    if [[ "$db" == mariadb ]]; then
        mariadb_stop
        started_mariadb=0
    else
        postgres_stop
        started_postgres=0
    fi
done

echo
echo "== aims (issue 11): >= 2,000 no-op jobs/s end to end on each database;" \
    "pickup p99 < 50 ms at $RATE jobs/s offered; 3 xjob processes >= 2.5x one; no overlapping runs"
python3 scripts/bench.d/jobs_figures.py --summary "$work/summary.txt"
