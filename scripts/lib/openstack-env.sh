# shellcheck shell=bash
# Real OpenStack services for the end-to-end suite, on loopback.
#
# Debian 12's own packages (Keystone 22 and Neutron 21, both Zed), started
# and stopped by these functions as root, without systemd or docker:
#
#   MariaDB        one server, databases keystone and neutron_<region>
#   RabbitMQ       one private node; vhosts CentralRegion, RegionOne,
#                  RegionTwo (one per Neutron) and tricircle (our API/xjob)
#   Keystone       uwsgi, identity v3 for every region
#   neutron-server CentralRegion, RegionOne, RegionTwo: ML2 (local, flat,
#                  vlan, vxlan) + router service plugin, no agents
#
# Source this file, then call:
#   openstack_env_install        install the Debian packages that are missing
#   openstack_env_start          start (or reuse) everything, register the
#                                catalog and the fake availability zones
#   openstack_env_stop           stop everything started from this state dir
#   openstack_env_wipe           stop, then delete the state dir
#   neutron_stop REGION          stop one region's neutron-server (fault tests)
#   neutron_start REGION         start it again and wait until it answers
#   neutron_freeze REGION        SIGSTOP it (a hung pod)
#   neutron_kill REGION          SIGKILL it (requests in flight cut)
#   neutron_fake_az_agent REGION AZ
#                                make AZ exist in REGION's Neutron (see below)
#   openstack_env_info           export the URLs and credentials below and
#                                print them (passwords included) on stdout
#   openstack_env_memory         print the memory (PSS) of every service
#
# All state lives under ${TRICIRCLE_E2E_STATE:-$PWD/target/e2e}:
#   data/      MariaDB (data/mariadb), RabbitMQ (data/rabbitmq), Neutron state
#   etc/       generated configuration, fernet keys, credentials (mode 600)
#   logs/      Keystone and Neutron logs (MariaDB's and RabbitMQ's are in data/)
#   run/       pid files
#
# Ports (all 127.0.0.1, all overridable; none is a service's usual port):
#   TRICIRCLE_E2E_MARIADB_PORT        13406
#   TRICIRCLE_E2E_RABBIT_PORT         15683  (AMQP)
#   TRICIRCLE_E2E_RABBIT_DIST_PORT    25683  (Erlang distribution; CLI uses +1..+10)
#   TRICIRCLE_E2E_RABBIT_EPMD_PORT    14379  (the node's own epmd)
#   TRICIRCLE_E2E_KEYSTONE_PORT       15000
#   TRICIRCLE_E2E_NEUTRON_CENTRAL_PORT 19601
#   TRICIRCLE_E2E_NEUTRON_R1_PORT     19602
#   TRICIRCLE_E2E_NEUTRON_R2_PORT     19603
#   TRICIRCLE_E2E_API_PORT            19999  (not listened on here: the port our
#                                     tricircle-api is to use; Keystone's
#                                     catalog has it as service "tricircle")
#
# Availability zones come from agents, and there are none: a zone is made to
# exist by casting the report_state RPC a DHCP agent would send
# (neutron_fake_az_agent). openstack_env_start registers az1 in RegionOne, az2
# in RegionTwo and both in CentralRegion.

# shellcheck source=packages.sh
source "$(dirname "${BASH_SOURCE[0]}")/packages.sh"
# shellcheck source=db-servers.sh
source "$(dirname "${BASH_SOURCE[0]}")/db-servers.sh"
# shellcheck source=rabbitmq.sh
source "$(dirname "${BASH_SOURCE[0]}")/rabbitmq.sh"

TRICIRCLE_E2E_MARIADB_PORT="${TRICIRCLE_E2E_MARIADB_PORT:-13406}"
TRICIRCLE_E2E_RABBIT_PORT="${TRICIRCLE_E2E_RABBIT_PORT:-15683}"
TRICIRCLE_E2E_RABBIT_DIST_PORT="${TRICIRCLE_E2E_RABBIT_DIST_PORT:-25683}"
TRICIRCLE_E2E_RABBIT_EPMD_PORT="${TRICIRCLE_E2E_RABBIT_EPMD_PORT:-14379}"
TRICIRCLE_E2E_KEYSTONE_PORT="${TRICIRCLE_E2E_KEYSTONE_PORT:-15000}"
TRICIRCLE_E2E_NEUTRON_CENTRAL_PORT="${TRICIRCLE_E2E_NEUTRON_CENTRAL_PORT:-19601}"
TRICIRCLE_E2E_NEUTRON_R1_PORT="${TRICIRCLE_E2E_NEUTRON_R1_PORT:-19602}"
TRICIRCLE_E2E_NEUTRON_R2_PORT="${TRICIRCLE_E2E_NEUTRON_R2_PORT:-19603}"
TRICIRCLE_E2E_API_PORT="${TRICIRCLE_E2E_API_PORT:-19999}"

OPENSTACK_E2E_REGIONS=(CentralRegion RegionOne RegionTwo)

_OSE_LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# The Debian OpenStack libraries belong to Debian's interpreter, whatever
# python3 comes first on PATH.
_OSE_PY=/usr/bin/python3

_ose_log() { echo "openstack-env: $*" >&2; }

_ose_now() { date +%s.%N; }

_ose_since() { awk -v a="$(_ose_now)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }

# ---------------------------------------------------------------- layout

# Sets OSE_STATE (absolute) and the directories under it.
_ose_dirs() {
    local state="${TRICIRCLE_E2E_STATE:-$PWD/target/e2e}"
    mkdir -p "$state"
    OSE_STATE="$(cd "$state" && pwd)"
    OSE_DATA="$OSE_STATE/data"
    OSE_ETC="$OSE_STATE/etc"
    OSE_LOGS="$OSE_STATE/logs"
    OSE_RUN="$OSE_STATE/run"
    mkdir -p "$OSE_DATA" "$OSE_LOGS" "$OSE_RUN"
    (umask 077 && mkdir -p "$OSE_ETC")
    OSE_KEYSTONE_URL="http://127.0.0.1:$TRICIRCLE_E2E_KEYSTONE_PORT"
}

_ose_neutron_port() {
    case "$1" in
    CentralRegion) echo "$TRICIRCLE_E2E_NEUTRON_CENTRAL_PORT" ;;
    RegionOne) echo "$TRICIRCLE_E2E_NEUTRON_R1_PORT" ;;
    RegionTwo) echo "$TRICIRCLE_E2E_NEUTRON_R2_PORT" ;;
    *)
        _ose_log "unknown region '$1' (expected one of ${OPENSTACK_E2E_REGIONS[*]})"
        return 1
        ;;
    esac
}

_ose_neutron_db() { echo "neutron_$(tr '[:upper:]' '[:lower:]' <<<"$1")"; }

# ---------------------------------------------------------------- secrets

# The generated passwords, created once per state dir (etc/credentials,
# mode 600) and read back into OSE_*_PASS afterwards.
_ose_secrets() {
    local file="$OSE_ETC/credentials" name
    if [[ ! -s "$file" ]]; then
        (
            umask 077
            for name in ADMIN NEUTRON TRICIRCLE DEMO DB; do
                printf 'OSE_%s_PASS=%s\n' "$name" "$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
            done >"$file"
        )
    fi
    chmod 600 "$file"
    # shellcheck source=/dev/null
    source "$file"
}

# ---------------------------------------------------------------- processes

_ose_pid_alive() {
    local pidfile="$1" pid
    [[ -s "$pidfile" ]] || return 1
    pid="$(head -n1 "$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

_ose_port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# All descendants of a PID, deepest last.
_ose_descendants() {
    local child
    for child in $(pgrep -P "$1" 2>/dev/null); do
        echo "$child"
        _ose_descendants "$child"
    done
}

# Stops the process of a pid file, then whatever of its children outlived it.
_ose_stop_pidfile() {
    local name="$1" pidfile="$2" pid kids i k
    if ! _ose_pid_alive "$pidfile"; then
        rm -f "$pidfile"
        return 0
    fi
    pid="$(head -n1 "$pidfile")"
    kids="$(_ose_descendants "$pid")"
    kill -TERM "$pid" 2>/dev/null || true
    # A frozen server (neutron_freeze) only sees the TERM once continued.
    # shellcheck disable=SC2086
    kill -CONT "$pid" $kids 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        _ose_log "$name (pid $pid) ignored SIGTERM for 30s; SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    for k in $kids; do
        kill -KILL "$k" 2>/dev/null || true
    done
    rm -f "$pidfile"
    _ose_log "$name (pid $pid) stopped"
}

# Runs a command detached, in its own session, with a clean Python
# environment; its PID goes to the pid file.
_ose_spawn() {
    local pidfile="$1" log="$2"
    shift 2
    (cd / && exec env -u PYTHONPATH -u PYTHONHOME -u VIRTUAL_ENV \
        setsid "$@" </dev/null >>"$log" 2>&1) &
    echo $! >"$pidfile"
}

_ose_wait_http() {
    local url="$1" seconds="$2" i
    for ((i = 0; i < seconds * 4; i++)); do
        curl -s -o /dev/null -m 2 "$url" && return 0
        sleep 0.25
    done
    _ose_log "no answer from $url within ${seconds}s"
    return 1
}

# ---------------------------------------------------------------- install

openstack_env_install() {
    local pkgs=(
        mariadb-server mariadb-client rabbitmq-server
        keystone python3-keystone python3-keystoneclient
        neutron-common python3-neutron python3-oslo.messaging
        python3-openstackclient python3-neutronclient python3-pymysql
        uwsgi-core uwsgi-plugin-python3 curl procps erlang-base
    )
    if [[ "$(id -u)" == 0 ]]; then
        # The packages' maintainer scripts must not set up databases, queues
        # or endpoints of their own: ours are made by openstack_env_start.
        debconf-set-selections <<'DEBCONF'
keystone keystone/configure_db boolean false
keystone keystone/create-admin-tenant boolean false
keystone keystone/register-endpoint boolean false
neutron-common neutron/configure_db boolean false
neutron-common neutron/configure_rabbit boolean false
neutron-common neutron/configure_ksat boolean false
neutron-common neutron/configure_nova boolean false
DEBCONF
    fi
    packages_install "${pkgs[@]}"
}

_ose_check_installed() {
    local bin
    for bin in /usr/bin/keystone-manage /usr/bin/neutron-server /usr/bin/neutron-db-manage \
        /usr/bin/keystone-wsgi-public /usr/bin/uwsgi /usr/sbin/mariadbd /usr/lib/rabbitmq/bin/rabbitmq-server; do
        if [[ ! -x "$bin" ]]; then
            _ose_log "$bin is missing: run openstack_env_install (scripts/e2e install) first"
            return 1
        fi
    done
}

# ---------------------------------------------------------------- MariaDB

# Runs a db-servers.sh function with our state dir and port, in a subshell
# so the test suite's variables (TRICIRCLE_TEST_MYSQL_URL ...) stay untouched.
_ose_mariadb() {
    (
        # shellcheck disable=SC2030
        export TRICIRCLE_STATE="$OSE_DATA" TRICIRCLE_MARIADB_PORT="$TRICIRCLE_E2E_MARIADB_PORT"
        "$@"
    )
}

_ose_mariadb_password_inner() {
    _mariadb_dirs
    cat "$MARIADB_STATE/password"
}

_ose_mariadb_state_inner() {
    _mariadb_dirs
    echo "$MARIADB_STATE"
}

_ose_mariadb_password() { _ose_mariadb _ose_mariadb_password_inner; }

_ose_sql() {
    MYSQL_PWD="$(_ose_mariadb_password)" mariadb --no-defaults -h127.0.0.1 \
        -P"$TRICIRCLE_E2E_MARIADB_PORT" -uroot "$@"
}

_ose_mariadb_start() {
    _ose_mariadb mariadb_start || return 1
    local r sql=""
    sql+="CREATE DATABASE IF NOT EXISTS keystone;"
    sql+="CREATE USER IF NOT EXISTS 'keystone'@'127.0.0.1' IDENTIFIED BY '$OSE_DB_PASS';"
    sql+="GRANT ALL ON keystone.* TO 'keystone'@'127.0.0.1';"
    sql+="CREATE USER IF NOT EXISTS 'neutron'@'127.0.0.1' IDENTIFIED BY '$OSE_DB_PASS';"
    for r in "${OPENSTACK_E2E_REGIONS[@]}"; do
        sql+="CREATE DATABASE IF NOT EXISTS $(_ose_neutron_db "$r");"
        sql+="GRANT ALL ON $(_ose_neutron_db "$r").* TO 'neutron'@'127.0.0.1';"
    done
    _ose_sql -e "$sql"
}

# ---------------------------------------------------------------- RabbitMQ

# Runs a rabbitmq.sh function with our state dir and ports, in a subshell.
_ose_rabbit() {
    (
        # shellcheck disable=SC2031
        export TRICIRCLE_STATE="$OSE_DATA" \
            TRICIRCLE_RABBIT_PORT="$TRICIRCLE_E2E_RABBIT_PORT" \
            TRICIRCLE_RABBIT_DIST_PORT="$TRICIRCLE_E2E_RABBIT_DIST_PORT" \
            TRICIRCLE_RABBIT_EPMD_PORT="$TRICIRCLE_E2E_RABBIT_EPMD_PORT"
        "$@"
    )
}

_ose_rabbit_ctl_inner() {
    _rmq_env
    _rmq_ctl "$@"
}

_ose_rabbit_ctl() { _ose_rabbit _ose_rabbit_ctl_inner "$@"; }

_ose_rabbit_password() { cat "$OSE_DATA/rabbitmq/password"; }

# The transport URL of a vhost (a region name, or tricircle).
_ose_transport_url() {
    echo "rabbit://tricircle:$(_ose_rabbit_password)@127.0.0.1:$TRICIRCLE_E2E_RABBIT_PORT/$1"
}

_ose_rabbit_start() {
    local have r rc=0 out="$OSE_LOGS/rabbitmq-start.log"
    # rabbitmq.sh leaves a shell waiting on the node for as long as it runs,
    # holding every descriptor of its caller (bash's saved copies included):
    # start it from a fresh bash whose only descriptors are /dev/null and a
    # file, or `scripts/e2e | tee` never ends.
    # shellcheck disable=SC2016
    _ose_rabbit bash -c 'source "$1" && rabbitmq_start' _ \
        "$_OSE_LIB/rabbitmq.sh" </dev/null >"$out" 2>&1 || rc=$?
    cat "$out" >&2
    ((rc == 0)) || return 1
    have="$(_ose_rabbit_ctl list_vhosts name 2>/dev/null)"
    for r in "${OPENSTACK_E2E_REGIONS[@]}"; do
        if ! grep -qx "$r" <<<"$have"; then
            _ose_rabbit_ctl add_vhost "$r" >/dev/null &&
                _ose_rabbit_ctl set_permissions -p "$r" tricircle '.*' '.*' '.*' >/dev/null ||
                return 1
        fi
    done
}

_ose_rabbit_stop() {
    _ose_rabbit rabbitmq_stop
    # The node's private epmd outlives it; ask that one (by its port) to go.
    local epmd
    epmd="$(command -v epmd || echo /usr/lib/erlang/bin/epmd)"
    if [[ -x "$epmd" ]] && _ose_port_busy "$TRICIRCLE_E2E_RABBIT_EPMD_PORT"; then
        ERL_EPMD_PORT="$TRICIRCLE_E2E_RABBIT_EPMD_PORT" "$epmd" -kill >/dev/null 2>&1 || true
    fi
}

# ---------------------------------------------------------------- Keystone

_ose_keystone_conf() {
    local d="$OSE_ETC/keystone"
    (umask 077 && mkdir -p "$d/fernet-keys" "$d/credential-keys")
    (
        umask 077
        cat >"$d/keystone.conf" <<EOF
[DEFAULT]
log_file = $OSE_LOGS/keystone.log
use_stderr = false
[database]
connection = mysql+pymysql://keystone:$OSE_DB_PASS@127.0.0.1:$TRICIRCLE_E2E_MARIADB_PORT/keystone?charset=utf8
[token]
provider = fernet
expiration = 14400
[fernet_tokens]
key_repository = $d/fernet-keys
[fernet_receipts]
key_repository = $d/fernet-keys
[credential]
key_repository = $d/credential-keys
[cache]
# One uwsgi process, so an in-process cache stays coherent; without a cache
# every token validation costs about a second of SQL.
enabled = true
backend = dogpile.cache.memory
expiration_time = 600
EOF
    )
}

_ose_keystone_manage() {
    env -u PYTHONPATH -u PYTHONHOME /usr/bin/keystone-manage \
        --config-file "$OSE_ETC/keystone/keystone.conf" "$@"
}

_ose_keystone_bootstrap() {
    local marker="$OSE_DATA/keystone.bootstrapped" url="$OSE_KEYSTONE_URL/v3/"
    [[ -f "$marker" ]] && return 0
    _ose_log "Keystone: db_sync, key repositories, bootstrap"
    {
        _ose_keystone_manage db_sync &&
            _ose_keystone_manage fernet_setup --keystone-user root --keystone-group root &&
            _ose_keystone_manage credential_setup --keystone-user root --keystone-group root &&
            _ose_keystone_manage bootstrap --bootstrap-password "$OSE_ADMIN_PASS" \
                --bootstrap-username admin --bootstrap-project-name admin \
                --bootstrap-role-name admin --bootstrap-region-id CentralRegion \
                --bootstrap-admin-url "$url" --bootstrap-internal-url "$url" \
                --bootstrap-public-url "$url"
    } >>"$OSE_LOGS/keystone-manage.log" 2>&1 || {
        _ose_log "keystone-manage failed; see $OSE_LOGS/keystone-manage.log"
        return 1
    }
    touch "$marker"
}

_ose_keystone_start() {
    local pidfile="$OSE_RUN/keystone.pid"
    _ose_keystone_conf
    if _ose_pid_alive "$pidfile"; then
        _ose_log "Keystone already running on 127.0.0.1:$TRICIRCLE_E2E_KEYSTONE_PORT"
    else
        if _ose_port_busy "$TRICIRCLE_E2E_KEYSTONE_PORT"; then
            _ose_log "port $TRICIRCLE_E2E_KEYSTONE_PORT is taken by another process; set TRICIRCLE_E2E_KEYSTONE_PORT"
            return 1
        fi
        _ose_keystone_bootstrap || return 1
        _ose_log "starting Keystone (uwsgi) on 127.0.0.1:$TRICIRCLE_E2E_KEYSTONE_PORT"
        # Connection: close, or clients reusing a socket see resets.
        _ose_spawn "$pidfile" "$OSE_LOGS/keystone-uwsgi.log" \
            /usr/bin/uwsgi --plugin python3 --http-socket "127.0.0.1:$TRICIRCLE_E2E_KEYSTONE_PORT" \
            --wsgi-file /usr/bin/keystone-wsgi-public --master --processes 1 --threads 8 \
            --lazy-apps --die-on-term --enable-threads --buffer-size 65535 \
            --add-header "Connection: close" \
            --env "OS_KEYSTONE_CONFIG_FILES=$OSE_ETC/keystone/keystone.conf"
    fi
    _ose_wait_http "$OSE_KEYSTONE_URL/v3" 90
}

# Regions, endpoints, projects, users and roles; idempotent.
_ose_keystone_catalog() {
    local marker="$OSE_DATA/keystone.catalog" r ports=""
    [[ -f "$marker" ]] && return 0
    for r in "${OPENSTACK_E2E_REGIONS[@]}"; do
        ports+="$r=$(_ose_neutron_port "$r") "
    done
    _ose_log "Keystone: regions, endpoints, projects and users"
    OSE_KS="$OSE_KEYSTONE_URL" OSE_PORTS="$ports" OSE_ADMIN_PASS="$OSE_ADMIN_PASS" \
        OSE_API_URL="http://127.0.0.1:$TRICIRCLE_E2E_API_PORT/v1.0" \
        OSE_NEUTRON_PASS="$OSE_NEUTRON_PASS" OSE_TRICIRCLE_PASS="$OSE_TRICIRCLE_PASS" \
        OSE_DEMO_PASS="$OSE_DEMO_PASS" env -u PYTHONPATH "$_OSE_PY" - <<'PY' || return 1
import os
from keystoneauth1 import session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client

env = os.environ
ks = env["OSE_KS"] + "/v3/"
kc = client.Client(session=session.Session(auth=v3.Password(
    auth_url=ks, username="admin", password=env["OSE_ADMIN_PASS"],
    project_name="admin", user_domain_id="default", project_domain_id="default")),
    interface="public")


def find(manager, **filters):
    found = manager.list(**filters)
    return found[0] if found else None


def role(name):
    return find(kc.roles, name=name) or kc.roles.create(name)


def project(name, description):
    return (find(kc.projects, name=name, domain="default")
            or kc.projects.create(name, "default", description=description))


def user(name, password, default_project):
    found = find(kc.users, name=name, domain="default")
    if found:
        return kc.users.update(found, password=password)
    return kc.users.create(name, domain="default", password=password,
                           default_project=default_project)


ports = dict(item.split("=") for item in env["OSE_PORTS"].split())
regions = {r.id for r in kc.regions.list()}
for region in ports:
    if region not in regions:
        kc.regions.create(id=region, description=region)

admin, member, service_role = role("admin"), role("member"), role("service")
service = project("service", "Service users")
demo = project("demo", "Non-admin project for policy checks")
for name, password, roles in (("neutron", env["OSE_NEUTRON_PASS"], (admin, service_role)),
                              ("tricircle", env["OSE_TRICIRCLE_PASS"], (admin, service_role))):
    u = user(name, password, service)
    for r in roles:
        kc.roles.grant(r, user=u, project=service)
kc.roles.grant(member, user=user("demo", env["OSE_DEMO_PASS"], demo), project=demo)

network = (find(kc.services, type="network")
           or kc.services.create("neutron", type="network", description="Networking"))
identity = find(kc.services, type="identity")
have = {(e.service_id, e.region_id, e.interface) for e in kc.endpoints.list()}
for region, port in ports.items():
    for interface in ("public", "internal", "admin"):
        if (network.id, region, interface) not in have:
            kc.endpoints.create(network, "http://127.0.0.1:%s" % port,
                                interface=interface, region=region)
        if (identity.id, region, interface) not in have:
            kc.endpoints.create(identity, ks, interface=interface, region=region)
# Our own admin API, in the central region (as the original's devstack does).
tricircle = (find(kc.services, type="tricircle")
             or kc.services.create("tricircle", type="tricircle", description="Tricircle admin API"))
for interface in ("public", "internal", "admin"):
    if (tricircle.id, "CentralRegion", interface) not in have:
        kc.endpoints.create(tricircle, env["OSE_API_URL"], interface=interface,
                            region="CentralRegion")
PY
    touch "$marker"
}

# An admin token (project admin) on stdout.
_ose_token() {
    local body
    body="$(printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"%s"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' \
        "$OSE_ADMIN_PASS")"
    curl -s -m 30 -D - -o /dev/null -H 'Content-Type: application/json' \
        -d @- "$OSE_KEYSTONE_URL/v3/auth/tokens" <<<"$body" |
        awk -F': ' 'tolower($1) == "x-subject-token" { print $2 }' | tr -d '\r'
}

# ---------------------------------------------------------------- Neutron

_ose_neutron_conf() {
    local r="$1" d port
    d="$OSE_ETC/neutron-$r"
    port="$(_ose_neutron_port "$r")" || return 1
    (umask 077 && mkdir -p "$d")
    mkdir -p "$OSE_DATA/neutron-$r/lock"
    (
        umask 077
        cat >"$d/neutron.conf" <<EOF
[DEFAULT]
host = neutron-$r
bind_host = 127.0.0.1
bind_port = $port
core_plugin = ml2
service_plugins = router
auth_strategy = keystone
allow_overlapping_ips = true
api_workers = 1
rpc_workers = 1
rpc_state_report_workers = 0
state_path = $OSE_DATA/neutron-$r
api_paste_config = /etc/neutron/api-paste.ini
transport_url = $(_ose_transport_url "$r")
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
dhcp_agent_notification = false
log_file = $OSE_LOGS/neutron-$r.log
use_stderr = false
[database]
connection = mysql+pymysql://neutron:$OSE_DB_PASS@127.0.0.1:$TRICIRCLE_E2E_MARIADB_PORT/$(_ose_neutron_db "$r")?charset=utf8
[keystone_authtoken]
www_authenticate_uri = $OSE_KEYSTONE_URL
auth_url = $OSE_KEYSTONE_URL
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = neutron
password = $OSE_NEUTRON_PASS
region_name = $r
[oslo_concurrency]
lock_path = $OSE_DATA/neutron-$r/lock
[oslo_messaging_notifications]
# Stock mode's xjob follows these (exchange neutron, notifications.info on
# the region's vhost).
driver = messagingv2
topics = notifications
EOF
        cat >"$d/ml2_conf.ini" <<EOF
[ml2]
type_drivers = local,flat,vlan,vxlan
tenant_network_types = vxlan
mechanism_drivers = openvswitch
extension_drivers = port_security
[ml2_type_flat]
flat_networks = bridge,extern
[ml2_type_vlan]
network_vlan_ranges = bridge:2001:3000,extern:3001:4000
[ml2_type_vxlan]
vni_ranges = 1001:2000
[securitygroup]
firewall_driver = noop
EOF
    )
}

_ose_neutron_args() {
    echo --config-file "$OSE_ETC/neutron-$1/neutron.conf" --config-file "$OSE_ETC/neutron-$1/ml2_conf.ini"
}

# Schema migrations of every region not migrated yet, in parallel.
_ose_neutron_migrate() {
    local r pids=() failed=0 p
    for r in "${OPENSTACK_E2E_REGIONS[@]}"; do
        [[ -f "$OSE_DATA/neutron-$r/db.migrated" ]] && continue
        _ose_log "neutron-db-manage upgrade heads ($r)"
        # shellcheck disable=SC2046
        (env -u PYTHONPATH -u PYTHONHOME /usr/bin/neutron-db-manage $(_ose_neutron_args "$r") \
            upgrade heads >"$OSE_LOGS/neutron-db-manage-$r.log" 2>&1 &&
            touch "$OSE_DATA/neutron-$r/db.migrated") &
        pids+=("$!")
    done
    for p in "${pids[@]}"; do
        wait "$p" || failed=1
    done
    if ((failed)); then
        _ose_log "neutron-db-manage failed; see $OSE_LOGS/neutron-db-manage-*.log"
        return 1
    fi
}

# Starts the region's neutron-server unless it runs (no waiting).
_ose_neutron_spawn() {
    local r="$1" port pidfile="$OSE_RUN/neutron-$1.pid"
    port="$(_ose_neutron_port "$r")" || return 1
    if _ose_pid_alive "$pidfile"; then
        _ose_log "neutron-server $r already running on 127.0.0.1:$port"
        return 0
    fi
    if _ose_port_busy "$port"; then
        _ose_log "port $port is taken by another process; set its TRICIRCLE_E2E_NEUTRON_*_PORT"
        return 1
    fi
    _ose_log "starting neutron-server $r on 127.0.0.1:$port"
    # shellcheck disable=SC2046
    _ose_spawn "$pidfile" "$OSE_LOGS/neutron-$r.stdout" /usr/bin/neutron-server $(_ose_neutron_args "$r")
}

# Waits until the region's Neutron serves an authenticated request.
_ose_neutron_wait() {
    local r="$1" port token code i
    port="$(_ose_neutron_port "$r")" || return 1
    _ose_wait_http "http://127.0.0.1:$port/" 180 || return 1
    token="$(_ose_token)"
    for ((i = 0; i < 240; i++)); do
        code="$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $token" \
            "http://127.0.0.1:$port/v2.0/networks")"
        [[ "$code" == 200 ]] && return 0
        _ose_pid_alive "$OSE_RUN/neutron-$r.pid" || break
        sleep 0.25
    done
    _ose_log "neutron-server $r does not answer (last HTTP code $code); see $OSE_LOGS/neutron-$r.log"
    return 1
}

neutron_start() {
    local r="${1:?usage: neutron_start REGION}"
    _ose_dirs
    _ose_secrets
    _ose_neutron_conf "$r" || return 1
    _ose_neutron_spawn "$r" || return 1
    _ose_neutron_wait "$r"
}

neutron_stop() {
    local r="${1:?usage: neutron_stop REGION}"
    _ose_neutron_port "$r" >/dev/null || return 1
    _ose_dirs
    _ose_stop_pidfile "neutron-server $r" "$OSE_RUN/neutron-$r.pid"
}

# Sends SIG to one region's neutron-server and all its workers.
_ose_neutron_signal() {
    local r="$1" sig="$2" pidfile pid
    _ose_neutron_port "$r" >/dev/null || return 1
    _ose_dirs
    pidfile="$OSE_RUN/neutron-$r.pid"
    _ose_pid_alive "$pidfile" || {
        _ose_log "neutron-server $r is not running"
        return 1
    }
    pid="$(head -n1 "$pidfile")"
    # shellcheck disable=SC2046
    kill -"$sig" "$pid" $(_ose_descendants "$pid")
    _ose_log "neutron-server $r (pid $pid): SIG$sig"
}

# Freezes one region's neutron-server (SIGSTOP): the port still takes
# connections but nothing answers, as a hung pod.
neutron_freeze() { _ose_neutron_signal "${1:?usage: neutron_freeze REGION}" STOP; }

# Kills one region's neutron-server at once (SIGKILL: requests in flight
# are cut, unlike neutron_stop's graceful stop).
neutron_kill() {
    local r="${1:?usage: neutron_kill REGION}"
    _ose_neutron_signal "$r" KILL || return 1
    rm -f "$OSE_RUN/neutron-$r.pid"
}

# ---------------------------------------------------------------- zones

# Makes availability zone AZ exist in REGION's Neutron: casts, on the
# region's vhost, the report_state RPC a DHCP agent of that zone sends
# (host fake-dhcp-REGION-AZ), then waits until the zone is listed. The
# agent row stays in Neutron's database (shown as dead after 75 s, which
# does not matter for availability_zone_hints).
neutron_fake_az_agent() {
    local r="${1:?usage: neutron_fake_az_agent REGION AZ}" az="${2:?usage: neutron_fake_az_agent REGION AZ}"
    local port token i
    port="$(_ose_neutron_port "$r")" || return 1
    _ose_dirs
    _ose_secrets
    OSE_URL="$(_ose_transport_url "$r")" OSE_AZ="$az" OSE_HOST="fake-dhcp-$r-$az" \
        env -u PYTHONPATH "$_OSE_PY" - <<'PY' || return 1
import datetime
import os
import uuid

import oslo_messaging as messaging
from oslo_config import cfg

# The global CONF: oslo.messaging registers some options only there.
cfg.CONF([], project="fake-agent")
transport = messaging.get_rpc_transport(cfg.CONF, url=os.environ["OSE_URL"])
# Neutron's PluginReportStateAPI: topic q-reports-plugin, no namespace.
target = messaging.Target(exchange="neutron", topic="q-reports-plugin",
                          version="1.2")
agent_state = {
    "binary": "neutron-dhcp-agent",
    "host": os.environ["OSE_HOST"],
    "topic": "dhcp_agent",
    "agent_type": "DHCP agent",
    "availability_zone": os.environ["OSE_AZ"],
    "configurations": {"networks": 0, "ports": 0, "subnets": 0},
    "start_flag": True,
    "uuid": str(uuid.uuid4()),
}
now = datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%f")
messaging.get_rpc_client(transport, target).cast(
    {"is_admin": True}, "report_state", agent_state={"agent_state": agent_state}, time=now)
transport.cleanup()
# The cast is on the wire; skip the ~10 s the driver's threads take to wind down.
os._exit(0)
PY
    token="$(_ose_token)"
    for ((i = 0; i < 120; i++)); do
        if curl -s -m 10 -H "X-Auth-Token: $token" \
            "http://127.0.0.1:$port/v2.0/availability_zones?resource=network" |
            grep -q "\"name\": *\"$az\""; then
            return 0
        fi
        sleep 0.25
    done
    _ose_log "availability zone $az did not appear in $r's Neutron"
    return 1
}

_ose_register_azs() {
    neutron_fake_az_agent RegionOne az1 &&
        neutron_fake_az_agent RegionTwo az2 &&
        neutron_fake_az_agent CentralRegion az1 &&
        neutron_fake_az_agent CentralRegion az2
}

# ---------------------------------------------------------------- all

openstack_env_start() {
    local t0 r
    t0="$(_ose_now)"
    _ose_check_installed || return 1
    _ose_dirs
    _ose_secrets
    _ose_phase MariaDB _ose_mariadb_start || return 1
    _ose_phase RabbitMQ _ose_rabbit_start || return 1
    _ose_phase Keystone _ose_keystone_start || return 1
    _ose_phase "Keystone catalog" _ose_keystone_catalog || return 1
    for r in "${OPENSTACK_E2E_REGIONS[@]}"; do
        _ose_neutron_conf "$r" || return 1
    done
    _ose_phase "Neutron migrations" _ose_neutron_migrate || return 1
    _ose_phase "Neutron servers" _ose_neutron_start_all || return 1
    _ose_phase "availability zones" _ose_register_azs || return 1
    _ose_write_openrc
    _ose_log "environment up in $(_ose_since "$t0")s (state in $OSE_STATE)"
}

_ose_neutron_start_all() {
    local r
    for r in "${OPENSTACK_E2E_REGIONS[@]}"; do
        _ose_neutron_spawn "$r" || return 1
    done
    for r in "${OPENSTACK_E2E_REGIONS[@]}"; do
        _ose_neutron_wait "$r" || return 1
    done
}

# Runs a step of the start and logs how long it took.
_ose_phase() {
    local name="$1" t0
    shift
    t0="$(_ose_now)"
    "$@" || return 1
    _ose_log "$name: $(_ose_since "$t0")s"
}

openstack_env_stop() {
    local r pids=() p
    _ose_dirs
    for r in "${OPENSTACK_E2E_REGIONS[@]}"; do
        _ose_stop_pidfile "neutron-server $r" "$OSE_RUN/neutron-$r.pid" &
        pids+=("$!")
    done
    # Only these: a bare `wait` would also wait for the servers this shell
    # started itself.
    for p in "${pids[@]}"; do
        wait "$p" || true
    done
    _ose_stop_pidfile Keystone "$OSE_RUN/keystone.pid"
    _ose_rabbit_stop
    _ose_mariadb mariadb_stop
}

# Stops everything and removes the state dir (the next start is from scratch).
openstack_env_wipe() {
    local mariadb_state
    openstack_env_stop
    _ose_dirs
    mariadb_state="$(_ose_mariadb _ose_mariadb_state_inner)"
    rm -rf "$mariadb_state" "$OSE_STATE"
    _ose_log "removed $OSE_STATE"
}

# openrc files for the openstack CLI (etc/admin-openrc, etc/demo-openrc).
_ose_write_openrc() {
    local who project pass
    for who in admin demo; do
        if [[ "$who" == admin ]]; then
            project=admin pass="$OSE_ADMIN_PASS"
        else
            project=demo pass="$OSE_DEMO_PASS"
        fi
        (
            umask 077
            cat >"$OSE_ETC/$who-openrc" <<EOF
export OS_AUTH_URL=$OSE_KEYSTONE_URL/v3
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=$who
export OS_PASSWORD=$pass
export OS_PROJECT_NAME=$project
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=CentralRegion
export OS_INTERFACE=public
EOF
        )
    done
}

# Exports the TRICIRCLE_E2E_* URLs and credentials and prints them.
openstack_env_info() {
    _ose_dirs
    _ose_secrets
    export TRICIRCLE_E2E_KEYSTONE_URL="$OSE_KEYSTONE_URL/v3"
    export TRICIRCLE_E2E_ADMIN_USER=admin TRICIRCLE_E2E_ADMIN_PROJECT=admin
    export TRICIRCLE_E2E_ADMIN_PASSWORD="$OSE_ADMIN_PASS"
    export TRICIRCLE_E2E_DEMO_USER=demo TRICIRCLE_E2E_DEMO_PROJECT=demo
    export TRICIRCLE_E2E_DEMO_PASSWORD="$OSE_DEMO_PASS"
    export TRICIRCLE_E2E_SERVICE_USER=tricircle TRICIRCLE_E2E_SERVICE_PROJECT=service
    export TRICIRCLE_E2E_SERVICE_PASSWORD="$OSE_TRICIRCLE_PASS"
    export TRICIRCLE_E2E_NEUTRON_CENTRAL_URL="http://127.0.0.1:$TRICIRCLE_E2E_NEUTRON_CENTRAL_PORT"
    export TRICIRCLE_E2E_NEUTRON_R1_URL="http://127.0.0.1:$TRICIRCLE_E2E_NEUTRON_R1_PORT"
    export TRICIRCLE_E2E_NEUTRON_R2_URL="http://127.0.0.1:$TRICIRCLE_E2E_NEUTRON_R2_PORT"
    export TRICIRCLE_E2E_API_URL="http://127.0.0.1:$TRICIRCLE_E2E_API_PORT/v1.0"
    export TRICIRCLE_E2E_RABBIT_URL=""
    [[ -s "$OSE_DATA/rabbitmq/password" ]] && TRICIRCLE_E2E_RABBIT_URL="$(_ose_transport_url tricircle)"
    TRICIRCLE_E2E_DB_URL="mysql://root:$(_ose_mariadb_password 2>/dev/null)@127.0.0.1:$TRICIRCLE_E2E_MARIADB_PORT/"
    export TRICIRCLE_E2E_DB_URL
    export TRICIRCLE_E2E_STATE="$OSE_STATE"
    local v
    for v in TRICIRCLE_E2E_STATE TRICIRCLE_E2E_KEYSTONE_URL \
        TRICIRCLE_E2E_ADMIN_USER TRICIRCLE_E2E_ADMIN_PROJECT TRICIRCLE_E2E_ADMIN_PASSWORD \
        TRICIRCLE_E2E_DEMO_USER TRICIRCLE_E2E_DEMO_PROJECT TRICIRCLE_E2E_DEMO_PASSWORD \
        TRICIRCLE_E2E_SERVICE_USER TRICIRCLE_E2E_SERVICE_PROJECT TRICIRCLE_E2E_SERVICE_PASSWORD \
        TRICIRCLE_E2E_NEUTRON_CENTRAL_URL TRICIRCLE_E2E_NEUTRON_R1_URL TRICIRCLE_E2E_NEUTRON_R2_URL \
        TRICIRCLE_E2E_API_URL TRICIRCLE_E2E_RABBIT_URL TRICIRCLE_E2E_DB_URL; do
        printf '%s=%s\n' "$v" "${!v}"
    done
}

# PSS of every service (its whole process tree), in MiB.
openstack_env_memory() {
    _ose_dirs
    local f pid total=0 pss sum name
    local pidfiles=("$OSE_RUN"/*.pid "$OSE_DATA/mariadb/mariadbd.pid" "$OSE_DATA/rabbitmq/rabbitmq.pid")
    for f in "${pidfiles[@]}"; do
        _ose_pid_alive "$f" || continue
        pid="$(head -n1 "$f")"
        sum=0
        for p in "$pid" $(_ose_descendants "$pid"); do
            pss="$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null)"
            sum=$((sum + ${pss:-0}))
        done
        name="$(basename "$f" .pid)"
        printf '%-24s %8.1f MiB\n' "$name" "$(awk -v k="$sum" 'BEGIN { print k / 1024 }')"
        total=$((total + sum))
    done
    printf '%-24s %8.1f MiB\n' total "$(awk -v k="$total" 'BEGIN { print k / 1024 }')"
}
