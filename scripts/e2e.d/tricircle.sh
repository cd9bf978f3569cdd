# shellcheck shell=bash
# Our tricircle-api and tricircle-xjob against the real services of
# scripts/lib/openstack-env.sh: MariaDB database `tricircle`, RabbitMQ vhost
# `tricircle`, auth_strategy = keystone. Sourced by scripts/e2e.
#
#   e2e_tricircle_start   build, write the configs, db_sync, start both
#   e2e_tricircle_stop    stop both (by PID)
#   e2e_xjob_stop, e2e_xjob_start
#                         stop / start tricircle-xjob alone (fault tests)
#   e2e_notifications_purge
#                         empty xjob's notification queues (pool
#                         tricircle-xjob) on the three regions' vhosts
#   e2e_rabbitmq_restart  stop and start the suite's RabbitMQ node (fault
#                         tests: the regions' Neutron, the API and xjob
#                         reconnect)
#   e2e_tricircle_api     the admin API checks (scripts/e2e.d/api_checks.py)
#   e2e_tricircle_networking
#                         the multi-pod guide's networking, rerun and fault
#                         (scripts/e2e.d/networking.py; after the API checks)

_e2e_tc_dir() { printf '%s\n' "$TRICIRCLE_E2E_STATE/tricircle"; }

# Where cargo puts the binaries (CARGO_TARGET_DIR is honoured).
_e2e_tc_bin() { printf '%s\n' "${CARGO_TARGET_DIR:-target}/debug"; }

declare -F e2e_log >/dev/null || e2e_log() { echo "e2e: $*" >&2; }

_e2e_tc_write_configs() {
    local dir db_url rabbit
    dir="$(_e2e_tc_dir)"
    mkdir -p "$dir"
    # mysql://root:pw@host:port/ -> the original's SQLAlchemy form.
    db_url="mysql+pymysql://${TRICIRCLE_E2E_DB_URL#mysql://}tricircle?charset=utf8"
    rabbit="$TRICIRCLE_E2E_RABBIT_URL"
    (
        umask 077
        cat >"$dir/common.conf" <<CONF
[DEFAULT]
tricircle_db_connection = $db_url
transport_url = $rabbit
host = e2e-xjob

[client]
auth_url = ${TRICIRCLE_E2E_KEYSTONE_URL%/v3}
auto_refresh_endpoint = true
top_region_name = CentralRegion
admin_username = $TRICIRCLE_E2E_ADMIN_USER
admin_password = $TRICIRCLE_E2E_ADMIN_PASSWORD
admin_tenant = $TRICIRCLE_E2E_ADMIN_PROJECT
admin_user_domain_name = Default
admin_tenant_domain_name = Default

[xjob]
# The pods and the central region run stock ML2 (no Tricircle plugins): xjob
# builds what the plugins would, the API checks new resources in the
# central Neutron.
stock_neutron = true

[tricircle]
# The guide's bridge: one VLAN per project on physical network "bridge".
bridge_network_type = vlan
network_vlan_ranges = bridge:2001:3000
CONF
        cat >"$dir/api.conf" <<CONF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $TRICIRCLE_E2E_API_PORT
auth_strategy = keystone
api_workers = 2

[keystone_authtoken]
auth_type = password
auth_url = ${TRICIRCLE_E2E_KEYSTONE_URL%/v3}
www_authenticate_uri = ${TRICIRCLE_E2E_KEYSTONE_URL%/v3}
username = $TRICIRCLE_E2E_SERVICE_USER
password = $TRICIRCLE_E2E_SERVICE_PASSWORD
project_name = $TRICIRCLE_E2E_SERVICE_PROJECT
user_domain_name = Default
project_domain_name = Default
CONF
        cat >"$dir/xjob.conf" <<CONF
[DEFAULT]
workers = 2
job_run_expire = 20
periodic_interval = 5
periodic_fuzzy_delay = 0

[xjob]
# Prometheus metrics (scripts/bench converge counts Neutron calls there).
metrics_bind_host = 127.0.0.1
metrics_port = ${TRICIRCLE_E2E_XJOB_METRICS_PORT:-19996}
# Stock mode follows each region's Neutron notifications (its vhost on the
# suite's broker): a tenant's router interface, or a VM booted in a pod,
# needs no job posted.
notification_regions = CentralRegion, RegionOne, RegionTwo
# The sweep repairs drift made by hand and catches up lost notifications;
# small here so that the fault phases end quickly.
reconcile_interval = ${TRICIRCLE_E2E_RECONCILE_INTERVAL:-5}

[notifications_CentralRegion]
transport_url = ${rabbit%/*}/CentralRegion

[notifications_RegionOne]
transport_url = ${rabbit%/*}/RegionOne

[notifications_RegionTwo]
transport_url = ${rabbit%/*}/RegionTwo

CONF
    )
}

_e2e_tc_pid_alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

_e2e_xjob_spawn() {
    local dir bin
    dir="$(_e2e_tc_dir)"
    bin="$(_e2e_tc_bin)"
    if ! _e2e_tc_pid_alive "$dir/xjob.pid"; then
        setsid "$bin/tricircle-xjob" --config-file "$dir/common.conf" --config-file "$dir/xjob.conf" \
            </dev/null >>"$dir/xjob.log" 2>&1 &
        echo $! >"$dir/xjob.pid"
    fi
}

e2e_tricircle_start() {
    openstack_env_info >/dev/null
    local dir bin
    dir="$(_e2e_tc_dir)"
    bin="$(_e2e_tc_bin)"
    packages_install_build
    cargo build -q --bin tricircle-api --bin tricircle-xjob --bin tricircle-db-manage
    _e2e_tc_write_configs
    _ose_sql -e "DROP DATABASE IF EXISTS tricircle; CREATE DATABASE tricircle CHARACTER SET utf8"
    "$bin/tricircle-db-manage" --config-file "$dir/common.conf" db_sync 2>>"$dir/db-manage.log"
    if ! _e2e_tc_pid_alive "$dir/api.pid"; then
        setsid "$bin/tricircle-api" --config-file "$dir/common.conf" --config-file "$dir/api.conf" \
            </dev/null >>"$dir/api.log" 2>&1 &
        echo $! >"$dir/api.pid"
    fi
    _e2e_xjob_spawn
    # Any HTTP answer will do: with keystone auth even / wants a token.
    local up=0 _
    for _ in $(seq 100); do
        if [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$TRICIRCLE_E2E_API_PORT/")" != 000 ]]; then
            up=1
            break
        fi
        sleep 0.2
    done
    ((up)) || {
        e2e_log "tricircle-api did not start:"
        tail -n 20 "$dir/api.log" >&2
        return 1
    }
    _e2e_tc_pid_alive "$dir/xjob.pid" || {
        e2e_log "tricircle-xjob did not start:"
        tail -n 20 "$dir/xjob.log" >&2
        return 1
    }
    e2e_log "tricircle-api and tricircle-xjob running (logs in $dir)"
}

_e2e_tc_stop_one() {
    local dir pid _
    dir="$(_e2e_tc_dir)"
    _e2e_tc_pid_alive "$dir/$1.pid" || return 0
    pid="$(cat "$dir/$1.pid")"
    kill -TERM "$pid"
    for _ in $(seq 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    rm -f "$dir/$1.pid"
}

e2e_tricircle_stop() {
    _e2e_tc_stop_one api
    _e2e_tc_stop_one xjob
}

# tricircle-xjob alone, for the fault tests (the API keeps running).
e2e_xjob_stop() {
    openstack_env_info >/dev/null
    _e2e_tc_stop_one xjob
    e2e_log "tricircle-xjob stopped"
}

e2e_xjob_start() {
    openstack_env_info >/dev/null
    local dir
    dir="$(_e2e_tc_dir)"
    _e2e_xjob_spawn
    sleep 0.5
    _e2e_tc_pid_alive "$dir/xjob.pid" || {
        e2e_log "tricircle-xjob did not start:"
        tail -n 20 "$dir/xjob.log" >&2
        return 1
    }
    e2e_log "tricircle-xjob started again (pid $(cat "$dir/xjob.pid"))"
}

# tricircle-xjob started again with a sweep every $1 seconds (the bench
# times changes without the e2e's frequent sweeps, then counts a sweep's
# calls with them).
e2e_xjob_reconcile_every() {
    openstack_env_info >/dev/null
    TRICIRCLE_E2E_RECONCILE_INTERVAL="$1" _e2e_tc_write_configs
    e2e_xjob_stop
    e2e_xjob_start
}

# Drops what the regions' Neutron published while xjob was stopped (the
# walk's wipe of an earlier run: those events name resources that are gone).
e2e_notifications_purge() {
    openstack_env_info >/dev/null
    local r
    for r in "${OPENSTACK_E2E_REGIONS[@]}"; do
        _ose_rabbit_ctl purge_queue -p "$r" tricircle-xjob >/dev/null 2>&1 || true
    done
}

# The suite's RabbitMQ node stopped and started again (its vhosts and
# accounts are kept); every client has to reconnect by itself.
e2e_rabbitmq_restart() {
    openstack_env_info >/dev/null
    _ose_rabbit_stop && _ose_rabbit_start
}

e2e_tricircle_api() {
    openstack_env_info >/dev/null
    env -u PYTHONPATH /usr/bin/python3 scripts/e2e.d/api_checks.py
}

e2e_tricircle_networking() {
    openstack_env_info >/dev/null
    env -u PYTHONPATH PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 scripts/e2e.d/networking.py
}
