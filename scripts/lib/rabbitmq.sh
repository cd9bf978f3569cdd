# shellcheck shell=bash
# A private RabbitMQ node for the test suite.
#
# Source this file, then call:
#   rabbitmq_install   install rabbitmq-server when missing (Debian, as root;
#                      the system daemon is not started)
#   rabbitmq_start     start (or reuse) the private node on 127.0.0.1 and
#                      export TRICIRCLE_TEST_RABBIT_URL (and
#                      TRICIRCLE_TEST_RABBIT_RESTART, a script restarting it)
#   rabbitmq_stop      stop the node started from this state dir
#   rabbitmq_restart   stop then start it again (broker-restart fault tests)
#
# The node keeps its config, mnesia, logs, pid file, Erlang cookie (its HOME)
# and a generated password under
# ${TRICIRCLE_STATE:-$PWD/target/test-services}/rabbitmq. It runs as the
# calling user, with its own node name, its own epmd and its own ports, so it
# never meets a system RabbitMQ:
#   TRICIRCLE_RABBIT_PORT       AMQP listener          (default 15673)
#   TRICIRCLE_RABBIT_DIST_PORT  Erlang distribution    (default 25673)
#   TRICIRCLE_RABBIT_EPMD_PORT  private epmd           (default 14369)
#   CLI tools use distribution ports DIST_PORT+1 .. DIST_PORT+10.
# No plugins are enabled (so nothing listens on 15672 or 25672).
# The test URL is rabbit://tricircle:<password>@127.0.0.1:<port>/tricircle.

# shellcheck source=packages.sh
source "$(dirname "${BASH_SOURCE[0]}")/packages.sh"

TRICIRCLE_RABBIT_PORT="${TRICIRCLE_RABBIT_PORT:-15673}"
TRICIRCLE_RABBIT_DIST_PORT="${TRICIRCLE_RABBIT_DIST_PORT:-25673}"
TRICIRCLE_RABBIT_EPMD_PORT="${TRICIRCLE_RABBIT_EPMD_PORT:-14369}"

_rmq_log() { echo "rabbitmq: $*" >&2; }

_rmq_bin() {
    local dir
    for dir in /usr/lib/rabbitmq/bin /usr/lib/rabbitmq/sbin; do
        if [[ -x "$dir/$1" ]]; then
            printf '%s\n' "$dir/$1"
            return 0
        fi
    done
    command -v "$1"
}

rabbitmq_install() {
    packages_install rabbitmq-server
}

# Sets the RMQ_* paths and exports the environment every rabbitmq script
# (server and CLI) must see to talk about the private node only.
_rmq_env() {
    local state="${TRICIRCLE_STATE:-$PWD/target/test-services}"
    mkdir -p "$state"
    state="$(cd "$state" && pwd)"
    RMQ_STATE="$state/rabbitmq"
    RMQ_PID="$RMQ_STATE/rabbitmq.pid"
    RMQ_LOG_DIR="$RMQ_STATE/log"
    RMQ_NODE="tricircle-test-$TRICIRCLE_RABBIT_PORT@localhost"
    mkdir -p "$RMQ_STATE/home" "$RMQ_STATE/mnesia" "$RMQ_LOG_DIR"
    chmod 700 "$RMQ_STATE"
    export HOME="$RMQ_STATE/home"
    export RABBITMQ_NODENAME="$RMQ_NODE"
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT="$TRICIRCLE_RABBIT_PORT"
    export RABBITMQ_DIST_PORT="$TRICIRCLE_RABBIT_DIST_PORT"
    export RABBITMQ_CTL_DIST_PORT_MIN=$((TRICIRCLE_RABBIT_DIST_PORT + 1))
    export RABBITMQ_CTL_DIST_PORT_MAX=$((TRICIRCLE_RABBIT_DIST_PORT + 10))
    export ERL_EPMD_PORT="$TRICIRCLE_RABBIT_EPMD_PORT"
    export ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_CONF_ENV_FILE="$RMQ_STATE/rabbitmq-env.conf"
    export RABBITMQ_CONFIG_FILE="$RMQ_STATE/rabbitmq.conf"
    export RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ_STATE/advanced.config"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_STATE/enabled_plugins"
    export RABBITMQ_MNESIA_BASE="$RMQ_STATE/mnesia"
    export RABBITMQ_LOG_BASE="$RMQ_LOG_DIR"
    export RABBITMQ_PID_FILE="$RMQ_PID"
    # Erlang distribution on loopback only.
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

_rmq_write_config() {
    local pw="$1"
    : >"$RABBITMQ_CONF_ENV_FILE"
    printf '[].\n' >"$RABBITMQ_ENABLED_PLUGINS_FILE"
    printf '[].\n' >"$RABBITMQ_ADVANCED_CONFIG_FILE"
    cat >"$RABBITMQ_CONFIG_FILE" <<CONF
listeners.tcp.default = 127.0.0.1:$TRICIRCLE_RABBIT_PORT
loopback_users = none
disk_free_limit.absolute = 50MB
log.file.level = info
log.console = false
default_vhost = tricircle
default_user = tricircle
default_pass = $pw
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
CONF
    chmod 600 "$RABBITMQ_CONFIG_FILE"
    # The Erlang cookie lives in the node's own HOME; server and CLI read it.
    local cookie="$HOME/.erlang.cookie"
    if [[ ! -s "$cookie" ]]; then
        (umask 077 && od -An -N20 -tx1 /dev/urandom | tr -d ' \n' >"$cookie")
    fi
    chmod 400 "$cookie"
}

_rmq_password() {
    local file="$RMQ_STATE/password"
    if [[ ! -s "$file" ]]; then
        (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$file")
    fi
    cat "$file"
}

_rmq_ctl() {
    "$(_rmq_bin rabbitmqctl)" -q -n "$RMQ_NODE" "$@"
}

_rmq_pid_alive() {
    local pid
    [[ -s "$RMQ_PID" ]] || return 1
    pid="$(head -n1 "$RMQ_PID")"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

_rmq_export() {
    local pw="$1" lib
    export TRICIRCLE_TEST_RABBIT_URL="rabbit://tricircle:$pw@127.0.0.1:$TRICIRCLE_RABBIT_PORT/tricircle"
    # A script the fault tests run to bounce the broker.
    lib="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/rabbitmq.sh"
    cat >"$RMQ_STATE/restart.sh" <<SH
#!/usr/bin/env bash
set -euo pipefail
export TRICIRCLE_STATE='$(dirname "$RMQ_STATE")'
export TRICIRCLE_RABBIT_PORT='$TRICIRCLE_RABBIT_PORT'
export TRICIRCLE_RABBIT_DIST_PORT='$TRICIRCLE_RABBIT_DIST_PORT'
export TRICIRCLE_RABBIT_EPMD_PORT='$TRICIRCLE_RABBIT_EPMD_PORT'
# shellcheck source=/dev/null
source '$lib'
rabbitmq_restart
SH
    chmod 700 "$RMQ_STATE/restart.sh"
    export TRICIRCLE_TEST_RABBIT_RESTART="$RMQ_STATE/restart.sh"
}

# True when something accepts connections on the AMQP port.
_rmq_port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$TRICIRCLE_RABBIT_PORT") 2>/dev/null
}

rabbitmq_start() {
    (
        _rmq_env
        if _rmq_pid_alive && _rmq_port_open; then
            _rmq_log "RabbitMQ already running on 127.0.0.1:$TRICIRCLE_RABBIT_PORT"
            return 0
        fi
        if _rmq_port_open; then
            _rmq_log "port $TRICIRCLE_RABBIT_PORT is taken by another process; stop it or set TRICIRCLE_RABBIT_PORT"
            return 1
        fi
        # The vhost and account are created by the node itself on its first
        # boot (default_* settings), so a fresh password needs a fresh database.
        if [[ ! -s "$RMQ_STATE/password" ]]; then
            rm -rf "$RABBITMQ_MNESIA_BASE"
            mkdir -p "$RABBITMQ_MNESIA_BASE"
        fi
        _rmq_write_config "$(_rmq_password)"
        rm -f "$RMQ_PID"
        _rmq_log "starting RabbitMQ node $RMQ_NODE on 127.0.0.1:$TRICIRCLE_RABBIT_PORT"
        # Detached, every standard stream redirected and no shell left
        # waiting on it: callers' pipes (cargo, tee) must not stay open.
        local server
        server="$(_rmq_bin rabbitmq-server)"
        (cd "$RMQ_STATE" && exec setsid "$server" </dev/null >"$RMQ_LOG_DIR/startup.log" 2>&1) &
        if ! _rmq_ctl wait --timeout 90 "$RMQ_PID" >/dev/null 2>&1; then
            _rmq_log "RabbitMQ did not start; last log lines:"
            tail -n 20 "$RMQ_LOG_DIR/startup.log" >&2 || true
            return 1
        fi
        _rmq_log "RabbitMQ ready (pid $(head -n1 "$RMQ_PID"))"
    ) || return 1
    # Outside the subshell: only the exports the caller needs.
    local state="${TRICIRCLE_STATE:-$PWD/target/test-services}"
    RMQ_STATE="$(cd "$state" && pwd)/rabbitmq"
    _rmq_export "$(cat "$RMQ_STATE/password")"
}

rabbitmq_stop() {
    (
        _rmq_env
        if ! _rmq_pid_alive; then
            _rmq_log "RabbitMQ is not running"
            return 0
        fi
        local pid i
        pid="$(head -n1 "$RMQ_PID")"
        # The node shuts down cleanly on SIGTERM (quicker than a CLI call).
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 120; i++)); do
            if ! kill -0 "$pid" 2>/dev/null; then
                _rmq_log "RabbitMQ (pid $pid) stopped"
                rm -f "$RMQ_PID"
                return 0
            fi
            sleep 0.5
        done
        _rmq_log "RabbitMQ (pid $pid) did not stop within 60s"
        return 1
    )
}

rabbitmq_restart() {
    rabbitmq_stop && rabbitmq_start
}
