# shellcheck shell=bash
# DevStack's variables are set in subshells on purpose (each node's run is
# isolated) and read by the files those subshells source.
# shellcheck disable=SC2030,SC2031,SC2034
# The DevStack plugin (devstack/) run against the real Keystone, Neutron,
# MariaDB and RabbitMQ of scripts/lib/openstack-env.sh, with DevStack's
# functions from devstack/tests/shim.sh. Sourced by scripts/e2e.
#
#   e2e_devstack          plugin mode's configuration, the single-pod
#                         sample, then the multi-pod pair
#   e2e_devstack_plugin_mode
#                         TRICIRCLE_NEUTRON_MODE=plugin's Neutron settings
#   e2e_devstack_single   local.conf.sample: one node, central + RegionOne
#   e2e_devstack_multi    local.conf.node_1.sample (central + RegionOne),
#                         then local.conf.node_2.sample (RegionTwo only)
#
# Each sample's [[local|localrc]] variables are read as DevStack reads them;
# then what the guides tell the operator to change for their machine is set
# for this one (addresses, passwords, the node 2 RabbitMQ URL), and the
# central region gets a name of its own (DevstackCentral), so that the
# catalog entries checked are the plugin's and not the e2e suite's. The
# phases run in order (stack pre-install, install, post-config, extra);
# then the checks: the files written, the Keystone catalog, the central
# Neutron the plugin started, tricircle-api answering pod create with a
# Keystone token (and `openstack multiregion networking pod create`, with
# python-tricircleclient in a venv), tricircle-xjob running; then unstack
# stops what it started. What the harness added to Keystone is removed.

DEVSTACK_CENTRAL=DevstackCentral

declare -F e2e_log >/dev/null || e2e_log() { echo "e2e: $*" >&2; }

_ds_fail() {
    e2e_log "devstack: FAILED: $*"
    return 1
}

# Reads the [[local|localrc]] assignments of a local.conf into this shell.
_ds_read_localrc() {
    local sample=$1 line in=0
    while IFS= read -r line; do
        if [[ "$line" =~ ^\[\[(.*)\]\] ]]; then
            [[ "${BASH_REMATCH[1]}" == "local|localrc" ]] && in=1 || in=0
            continue
        fi
        ((in)) || continue
        # VAR=value, VAR=(array) and VAR="quoted": evaluated as DevStack
        # sources localrc.
        if [[ "$line" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then
            eval "$line"
        fi
    done <"$sample"
}

# The openstack CLI as the e2e admin.
_ds_openrc() {
    # shellcheck source=/dev/null
    source "$TRICIRCLE_E2E_STATE/etc/admin-openrc"
    unset OS_REGION_NAME
}

# python-tricircleclient (the `openstack multiregion networking` commands)
# in a venv over Debian's openstackclient; prints the venv's openstack, or
# nothing when it cannot be installed (no index reachable).
_ds_tricircleclient() {
    local venv="$TRICIRCLE_E2E_STATE/tricircleclient-venv"
    if [[ ! -x "$venv/bin/openstack" ]]; then
        (env -u PYTHONPATH /usr/bin/python3 -m venv --system-site-packages "$venv" &&
            "$venv/bin/pip" install -q --no-deps tricircleclient &&
            ln -sf /usr/bin/openstack "$venv/bin/openstack.debian" &&
            printf '#!%s\nimport sys\nfrom openstackclient.shell import main\nsys.exit(main())\n' \
                "$venv/bin/python3" >"$venv/bin/openstack" &&
            chmod +x "$venv/bin/openstack") >&2 || {
            rm -rf "$venv"
            return 0
        }
    fi
    echo "$venv/bin/openstack"
}

# Runs one node's phases in a subshell: $1 sample, $2 node dir, $3 local
# region's e2e Neutron (whose configuration the node's NEUTRON_CONF copies).
_ds_stack() {
    local sample=$1 dir=$2 local_region=$3 wsgi=${4:-}
    (
        # DevStack runs plugins with errexit, without nounset.
        set -e +u
        # Debian's OpenStack (neutron-db-manage, openstack) in a clean
        # Python environment.
        unset PYTHONPATH PYTHONHOME VIRTUAL_ENV
        # DevStack's own defaults, before localrc.
        DEST=$dir/opt
        STACK_USER=$(whoami)
        REGION_NAME=RegionOne
        SERVICE_PROTOCOL=http
        Q_PROTOCOL=http
        SERVICE_PROJECT_NAME=service
        SERVICE_DOMAIN_NAME=Default
        ENABLE_DEBUG_LOG_LEVEL=True
        SYSLOG=False
        API_WORKERS=2
        SERVICE_TIMEOUT=60
        Q_DB_NAME=neutron
        NEUTRON_BIN_DIR=/usr/bin
        ENABLED_SERVICES=key,mysql,rabbit,q-svc
        _ds_read_localrc "$sample"
        # The harness covers both API endpoint forms.
        [[ -n "$wsgi" ]] && TRICIRCLE_DEPLOY_WITH_WSGI=$wsgi
        grep -q '^enable_plugin tricircle ' "$sample" || _ds_fail "$sample does not enable the plugin"

        # What the guides say to change for the machine at hand.
        HOST_IP=127.0.0.1
        SERVICE_HOST=127.0.0.1
        KEYSTONE_SERVICE_HOST=127.0.0.1
        KEYSTONE_AUTH_HOST=127.0.0.1
        KEYSTONE_SERVICE_URI=${TRICIRCLE_E2E_KEYSTONE_URL%/v3}
        ADMIN_PASSWORD=$TRICIRCLE_E2E_ADMIN_PASSWORD
        SERVICE_PASSWORD=$TRICIRCLE_E2E_SERVICE_PASSWORD
        CENTRAL_REGION_NAME=$DEVSTACK_CENTRAL
        if [[ -n "${TRICIRCLE_POD_NOTIFICATIONS:-}" ]]; then
            TRICIRCLE_POD_NOTIFICATIONS="RegionTwo=$TRICIRCLE_E2E_RABBIT_URL"
        fi
        # Where this machine keeps things.
        TRICIRCLE_DIR=$PWD
        TRICIRCLE_CONF_DIR=$dir/etc/tricircle
        TRICIRCLE_AUTH_CACHE_DIR=$dir/cache
        TRICIRCLE_BIN_DIR=$dir/bin
        TRICIRCLE_CARGO_PROFILE=dev
        DATA_DIR=$dir/data
        SSL_BUNDLE_FILE=$DATA_DIR/ca-bundle.pem
        NEUTRON_CONF_DIR=$dir/etc/neutron
        NEUTRON_CONF=$NEUTRON_CONF_DIR/neutron.conf
        Q_PLUGIN_CONF_FILE=${NEUTRON_CONF_DIR#/}/ml2_conf.ini
        NOVA_CONF=$dir/etc/nova/nova.conf
        SHIM_STATE=$dir
        SHIM_DB_URL=$TRICIRCLE_E2E_DB_URL
        SHIM_RABBIT_URL=$TRICIRCLE_E2E_RABBIT_URL
        mkdir -p "$DEST" "$DATA_DIR" "$NEUTRON_CONF_DIR" "$(dirname "$NOVA_CONF")"

        # The node's local Neutron configuration, as DevStack would have
        # written it: the e2e region's, logging to stderr (run_process's log).
        cp "$TRICIRCLE_E2E_STATE/etc/neutron-$local_region/neutron.conf" "$NEUTRON_CONF"
        cp "$TRICIRCLE_E2E_STATE/etc/neutron-$local_region/ml2_conf.ini" "/$Q_PLUGIN_CONF_FILE"

        # shellcheck source=../../devstack/tests/shim.sh
        source devstack/tests/shim.sh
        inidelete "$NEUTRON_CONF" DEFAULT log_file
        iniset "$NEUTRON_CONF" DEFAULT use_stderr True
        _ds_openrc
        # shellcheck source=../../devstack/settings
        source devstack/settings
        local phase
        for phase in pre-install install post-config extra; do
            e2e_log "devstack: $(basename "$sample"): stack $phase"
            # shellcheck source=../../devstack/plugin.sh
            source devstack/plugin.sh stack "$phase"
            if [[ "$phase" == pre-install ]]; then
                printf '%s\n' "$OVS_BRIDGE_MAPPINGS" >"$dir/ovs-bridge-mappings"
            fi
        done
        # The variables the checks need.
        declare -p ENABLED_SERVICES TRICIRCLE_CONF_DIR TRICIRCLE_API_PORT TRICIRCLE_NEUTRON_PORT \
            NEUTRON_CONF REGION_NAME TRICIRCLE_START_SERVICES KEYSTONE_SERVICE_URI \
            TRICIRCLE_DEPLOY_WITH_WSGI \
            >"$dir/stack.vars"
    )
}

_ds_unstack() {
    local sample=$1 dir=$2
    (
        set -e +u
        # shellcheck source=/dev/null
        source "$dir/stack.vars"
        SHIM_STATE=$dir
        # shellcheck source=../../devstack/tests/shim.sh
        source devstack/tests/shim.sh
        # shellcheck source=../../devstack/settings
        source devstack/settings
        e2e_log "devstack: $(basename "$sample"): unstack"
        # shellcheck source=../../devstack/plugin.sh
        source devstack/plugin.sh unstack
    )
}

# _ds_expect FILE SECTION OPTION WANT: the option's value equals WANT
# (WANT re:REGEX: matches it).
_ds_expect() {
    local file=$1 section=$2 option=$3 want=$4 got
    got=$(source devstack/tests/shim.sh && iniget "$file" "$section" "$option")
    if [[ "$want" == re:* ]]; then
        [[ "$got" =~ ${want#re:} ]] || _ds_fail "$file [$section] $option = '$got', expected to match ${want#re:}"
    else
        [[ "$got" == "$want" ]] || _ds_fail "$file [$section] $option = '$got', expected '$want'"
    fi
}

_ds_alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

_ds_token() {
    (_ds_openrc && openstack token issue -f value -c id)
}

# POST /v1.0/pods with a Keystone token; prints the HTTP code.
_ds_pod_create() {
    local port=$1 token=$2 body=$3
    curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/v1.0/pods" \
        -H "X-Auth-Token: $token" -H 'Content-Type: application/json' -d "$body"
}

# The checks of a node that runs the Tricircle services.
_ds_check_services_node() {
    local dir=$1 layout=$2
    # shellcheck source=/dev/null
    source "$dir/stack.vars"
    local api="$TRICIRCLE_CONF_DIR/api.conf" xjob="$TRICIRCLE_CONF_DIR/xjob.conf"
    local central="$NEUTRON_CONF.0" ks=$KEYSTONE_SERVICE_URI r
    local expect_regions=$DEVSTACK_CENTRAL,RegionOne
    [[ "$layout" == multi ]] && expect_regions+=,RegionTwo

    e2e_log "devstack: checking the files written"
    for f in "$api" "$xjob"; do
        _ds_expect "$f" DEFAULT tricircle_db_connection "re:^mysql\+pymysql://.*/devstack_tricircle\?charset=utf8$" &&
            _ds_expect "$f" DEFAULT transport_url "$TRICIRCLE_E2E_RABBIT_URL" &&
            _ds_expect "$f" client auth_url "$ks" &&
            _ds_expect "$f" client identity_url "$ks/v3" &&
            _ds_expect "$f" client top_region_name "$DEVSTACK_CENTRAL" &&
            _ds_expect "$f" client admin_tenant admin &&
            _ds_expect "$f" xjob stock_neutron True &&
            _ds_expect "$f" tricircle type_drivers "re:vlan" || return 1
    done
    local prefix=""
    [[ "$TRICIRCLE_DEPLOY_WITH_WSGI" == True ]] && prefix=/tricircle
    _ds_expect "$api" DEFAULT auth_strategy keystone &&
        _ds_expect "$api" DEFAULT bind_port "$TRICIRCLE_API_PORT" &&
        _ds_expect "$api" DEFAULT api_path_prefix "$prefix" &&
        _ds_expect "$api" keystone_authtoken username tricircle &&
        _ds_expect "$api" keystone_authtoken auth_url "$ks" &&
        _ds_expect "$xjob" xjob notification_regions "$expect_regions" || return 1
    for r in ${expect_regions//,/ }; do
        _ds_expect "$xjob" "notifications_$r" transport_url "$TRICIRCLE_E2E_RABBIT_URL" &&
            _ds_expect "$xjob" "notifications_$r" topics "tricircle_$r" &&
            _ds_expect "$xjob" "notifications_$r" pool "tricircle-xjob-$r" || return 1
    done
    if [[ "$layout" == multi ]]; then
        _ds_expect "$api" tricircle network_vlan_ranges "bridge:2001:3000,extern:3001:4000" &&
            _ds_expect "$api" tricircle bridge_network_type vlan || return 1
    fi
    _ds_expect "$central" DEFAULT core_plugin ml2 &&
        _ds_expect "$central" DEFAULT service_plugins router &&
        _ds_expect "$central" DEFAULT bind_port "$TRICIRCLE_NEUTRON_PORT" &&
        _ds_expect "$central" database connection "re:/devstack_neutron0\?" &&
        _ds_expect "$central" oslo_messaging_notifications driver messagingv2 &&
        _ds_expect "$central" oslo_messaging_notifications topics "notifications,tricircle_$DEVSTACK_CENTRAL" &&
        _ds_expect "$NEUTRON_CONF" oslo_messaging_notifications topics "notifications,tricircle_RegionOne" &&
        _ds_expect "$NEUTRON_CONF" DEFAULT core_plugin ml2 || return 1
    grep -qx 'extern:br-ext' <<<"$(tr ',' '\n' <"$dir/ovs-bridge-mappings")" ||
        _ds_fail "OVS_BRIDGE_MAPPINGS has no extern mapping: $(cat "$dir/ovs-bridge-mappings")" || return 1

    e2e_log "devstack: checking the Keystone catalog"
    local urls
    # Apache's /tricircle as the original's WSGI site, or the API's own port.
    local base="http://127.0.0.1:$TRICIRCLE_API_PORT"
    [[ "$TRICIRCLE_DEPLOY_WITH_WSGI" == True ]] && base="http://127.0.0.1/tricircle"
    urls=$(_ds_openrc && openstack endpoint list --service tricircle --region "$DEVSTACK_CENTRAL" \
        -f value -c Interface -c URL | sort)
    [[ "$urls" == "$(printf '%s %s/v1.0\n' admin "$base" internal "$base" public "$base")" ]] ||
        _ds_fail "tricircle endpoints in $DEVSTACK_CENTRAL: $urls" || return 1
    urls=$(_ds_openrc && openstack endpoint list --service network --region "$DEVSTACK_CENTRAL" \
        --interface public -f value -c URL)
    [[ "$urls" == "http://127.0.0.1:$TRICIRCLE_NEUTRON_PORT/" ]] ||
        _ds_fail "network endpoint in $DEVSTACK_CENTRAL: $urls" || return 1
    # Read again for a while, and show what Keystone answered: a first run
    # on a fresh environment, under load, failed here once (cause not found).
    local roles="" i
    for ((i = 0; i < 20; i++)); do
        roles=$(_ds_openrc && openstack role assignment list --user tricircle --project service \
            --names -f value -c Role 2>&1)
        grep -qx admin <<<"$roles" && break
        sleep 1
    done
    grep -qx admin <<<"$roles" || _ds_fail "tricircle has no admin role in service: $roles" || return 1

    e2e_log "devstack: checking the services started"
    local token code
    token=$(_ds_token)
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $token" \
        "http://127.0.0.1:$TRICIRCLE_NEUTRON_PORT/v2.0/networks")
    [[ "$code" == 200 ]] || _ds_fail "the central Neutron answers $code" || return 1
    _ds_alive "$dir/pids/t-job.pid" || _ds_fail "tricircle-xjob is not running: $(tail -5 "$dir/logs/t-job.log")" || return 1
    grep -q "xjob started" "$dir/logs/t-job.log" ||
        _ds_fail "tricircle-xjob did not start: $(tail -5 "$dir/logs/t-job.log")" || return 1
    code=$(curl -s -o /dev/null -w '%{http_code}' "$base/v1.0/pods")
    [[ "$code" == 401 ]] || _ds_fail "GET $base/v1.0/pods without a token: $code, expected 401" || return 1
    # The links name the address the client used, prefix included.
    local links
    links=$(curl -s -H "X-Auth-Token: $token" "$base/v1.0")
    [[ "$links" == *"\"$base/v1.0/pods\""* ]] || _ds_fail "GET $base/v1.0: $links" || return 1
    code=$(_ds_pod_create "$TRICIRCLE_API_PORT" "$token" "{\"pod\": {\"region_name\": \"$DEVSTACK_CENTRAL\"}}")
    [[ "$code" == 200 ]] || _ds_fail "pod create $DEVSTACK_CENTRAL: $code" || return 1

    # Stock mode's notifications: a network made in the central Neutron the
    # plugin configured reaches the xjob it configured, which records the
    # network's network_setup (no pod below yet: the job has nothing to copy).
    local net_id jobs="" i
    net_id=$(curl -s -X POST "http://127.0.0.1:$TRICIRCLE_NEUTRON_PORT/v2.0/networks" \
        -H "X-Auth-Token: $token" -H 'Content-Type: application/json' \
        -d '{"network": {"name": "devstack-harness"}}' |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["network"]["id"])') ||
        _ds_fail "cannot create a network in the central Neutron" || return 1
    for ((i = 0; i < 120; i++)); do
        jobs=$(curl -s -H "X-Auth-Token: $token" "http://127.0.0.1:$TRICIRCLE_API_PORT/v1.0/jobs")
        [[ "$jobs" == *'"network_setup"'* && "$jobs" == *"$net_id"* ]] && break
        sleep 0.5
    done
    curl -s -o /dev/null -X DELETE -H "X-Auth-Token: $token" \
        "http://127.0.0.1:$TRICIRCLE_NEUTRON_PORT/v2.0/networks/$net_id"
    [[ "$jobs" == *'"network_setup"'* && "$jobs" == *"$net_id"* ]] ||
        _ds_fail "no network_setup job for $net_id after 60 s: $jobs" || return 1
    e2e_log "devstack: the central Neutron's notification reached xjob (network_setup recorded)"

    # The pods through the real CLI when it can be had, else with curl.
    local cli
    cli=$(_ds_tricircleclient)
    if [[ -n "$cli" ]]; then
        local out
        out=$(_ds_openrc && OS_REGION_NAME=$DEVSTACK_CENTRAL "$cli" multiregion networking pod create \
            --region-name RegionOne --availability-zone az1 -f value -c region_name 2>&1) ||
            _ds_fail "openstack multiregion networking pod create: $out" || return 1
        [[ "$out" == RegionOne ]] || _ds_fail "pod create printed: $out" || return 1
        e2e_log "devstack: openstack multiregion networking pod create: ok"
    else
        e2e_log "devstack: python-tricircleclient could not be installed; pods made with curl"
        code=$(_ds_pod_create "$TRICIRCLE_API_PORT" "$token" '{"pod": {"region_name": "RegionOne", "az_name": "az1"}}')
        [[ "$code" == 200 ]] || _ds_fail "pod create RegionOne: $code" || return 1
    fi
}

# The checks of a node that runs only a pod (node 2): its Neutron
# configured, nothing of Tricircle started.
_ds_check_pod_node() {
    local dir=$1
    # shellcheck source=/dev/null
    source "$dir/stack.vars"
    [[ ! -e "$TRICIRCLE_CONF_DIR/api.conf" && ! -e "$dir/pids/t-api.pid" && ! -e "$dir/pids/q-svc0.pid" ]] ||
        _ds_fail "node 2 configured or started Tricircle services" || return 1
    _ds_expect "$NEUTRON_CONF" oslo_messaging_notifications driver messagingv2 &&
        _ds_expect "$NEUTRON_CONF" oslo_messaging_notifications topics "notifications,tricircle_RegionTwo" &&
        _ds_expect "$NEUTRON_CONF" oslo_messaging_notifications transport_url "$TRICIRCLE_E2E_RABBIT_URL" ||
        return 1
    grep -qx 'extern:br-ext' <<<"$(tr ',' '\n' <"$dir/ovs-bridge-mappings")" ||
        _ds_fail "node 2 OVS_BRIDGE_MAPPINGS has no extern mapping" || return 1
}

_ds_check_stopped() {
    local dir=$1 name
    for name in t-api t-job q-svc0; do
        [[ ! -e "$dir/pids/$name.pid" ]] || _ds_fail "unstack left $name running" || return 1
    done
    # shellcheck source=/dev/null
    source "$dir/stack.vars"
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$TRICIRCLE_API_PORT/")" == 000 ]] ||
        _ds_fail "tricircle-api still answers after unstack" || return 1
    if [[ "$TRICIRCLE_DEPLOY_WITH_WSGI" == True ]]; then
        [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1/tricircle/v1.0")" == 404 ]] ||
            _ds_fail "Apache still serves /tricircle after unstack" || return 1
    fi
}

# What the plugin added to Keystone under the harness's central region.
_ds_cleanup_keystone() {
    (
        _ds_openrc
        local id
        for id in $(openstack endpoint list --region "$DEVSTACK_CENTRAL" -f value -c ID 2>/dev/null); do
            openstack endpoint delete "$id"
        done
        openstack region delete "$DEVSTACK_CENTRAL" 2>/dev/null || true
    )
}

# Stops whatever a run left (by pid file), and the Apache it started.
_ds_kill_left() {
    local dir=$1 f
    (source devstack/tests/shim.sh && shim_stop_apache) || true
    for f in "$dir"/pids/*.pid; do
        [[ -s "$f" ]] || continue
        kill -TERM "$(cat "$f")" 2>/dev/null || true
        rm -f "$f"
    done
}

e2e_devstack_single() {
    openstack_env_info >/dev/null
    local dir="$TRICIRCLE_E2E_STATE/devstack/single" rc=0 t0=$SECONDS
    rm -rf "$dir" && mkdir -p "$dir"
    _ds_cleanup_keystone
    _ds_stack devstack/local.conf.sample "$dir" RegionOne &&
        _ds_check_services_node "$dir" single &&
        _ds_unstack devstack/local.conf.sample "$dir" &&
        _ds_check_stopped "$dir" || rc=1
    _ds_kill_left "$dir"
    _ds_cleanup_keystone
    ((rc == 0)) && e2e_log "devstack: single pod: ok in $((SECONDS - t0)) s (logs in $dir/logs)"
    return "$rc"
}

e2e_devstack_multi() {
    openstack_env_info >/dev/null
    local base="$TRICIRCLE_E2E_STATE/devstack" rc=0 t0=$SECONDS
    rm -rf "$base/node1" "$base/node2" && mkdir -p "$base/node1" "$base/node2"
    _ds_cleanup_keystone
    _ds_stack devstack/local.conf.node_1.sample "$base/node1" RegionOne False &&
        _ds_check_services_node "$base/node1" multi &&
        _ds_stack devstack/local.conf.node_2.sample "$base/node2" RegionTwo &&
        _ds_check_pod_node "$base/node2" || rc=1
    if ((rc == 0)); then
        # node 2's pod, registered on node 1's API.
        local token code
        # shellcheck source=/dev/null
        token=$(_ds_token) && code=$(source "$base/node1/stack.vars" &&
            _ds_pod_create "$TRICIRCLE_API_PORT" "$token" '{"pod": {"region_name": "RegionTwo", "az_name": "az2"}}')
        [[ "$code" == 200 ]] || _ds_fail "pod create RegionTwo: $code" || rc=1
    fi
    ((rc == 0)) && {
        _ds_unstack devstack/local.conf.node_1.sample "$base/node1" &&
            _ds_check_stopped "$base/node1" || rc=1
    }
    _ds_kill_left "$base/node1"
    _ds_cleanup_keystone
    ((rc == 0)) && e2e_log "devstack: multi-pod: ok in $((SECONDS - t0)) s (logs in $base/node1/logs)"
    return "$rc"
}

# TRICIRCLE_NEUTRON_MODE=plugin: the configuration the original's plugins
# need, written by the plugin's functions on files (the plugins themselves,
# Python, are not installed here, so no Neutron is started with them).
e2e_devstack_plugin_mode() {
    openstack_env_info >/dev/null
    local dir="$TRICIRCLE_E2E_STATE/devstack/plugin-mode"
    rm -rf "$dir" && mkdir -p "$dir/etc/neutron"
    printf '[composite:neutronapi_v2_0]\nkeystone = cors http_proxy_to_wsgi request_id catch_errors authtoken keystonecontext extensions neutronapiapp_v2_0\n[app:neutronapiapp_v2_0]\npaste.app_factory = neutron.api.v2.router:APIRouter.factory\n' \
        >"$dir/etc/neutron/api-paste.ini"
    (
        set -e +u
        SHIM_STATE=$dir
        TRICIRCLE_NEUTRON_MODE=plugin
        TRICIRCLE_ENABLE_TRUNK=True
        REGION_NAME=RegionTwo
        SERVICE_HOST=127.0.0.1
        Q_PROTOCOL=http
        KEYSTONE_SERVICE_URI=http://127.0.0.1/identity
        ADMIN_PASSWORD=secret
        NEUTRON_CONF_DIR=$dir/etc/neutron
        NEUTRON_CONF=$NEUTRON_CONF_DIR/neutron.conf
        SHIM_DB_URL=mysql://root:pw@127.0.0.1:3306/
        # As the samples write it: an array of one word.
        # shellcheck disable=SC2054
        Q_ML2_PLUGIN_VLAN_TYPE_OPTIONS=(network_vlan_ranges=bridge:2001:3000,extern:3001:4000)
        OVS_BRIDGE_MAPPINGS=bridge:br-vlan
        touch "$NEUTRON_CONF"
        # shellcheck source=../../devstack/tests/shim.sh
        source devstack/tests/shim.sh
        # shellcheck source=../../devstack/settings
        source devstack/settings
        # Without a phase the plugin only defines its functions.
        # shellcheck source=../../devstack/plugin.sh
        source devstack/plugin.sh
        tricircle_check_settings
        init_local_neutron_variables
        init_local_neutron_conf
        cp "$NEUTRON_CONF" "$NEUTRON_CONF.0"
        configure_central_neutron_plugins "$NEUTRON_CONF.0"
        printf '%s\n' "$OVS_BRIDGE_MAPPINGS" >"$dir/ovs-bridge-mappings"
        printf '%s\n' "$Q_SERVICE_PLUGIN_CLASSES" >"$dir/service-plugins"
    ) || _ds_fail "plugin mode: the configuration functions failed" || return 1
    local local_conf="$dir/etc/neutron/neutron.conf" central="$dir/etc/neutron/neutron.conf.0"
    _ds_expect "$local_conf" DEFAULT core_plugin tricircle.network.local_plugin.TricirclePlugin &&
        _ds_expect "$local_conf" client auth_url http://127.0.0.1/identity &&
        _ds_expect "$local_conf" client identity_url http://127.0.0.1/identity/v3 &&
        _ds_expect "$local_conf" client top_pod_name CentralRegion &&
        _ds_expect "$local_conf" tricircle local_region_name RegionTwo &&
        _ds_expect "$local_conf" tricircle central_neutron_url http://127.0.0.1:20001 &&
        _ds_expect "$local_conf" tricircle real_core_plugin neutron.plugins.ml2.plugin.Ml2Plugin &&
        _ds_expect "$central" DEFAULT core_plugin tricircle.network.central_plugin.TricirclePlugin &&
        _ds_expect "$central" DEFAULT service_plugins tricircle.network.central_trunk_plugin.TricircleTrunkPlugin &&
        _ds_expect "$central" DEFAULT tricircle_db_connection "re:/devstack_tricircle\?" &&
        _ds_expect "$central" tricircle network_vlan_ranges bridge:2001:3000,extern:3001:4000 &&
        _ds_expect "$central" client top_region_name CentralRegion || return 1
    [[ -z "$(source devstack/tests/shim.sh && iniget "$central" oslo_messaging_notifications driver)" ]] ||
        _ds_fail "plugin mode: the central Neutron got stock mode's notifications" || return 1
    grep -q '^\[filter:request_source\]' "$dir/etc/neutron/api-paste.ini" &&
        grep -q '^keystone = .* request_source neutronapiapp_v2_0$' "$dir/etc/neutron/api-paste.ini" ||
        _ds_fail "plugin mode: api-paste.ini has no request_source filter" || return 1
    [[ "$(cat "$dir/ovs-bridge-mappings")" == bridge:br-vlan,extern:br-ext ]] ||
        _ds_fail "plugin mode: bridge mappings $(cat "$dir/ovs-bridge-mappings")" || return 1
    [[ "$(cat "$dir/service-plugins")" == trunk ]] ||
        _ds_fail "plugin mode: service plugins $(cat "$dir/service-plugins")" || return 1
    e2e_log "devstack: plugin mode configuration: ok"
}

e2e_devstack() {
    # TRICIRCLE_DEPLOY_WITH_WSGI=True (the default) needs Apache.
    packages_install apache2 >/dev/null
    e2e_devstack_plugin_mode && e2e_devstack_single && e2e_devstack_multi
}
