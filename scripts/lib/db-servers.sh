# shellcheck shell=bash
# Private MariaDB and PostgreSQL servers for the test suite.
#
# Source this file, then call:
#   db_servers_install   install the server and client-library packages that
#                        are missing (Debian, as root; daemons are not started)
#   mariadb_start        start (or reuse) MariaDB on 127.0.0.1:$TRICIRCLE_MARIADB_PORT
#                        and export TRICIRCLE_TEST_MYSQL_URL
#   postgres_start       start (or reuse) PostgreSQL on 127.0.0.1:$TRICIRCLE_PG_PORT
#                        and export TRICIRCLE_TEST_PG_URL (TRICIRCLE_PG_OPTIONS:
#                        more server options, e.g. "-c shared_preload_libraries=...")
#   mariadb_stop / postgres_stop   stop the server started from this state dir
#
# Each server keeps its data, socket, pid and log files under
# ${TRICIRCLE_STATE:-$PWD/target/test-services}/{mariadb,postgres}; nothing
# touches the system's own instances, no systemd or docker is needed.

# shellcheck source=packages.sh
source "$(dirname "${BASH_SOURCE[0]}")/packages.sh"

TRICIRCLE_MARIADB_PORT="${TRICIRCLE_MARIADB_PORT:-13306}"
TRICIRCLE_PG_PORT="${TRICIRCLE_PG_PORT:-15432}"

_dbs_log() { echo "db-servers: $*" >&2; }

_dbs_is_root() { [[ "$(id -u)" == 0 ]]; }

# The state dir, made absolute. The service users must be able to reach it:
# when running as root from a directory they cannot traverse (e.g. under
# /root), fall back to a per-checkout directory under /var/tmp.
_dbs_state() {
    local state="${TRICIRCLE_STATE:-$PWD/target/test-services}"
    mkdir -p "$state"
    state="$(cd "$state" && pwd)"
    chmod 755 "$state"
    if _dbs_is_root; then
        local user
        for user in mysql postgres; do
            if id "$user" >/dev/null 2>&1 && ! runuser -u "$user" -- test -x "$state"; then
                local alt
                alt="/var/tmp/tricircle-test-services/$(printf '%s' "$state" | md5sum | cut -c1-12)"
                mkdir -p "$alt"
                chmod 755 /var/tmp/tricircle-test-services "$alt"
                _dbs_log "$user cannot reach $state; using $alt"
                state="$alt"
                break
            fi
        done
    fi
    printf '%s\n' "$state"
}

# A random password, created once per state dir and reused afterwards.
_dbs_password() {
    local file="$1"
    if [[ ! -s "$file" ]]; then
        (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$file")
    fi
    cat "$file"
}

# Run a command as the given service user when we are root.
_dbs_as() {
    local user="$1"
    shift
    if _dbs_is_root; then
        # From "/": the service user may not be allowed into the current dir.
        (cd / && runuser -u "$user" -- "$@")
    else
        "$@"
    fi
}

# Fails, naming the variable to change, when a process that is not ours
# listens on PORT (a server left by another checkout would answer our
# readiness probe and be taken for ours).
_dbs_port_free() {
    local port="$1" var="$2" what="$3"
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        _dbs_log "port $port is taken by another process; stop it or set $var for $what"
        return 1
    fi
}

_dbs_pid_alive() {
    local pidfile="$1" pid
    [[ -s "$pidfile" ]] || return 1
    pid="$(head -n1 "$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

_dbs_stop_pid() {
    local name="$1" pidfile="$2" pid i
    if ! _dbs_pid_alive "$pidfile"; then
        _dbs_log "$name is not running"
        return 0
    fi
    pid="$(head -n1 "$pidfile")"
    kill -TERM "$pid"
    for ((i = 0; i < 120; i++)); do
        kill -0 "$pid" 2>/dev/null || {
            _dbs_log "$name (pid $pid) stopped"
            return 0
        }
        sleep 0.5
    done
    _dbs_log "$name (pid $pid) did not stop within 60s"
    return 1
}

db_servers_install() {
    packages_install_build && packages_install mariadb-server postgresql
}

_mariadb_dirs() {
    MARIADB_STATE="$(_dbs_state)/mariadb"
    MARIADB_DATA="$MARIADB_STATE/data"
    MARIADB_PID="$MARIADB_STATE/mariadbd.pid"
    MARIADB_LOG="$MARIADB_STATE/mariadbd.log"
    MARIADB_SOCK="$MARIADB_STATE/mariadbd.sock"
    # Unix socket paths are limited to ~107 bytes.
    if ((${#MARIADB_SOCK} > 100)); then
        MARIADB_SOCK="/tmp/tricircle-mariadb-$(id -u)-$TRICIRCLE_MARIADB_PORT.sock"
    fi
}

mariadb_start() {
    _mariadb_dirs
    local user pw bin
    user="$(id -un)"
    _dbs_is_root && user=mysql
    mkdir -p "$MARIADB_STATE"
    pw="$(_dbs_password "$MARIADB_STATE/password")"
    export TRICIRCLE_TEST_MYSQL_URL="mysql://root:$pw@127.0.0.1:$TRICIRCLE_MARIADB_PORT/"
    # `status` logs in (`ping` also succeeds on an access denied): only our
    # server, with our password, counts as running.
    if _dbs_pid_alive "$MARIADB_PID" &&
        MYSQL_PWD="$pw" mariadb-admin --no-defaults -h127.0.0.1 -P"$TRICIRCLE_MARIADB_PORT" -uroot status >/dev/null 2>&1; then
        _dbs_log "MariaDB already running on 127.0.0.1:$TRICIRCLE_MARIADB_PORT"
        return 0
    fi
    _dbs_port_free "$TRICIRCLE_MARIADB_PORT" TRICIRCLE_MARIADB_PORT MariaDB || return 1
    bin="$(command -v mariadbd || echo /usr/sbin/mariadbd)"
    if [[ ! -d "$MARIADB_DATA/mysql" ]]; then
        _dbs_log "initialising MariaDB data dir $MARIADB_DATA"
        rm -rf "$MARIADB_DATA"
        mkdir -p "$MARIADB_DATA"
        _dbs_is_root && chown -R mysql:mysql "$MARIADB_STATE"
        mariadb-install-db --no-defaults --datadir="$MARIADB_DATA" --user="$user" \
            --auth-root-authentication-method=normal --skip-test-db \
            >"$MARIADB_STATE/install.log" 2>&1 || {
            _dbs_log "mariadb-install-db failed; see $MARIADB_STATE/install.log"
            return 1
        }
    fi
    # Runs at every start, so the TCP root account always matches the
    # password file.
    cat >"$MARIADB_STATE/init.sql" <<SQL
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
SQL
    chmod 600 "$MARIADB_STATE/init.sql"
    _dbs_is_root && chown -R mysql:mysql "$MARIADB_STATE"
    rm -f "$MARIADB_PID"
    _dbs_log "starting MariaDB on 127.0.0.1:$TRICIRCLE_MARIADB_PORT"
    setsid "$bin" --no-defaults --user="$user" --datadir="$MARIADB_DATA" \
        --port="$TRICIRCLE_MARIADB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
        --socket="$MARIADB_SOCK" --pid-file="$MARIADB_PID" --log-error="$MARIADB_LOG" \
        --init-file="$MARIADB_STATE/init.sql" --character-set-server=utf8mb4 \
        --innodb-buffer-pool-size=64M --innodb-flush-log-at-trx-commit=2 \
        --max-connections=500 </dev/null >/dev/null 2>&1 &
    local i
    for ((i = 0; i < 120; i++)); do
        if MYSQL_PWD="$pw" mariadb-admin --no-defaults -h127.0.0.1 -P"$TRICIRCLE_MARIADB_PORT" -uroot ping >/dev/null 2>&1; then
            _dbs_log "MariaDB ready (pid $(cat "$MARIADB_PID"))"
            return 0
        fi
        sleep 0.5
    done
    _dbs_log "MariaDB did not become ready within 60s; last log lines:"
    tail -n 20 "$MARIADB_LOG" >&2 || true
    return 1
}

mariadb_stop() {
    _mariadb_dirs
    _dbs_stop_pid MariaDB "$MARIADB_PID"
}

_postgres_dirs() {
    POSTGRES_STATE="$(_dbs_state)/postgres"
    POSTGRES_DATA="$POSTGRES_STATE/data"
    POSTGRES_LOG="$POSTGRES_STATE/postgres.log"
    POSTGRES_PID="$POSTGRES_DATA/postmaster.pid"
    POSTGRES_BIN="$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1)"
    if [[ -z "$POSTGRES_BIN" ]]; then
        POSTGRES_BIN="$(dirname "$(command -v initdb 2>/dev/null || echo /usr/bin/initdb)")"
    fi
}

postgres_start() {
    _postgres_dirs
    local user pw
    user="$(id -un)"
    _dbs_is_root && user=postgres
    mkdir -p "$POSTGRES_STATE"
    pw="$(_dbs_password "$POSTGRES_STATE/password")"
    export TRICIRCLE_TEST_PG_URL="postgresql://postgres:$pw@127.0.0.1:$TRICIRCLE_PG_PORT/postgres"
    if _dbs_pid_alive "$POSTGRES_PID" &&
        "$POSTGRES_BIN/pg_isready" -q -h 127.0.0.1 -p "$TRICIRCLE_PG_PORT"; then
        _dbs_log "PostgreSQL already running on 127.0.0.1:$TRICIRCLE_PG_PORT"
        return 0
    fi
    _dbs_port_free "$TRICIRCLE_PG_PORT" TRICIRCLE_PG_PORT PostgreSQL || return 1
    _dbs_is_root && chown postgres:postgres "$POSTGRES_STATE"
    if [[ ! -s "$POSTGRES_DATA/PG_VERSION" ]]; then
        _dbs_log "initialising PostgreSQL data dir $POSTGRES_DATA"
        rm -rf "$POSTGRES_DATA"
        local pwfile="$POSTGRES_STATE/pwfile"
        (umask 077 && printf '%s\n' "$pw" >"$pwfile")
        _dbs_is_root && chown postgres:postgres "$pwfile" "$POSTGRES_STATE/password"
        _dbs_as "$user" "$POSTGRES_BIN/initdb" -D "$POSTGRES_DATA" -U postgres \
            --pwfile="$pwfile" --auth=scram-sha-256 -E UTF8 --locale=C \
            >"$POSTGRES_STATE/initdb.log" 2>&1 || {
            rm -f "$pwfile"
            _dbs_log "initdb failed; see $POSTGRES_STATE/initdb.log"
            return 1
        }
        rm -f "$pwfile"
    fi
    rm -f "$POSTGRES_PID"
    _dbs_log "starting PostgreSQL on 127.0.0.1:$TRICIRCLE_PG_PORT"
    # No Unix socket (its path length is limited, and TCP is all we need);
    # fsync off: test data is disposable.
    if ! _dbs_as "$user" "$POSTGRES_BIN/pg_ctl" -D "$POSTGRES_DATA" -l "$POSTGRES_LOG" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $TRICIRCLE_PG_PORT -c unix_socket_directories='' -c fsync=off -c max_connections=300 ${TRICIRCLE_PG_OPTIONS:-}" \
        start >/dev/null; then
        _dbs_log "PostgreSQL did not start; last log lines:"
        tail -n 20 "$POSTGRES_LOG" >&2 || true
        return 1
    fi
    local i
    for ((i = 0; i < 120; i++)); do
        if "$POSTGRES_BIN/pg_isready" -q -h 127.0.0.1 -p "$TRICIRCLE_PG_PORT"; then
            _dbs_log "PostgreSQL ready (pid $(head -n1 "$POSTGRES_PID"))"
            return 0
        fi
        sleep 0.5
    done
    _dbs_log "PostgreSQL did not become ready within 60s"
    return 1
}

postgres_stop() {
    _postgres_dirs
    _dbs_stop_pid PostgreSQL "$POSTGRES_PID"
}
