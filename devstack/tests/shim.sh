# shellcheck shell=bash
# DevStack's functions, as devstack/plugin.sh calls them, for running the
# plugin outside DevStack (which cannot be fetched on the test machines):
# the configuration helpers work on real files, the Keystone ones call the
# real `openstack` CLI, databases are made on a real MariaDB, processes run
# in the background with pid files. Used by scripts/e2e.d/devstack.sh.
#
# The caller sets:
#   SHIM_STATE      directory for pid files (pids/) and process logs (logs/)
#   SHIM_DB_URL     mysql://user:password@host:port/ of the database server;
#                   databases are created with the prefix SHIM_DB_PREFIX
#   SHIM_RABBIT_URL transport URL returned for the RPC and notification bus
#   OS_*            the cloud admin's credentials for the openstack CLI
# and DevStack's own variables (ENABLED_SERVICES, SERVICE_PASSWORD, ...).

SHIM_DB_PREFIX=${SHIM_DB_PREFIX:-devstack_}
SHIM_LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib" && pwd)"

function echo_summary {
    echo "devstack-shim: ==> $*" >&2
}

function die {
    local line=$1
    shift
    echo "devstack-shim: [ERROR] ${BASH_SOURCE[1]}:$line $*" >&2
    exit 1
}

# ------------------------------------------------------------- ini files

# iniset FILE SECTION OPTION VALUE: set OPTION in SECTION (created when
# missing), keeping every other line as it is.
function iniset {
    local file=$1 section=$2 option=$3 value=$4
    [[ -z "$section" || -z "$option" ]] && return 0
    [[ -e "$file" ]] || touch "$file"
    SECTION="$section" OPTION="$option" VALUE="$value" awk '
        function emit() { print ENVIRON["OPTION"] " = " ENVIRON["VALUE"]; done = 1 }
        /^\[.*\][ \t]*$/ {
            if (here && !done) emit()
            here = ($0 ~ "^\\[" ENVIRON["SECTION"] "\\][ \t]*$") && !done
            seen = seen || here
            print
            next
        }
        here && !done && index($0, ENVIRON["OPTION"]) == 1 &&
            substr($0, length(ENVIRON["OPTION"]) + 1) ~ /^[ \t]*=/ { emit(); next }
        { print }
        END {
            if (here && !done) emit()
            else if (!seen && !done) {
                print ""
                print "[" ENVIRON["SECTION"] "]"
                emit()
            }
        }' "$file" >"$file.shim-tmp"
    cat "$file.shim-tmp" >"$file"
    rm -f "$file.shim-tmp"
}

# iniget FILE SECTION OPTION: the value, or nothing.
function iniget {
    local file=$1 section=$2 option=$3
    [[ -r "$file" ]] || return 0
    SECTION="$section" OPTION="$option" awk '
        /^\[.*\][ \t]*$/ { here = ($0 ~ "^\\[" ENVIRON["SECTION"] "\\][ \t]*$"); next }
        here && index($0, ENVIRON["OPTION"]) == 1 {
            rest = substr($0, length(ENVIRON["OPTION"]) + 1)
            if (rest ~ /^[ \t]*=/) {
                sub(/^[ \t]*=[ \t]*/, "", rest)
                print rest
                exit
            }
        }' "$file"
}

# inidelete FILE SECTION OPTION
function inidelete {
    local file=$1 section=$2 option=$3
    SECTION="$section" OPTION="$option" awk '
        /^\[.*\][ \t]*$/ { here = ($0 ~ "^\\[" ENVIRON["SECTION"] "\\][ \t]*$") }
        here && index($0, ENVIRON["OPTION"]) == 1 &&
            substr($0, length(ENVIRON["OPTION"]) + 1) ~ /^[ \t]*=/ { next }
        { print }' "$file" >"$file.shim-tmp"
    cat "$file.shim-tmp" >"$file"
    rm -f "$file.shim-tmp"
}

# --------------------------------------------------------------- services

# is_service_enabled NAME...: any of them in ENABLED_SERVICES; "nova" and
# "keystone", "nova" and "neutron" also stand for key, n-* and
# q-*/neutron-*.
function is_service_enabled {
    local name s
    for name in "$@"; do
        for s in ${ENABLED_SERVICES//,/ }; do
            [[ "$s" == "$name" ]] && return 0
            [[ "$name" == keystone && "$s" == key ]] && return 0
            [[ "$name" == nova && "$s" == n-* ]] && return 0
            [[ "$name" == neutron && ("$s" == q-* || "$s" == neutron-*) ]] && return 0
        done
    done
    return 1
}

function enable_service {
    local name
    for name in "$@"; do
        is_service_enabled "$name" || ENABLED_SERVICES="${ENABLED_SERVICES:+$ENABLED_SERVICES,}$name"
    done
}

function _shim_pidfile { echo "$SHIM_STATE/pids/$1.pid"; }

# run_process NAME COMMAND: COMMAND in the background, in its own session,
# its output in logs/NAME.log (DevStack makes a systemd unit of it).
function run_process {
    local name=$1 command=$2
    mkdir -p "$SHIM_STATE/pids" "$SHIM_STATE/logs"
    echo "devstack-shim: run_process $name: $command" >&2
    # shellcheck disable=SC2086  # the command line is words, as DevStack's
    setsid $command </dev/null >>"$SHIM_STATE/logs/$name.log" 2>&1 &
    echo $! >"$(_shim_pidfile "$name")"
}

function stop_process {
    local name=$1 pidfile pid i
    pidfile=$(_shim_pidfile "$name")
    [[ -s "$pidfile" ]] || return 0
    pid=$(cat "$pidfile")
    if kill -TERM "$pid" 2>/dev/null; then
        for ((i = 0; i < 300; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

function restart_service {
    die $LINENO "restart_service $*: no systemd units here"
}

# Apache, as DevStack's lib/apache drives Debian's apache2 (no systemd:
# apache2ctl starts it by itself).
function apache_site_config_for {
    echo "/etc/apache2/sites-available/$1.conf"
}

function enable_apache_mod {
    sudo a2enmod -q "$1" >/dev/null
}

function enable_apache_site {
    sudo a2ensite -q "$1" >/dev/null
}

function disable_apache_site {
    sudo a2dissite -q "$1" >/dev/null 2>&1 || true
}

function restart_apache_server {
    local pid=/var/run/apache2/apache2.pid
    if [[ -s "$pid" ]] && kill -0 "$(cat "$pid")" 2>/dev/null; then
        sudo apache2ctl graceful
    else
        sudo apache2ctl start
    fi
}

# Stop the Apache this shim started (the harness's clean-up).
function shim_stop_apache {
    local pid=/var/run/apache2/apache2.pid
    if [[ -s "$pid" ]] && kill -0 "$(cat "$pid")" 2>/dev/null; then
        sudo apache2ctl stop
    fi
}

# wait_for_service SECONDS URL: until URL answers anything over HTTP.
function wait_for_service {
    local timeout=$1 url=$2 deadline
    deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        [[ "$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$url")" != 000 ]] && return 0
        sleep 0.25
    done
    return 1
}

function install_package {
    # shellcheck source=../../scripts/lib/packages.sh
    source "$SHIM_LIB/packages.sh"
    packages_install "$@"
}

function pip_install {
    python3 -m pip install "$@"
}

# Records the bridges the plugin asks for (no Open vSwitch here).
function _neutron_ovs_base_add_bridge {
    echo "$1" >>"$SHIM_STATE/ovs-bridges"
}

function _neutron_service_plugin_class_add {
    Q_SERVICE_PLUGIN_CLASSES="${Q_SERVICE_PLUGIN_CLASSES:+$Q_SERVICE_PLUGIN_CLASSES,}$1"
}

# -------------------------------------------------------------- databases

function _shim_db_parts {
    [[ "$SHIM_DB_URL" =~ ^mysql://([^:]+):([^@]*)@([^:/]+):([0-9]+)/?$ ]] ||
        die $LINENO "SHIM_DB_URL is not mysql://user:password@host:port/"
}

function database_connection_url {
    _shim_db_parts
    echo "mysql+pymysql://${BASH_REMATCH[1]}:${BASH_REMATCH[2]}@${BASH_REMATCH[3]}:${BASH_REMATCH[4]}/$SHIM_DB_PREFIX$1?charset=utf8"
}

function recreate_database {
    _shim_db_parts
    MYSQL_PWD="${BASH_REMATCH[2]}" mariadb --no-defaults -h"${BASH_REMATCH[3]}" \
        -P"${BASH_REMATCH[4]}" -u"${BASH_REMATCH[1]}" \
        -e "DROP DATABASE IF EXISTS \`$SHIM_DB_PREFIX$1\`; CREATE DATABASE \`$SHIM_DB_PREFIX$1\` CHARACTER SET utf8"
}

# -------------------------------------------------------------- messaging

function get_transport_url {
    echo "$SHIM_RABBIT_URL"
}

function get_notification_url {
    echo "$SHIM_RABBIT_URL"
}

# iniset_rpc_backend PROJECT FILE [SECTION]
function iniset_rpc_backend {
    iniset "$2" "${3:-DEFAULT}" transport_url "$(get_transport_url)"
}

# --------------------------------------------------------------- keystone

# get_field N: the Nth |-separated field of the CLI's table rows.
function get_field {
    local field=$1
    while read -r line; do
        awk -F'[ \t]*\\|[ \t]*' -v f="$((field + 1))" '{ print $f }' <<<"$line"
    done
}

function get_or_create_user {
    openstack user create "$1" --password "$2" --domain "${3:-default}" --or-show -f value -c id
}

function get_or_create_role {
    openstack role create "$1" --or-show -f value -c id
}

# get_or_add_user_project_role ROLE USER PROJECT [USER_DOMAIN PROJECT_DOMAIN]
function get_or_add_user_project_role {
    local role=$1 user=$2 project=$3 udom=${4:-default} pdom=${5:-default} have
    have=$(openstack role assignment list --role "$role" --user "$user" --user-domain "$udom" \
        --project "$project" --project-domain "$pdom" -f value -c Role)
    if [[ -z "$have" ]]; then
        openstack role add "$role" --user "$user" --user-domain "$udom" \
            --project "$project" --project-domain "$pdom"
    fi
    openstack role show "$role" -f value -c id
}

# create_service_user NAME [ROLE]: NAME in the service project with ROLE
# (admin by default) and the service role, as DevStack does.
function create_service_user {
    local role=${2:-admin}
    get_or_create_user "$1" "$SERVICE_PASSWORD" "$SERVICE_DOMAIN_NAME" >/dev/null
    get_or_add_user_project_role "$role" "$1" "$SERVICE_PROJECT_NAME" \
        "$SERVICE_DOMAIN_NAME" "$SERVICE_DOMAIN_NAME" >/dev/null
    get_or_add_user_project_role service "$1" "$SERVICE_PROJECT_NAME" \
        "$SERVICE_DOMAIN_NAME" "$SERVICE_DOMAIN_NAME" >/dev/null
}

# get_or_create_service NAME TYPE DESCRIPTION: found by type first.
function get_or_create_service {
    openstack service show "$2" -f value -c id 2>/dev/null ||
        openstack service create "$2" --name "$1" --description "$3" -f value -c id
}

function _shim_get_or_create_endpoint_with_interface {
    local service=$1 interface=$2 url=$3 region=$4 id
    id=$(openstack endpoint list --service "$service" --interface "$interface" \
        --region "$region" -c ID -f value)
    if [[ -z "$id" ]]; then
        id=$(openstack endpoint create "$service" "$interface" "$url" --region "$region" -f value -c id)
    fi
    echo "$id"
}

# get_or_create_endpoint SERVICE REGION PUBLIC [ADMIN [INTERNAL]]
function get_or_create_endpoint {
    local public
    public=$(_shim_get_or_create_endpoint_with_interface "$1" public "$3" "$2")
    [[ -n "${4:-}" ]] && _shim_get_or_create_endpoint_with_interface "$1" admin "$4" "$2" >/dev/null
    [[ -n "${5:-}" ]] && _shim_get_or_create_endpoint_with_interface "$1" internal "$5" "$2" >/dev/null
    echo "$public"
}

# configure_keystone_authtoken_middleware FILE SERVICE_USER [SECTION]
function configure_keystone_authtoken_middleware {
    local conf=$1 user=$2 section=${3:-keystone_authtoken}
    iniset "$conf" "$section" auth_type password
    iniset "$conf" "$section" interface public
    iniset "$conf" "$section" auth_url "$KEYSTONE_SERVICE_URI"
    iniset "$conf" "$section" username "$user"
    iniset "$conf" "$section" password "$SERVICE_PASSWORD"
    iniset "$conf" "$section" user_domain_name "$SERVICE_DOMAIN_NAME"
    iniset "$conf" "$section" project_name "$SERVICE_PROJECT_NAME"
    iniset "$conf" "$section" project_domain_name "$SERVICE_DOMAIN_NAME"
    iniset "$conf" "$section" cafile "$SSL_BUNDLE_FILE"
    iniset "$conf" "$section" memcached_servers "$SERVICE_HOST:11211"
    iniset "$conf" "$section" www_authenticate_uri "$KEYSTONE_SERVICE_URI"
}
