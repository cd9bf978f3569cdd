# shellcheck shell=bash disable=SC2153  # DevStack sets REGION_NAME, GLANCE_URL...
# DevStack plugin for the Tricircle control plane in Rust:
#
#   enable_plugin tricircle <url of this repository>
#
# On the node with TRICIRCLE_START_SERVICES=True it builds and installs
# tricircle-api, tricircle-xjob and tricircle-db-manage, writes
# $TRICIRCLE_CONF_DIR/{api,xjob}.conf, creates and syncs the database,
# registers the service user, service `tricircle` and its endpoints in
# $CENTRAL_REGION_NAME, starts the central Neutron on TRICIRCLE_NEUTRON_PORT
# and runs both services (t-api, t-job). On every node it configures the
# local Neutron for Tricircle. TRICIRCLE_NEUTRON_MODE (settings) chooses
# stock Neutron followed by xjob (default) or the original's plugins.
#
# Phases: stack pre-install (Neutron variables), stack install (build),
# stack post-config (configuration, database, central Neutron), stack extra
# (Keystone accounts, start), unstack (stop), clean (configuration removed).
# DevStack's functions are used as DevStack defines them; the e2e suite runs
# this file with a shim of them (devstack/tests/harness.sh).

# is_tricircle_enabled: the original's test, kept for other plugins.
function is_tricircle_enabled {
    [[ ,${ENABLED_SERVICES} =~ ,"t-api" ]] && return 0
    return 1
}

function tricircle_stock_mode {
    [[ "$TRICIRCLE_NEUTRON_MODE" == stock ]]
}

# Refuses settings this plugin cannot honour, naming the variable.
function tricircle_check_settings {
    case "$TRICIRCLE_NEUTRON_MODE" in
    stock | plugin) ;;
    *) die $LINENO "TRICIRCLE_NEUTRON_MODE must be stock or plugin (got '$TRICIRCLE_NEUTRON_MODE')" ;;
    esac
    case "$TRICIRCLE_DEPLOY_WITH_WSGI" in
    True | False) ;;
    *) die $LINENO "TRICIRCLE_DEPLOY_WITH_WSGI must be True or False (got '$TRICIRCLE_DEPLOY_WITH_WSGI')" ;;
    esac
    local entry
    for entry in $TRICIRCLE_POD_NOTIFICATIONS; do
        if [[ "$entry" != ?*=rabbit://* ]]; then
            die $LINENO "TRICIRCLE_POD_NOTIFICATIONS: '$entry' is not REGION=rabbit://user:pass@host:port/vhost"
        fi
    done
}

# The binaries' directory of cargo's TRICIRCLE_CARGO_PROFILE build.
function tricircle_build_dir {
    local target=${CARGO_TARGET_DIR:-$TRICIRCLE_DIR/target}
    case "$TRICIRCLE_CARGO_PROFILE" in
    dev | test) echo "$target/debug" ;;
    *) echo "$target/$TRICIRCLE_CARGO_PROFILE" ;;
    esac
}

# install_tricircle() - build our binaries and install them in
# TRICIRCLE_BIN_DIR.
function install_tricircle {
    if ! command -v cargo >/dev/null; then
        die $LINENO "cargo is not installed: install Rust (https://rustup.rs) for the stack user"
    fi
    # The database drivers' client libraries (diesel links them; libpq is
    # built into the binaries against the system's OpenSSL).
    install_package pkg-config libssl-dev libsqlite3-dev libpq-dev default-libmysqlclient-dev
    local features=()
    if [[ "$TRICIRCLE_SYSTEM_LIBPQ" == "True" ]]; then
        features=(--no-default-features)
    fi
    (cd "$TRICIRCLE_DIR" && cargo build --profile "$TRICIRCLE_CARGO_PROFILE" "${features[@]}" \
        --bin tricircle-api --bin tricircle-xjob --bin tricircle-db-manage --bin tricircle-status) ||
        die $LINENO "cargo build of the Tricircle binaries failed"
    local build b
    build=$(tricircle_build_dir)
    sudo install -d -m 755 "$TRICIRCLE_BIN_DIR"
    for b in tricircle-api tricircle-xjob tricircle-db-manage tricircle-status; do
        sudo install -m 755 "$build/$b" "$TRICIRCLE_BIN_DIR/$b"
    done
}

# create_tricircle_accounts() - Set up common required tricircle
# service accounts in keystone
# Project               User            Roles
# -------------------------------------------------------------------------
# $SERVICE_PROJECT_NAME tricircle       admin
function create_tricircle_accounts {
    if is_service_enabled t-api; then
        create_service_user "tricircle" "admin"
        local tricircle_api tricircle_api_url
        tricircle_api=$(get_or_create_service "tricircle" \
            "tricircle" "Cross Neutron Networking Automation Service")
        tricircle_api_url=$(tricircle_api_url)/v1.0
        get_or_create_endpoint "$tricircle_api" \
            "$CENTRAL_REGION_NAME" \
            "$tricircle_api_url" \
            "$tricircle_api_url" \
            "$tricircle_api_url" >/dev/null
    fi
}

# The API's base URL as clients reach it: Apache's /tricircle with
# TRICIRCLE_DEPLOY_WITH_WSGI=True (as the original), else its own port.
function tricircle_api_url {
    if [[ "$TRICIRCLE_DEPLOY_WITH_WSGI" == "True" ]]; then
        echo "$TRICIRCLE_API_PROTOCOL://$TRICIRCLE_API_HOST/tricircle"
    else
        echo "$TRICIRCLE_API_PROTOCOL://$TRICIRCLE_API_HOST:$TRICIRCLE_API_PORT"
    fi
}

# Where Apache reaches our tricircle-api.
function tricircle_api_backend {
    local host=$TRICIRCLE_API_LISTEN_ADDRESS
    [[ "$host" == 0.0.0.0 ]] && host=127.0.0.1
    echo "http://$host:$TRICIRCLE_API_PORT/tricircle"
}

# configure_tricircle_api_proxy() - TRICIRCLE_DEPLOY_WITH_WSGI=True: Apache
# serves /tricircle, where the original's WSGI site was, by proxying to our
# tricircle-api (which answers under that prefix too, api_path_prefix).
function configure_tricircle_api_proxy {
    local site backend
    site=$(apache_site_config_for tricircle-api)
    backend=$(tricircle_api_backend)
    enable_apache_mod proxy
    enable_apache_mod proxy_http
    sudo tee "$site" >/dev/null <<APACHE
# tricircle-api at /tricircle (written by the Tricircle DevStack plugin)
ProxyPass "/tricircle" "$backend" retry=0
ProxyPassReverse "/tricircle" "$backend"
ProxyPreserveHost On
APACHE
    enable_apache_site tricircle-api
    restart_apache_server
}

# create_tricircle_cache_dir() - Set up cache dir for tricircle
function create_tricircle_cache_dir {
    sudo rm -rf "$TRICIRCLE_AUTH_CACHE_DIR"
    sudo install -d -o "$STACK_USER" "$TRICIRCLE_AUTH_CACHE_DIR"
}

# The [tricircle] networking options, from DevStack's ML2 variables: the
# original's central plugin read them; stock mode's xjob builds the bridge
# networks from them.
function init_tricircle_network_options {
    local conf_file=$1
    local type_drivers='' vlan_ranges
    if [[ -n "$Q_ML2_PLUGIN_VXLAN_TYPE_OPTIONS" ]]; then
        type_drivers+=,vxlan
        iniset "$conf_file" tricircle vni_ranges "${Q_ML2_PLUGIN_VXLAN_TYPE_OPTIONS#*=}"
    fi
    if [[ -n "$Q_ML2_PLUGIN_VLAN_TYPE_OPTIONS" ]]; then
        type_drivers+=,vlan
        vlan_ranges=${Q_ML2_PLUGIN_VLAN_TYPE_OPTIONS#*=}
        iniset "$conf_file" tricircle network_vlan_ranges "$vlan_ranges"
        # The guides' bridge networks: one VLAN per project on "bridge".
        if [[ ",$vlan_ranges" == *",bridge:"* ]]; then
            iniset "$conf_file" tricircle bridge_network_type vlan
        fi
    fi
    if [[ -n "$Q_ML2_PLUGIN_FLAT_TYPE_OPTIONS" ]]; then
        type_drivers+=,flat
        iniset "$conf_file" tricircle flat_networks "${Q_ML2_PLUGIN_FLAT_TYPE_OPTIONS#*=}"
    fi
    type_drivers+=,local
    iniset "$conf_file" tricircle type_drivers "${type_drivers#,}"
    iniset "$conf_file" tricircle tenant_network_types "${type_drivers#,}"
    iniset "$conf_file" tricircle enable_api_gateway False
}

# common config-file configuration for tricircle services
function init_common_tricircle_conf {
    local conf_file=$1

    touch "$conf_file"
    iniset "$conf_file" DEFAULT debug "$ENABLE_DEBUG_LOG_LEVEL"
    iniset "$conf_file" DEFAULT use_syslog "$SYSLOG"
    iniset "$conf_file" DEFAULT tricircle_db_connection "$(database_connection_url tricircle)"

    # Seed 000's fix: both URLs written, so the pods' clients reach Keystone.
    iniset "$conf_file" client auth_url "$KEYSTONE_SERVICE_URI"
    iniset "$conf_file" client identity_url "$KEYSTONE_SERVICE_URI/v3"
    iniset "$conf_file" client admin_username admin
    iniset "$conf_file" client admin_password "$ADMIN_PASSWORD"
    # The project DevStack's admin is bootstrapped with (the original said
    # demo, where admin has a role only in some DevStack versions).
    iniset "$conf_file" client admin_tenant admin
    iniset "$conf_file" client auto_refresh_endpoint True
    iniset "$conf_file" client top_region_name "$CENTRAL_REGION_NAME"

    iniset_rpc_backend tricircle "$conf_file"
    init_tricircle_network_options "$conf_file"
    if tricircle_stock_mode; then
        # Both services: the API checks ownership in the central Neutron.
        iniset "$conf_file" xjob stock_neutron True
    fi
}

# The regions whose notifications xjob follows, "REGION URL" per line: the
# central one and this node's pod (same RabbitMQ), then the other nodes'.
function tricircle_notification_sources {
    local url entry
    url=$(get_notification_url)
    echo "$CENTRAL_REGION_NAME $url"
    if is_service_enabled q-svc neutron-api; then
        echo "$REGION_NAME $url"
    fi
    for entry in $TRICIRCLE_POD_NOTIFICATIONS; do
        echo "${entry%%=*} ${entry#*=}"
    done
}

# The topic a region's Neutron publishes Tricircle's copy of its
# notifications on: one per region, as several Neutron servers may share
# one RabbitMQ vhost.
function tricircle_notification_topic {
    echo "tricircle_$1"
}

# Notifications on, for xjob: a Neutron configuration file of REGION.
function init_neutron_notifications {
    local conf_file=$1 region=$2
    iniset "$conf_file" oslo_messaging_notifications driver messagingv2
    iniset "$conf_file" oslo_messaging_notifications transport_url "$(get_notification_url)"
    iniset "$conf_file" oslo_messaging_notifications topics \
        "notifications,$(tricircle_notification_topic "$region")"
}

function configure_tricircle_api {
    if is_service_enabled t-api; then
        echo "Configuring Tricircle API"

        init_common_tricircle_conf "$TRICIRCLE_API_CONF"
        iniset "$TRICIRCLE_API_CONF" DEFAULT bind_host "$TRICIRCLE_API_LISTEN_ADDRESS"
        iniset "$TRICIRCLE_API_CONF" DEFAULT bind_port "$TRICIRCLE_API_PORT"
        if [[ "$TRICIRCLE_DEPLOY_WITH_WSGI" == "True" ]]; then
            iniset "$TRICIRCLE_API_CONF" DEFAULT api_path_prefix /tricircle
        fi
        iniset "$TRICIRCLE_API_CONF" DEFAULT api_workers "$API_WORKERS"

        if is_service_enabled keystone key; then
            create_tricircle_cache_dir
            iniset "$TRICIRCLE_API_CONF" DEFAULT auth_strategy keystone
            # DevStack names its CA bundle even without TLS, where the file
            # may not exist: the API reads it only for an https Keystone.
            configure_keystone_authtoken_middleware "$TRICIRCLE_API_CONF" tricircle
        else
            iniset "$TRICIRCLE_API_CONF" DEFAULT auth_strategy noauth
        fi
    fi
}

function configure_tricircle_xjob {
    if is_service_enabled t-job; then
        echo "Configuring Tricircle xjob"

        init_common_tricircle_conf "$TRICIRCLE_XJOB_CONF"
        iniset "$TRICIRCLE_XJOB_CONF" DEFAULT host "$(hostname)"

        if tricircle_stock_mode; then
            local region url regions=()
            while read -r region url; do
                regions+=("$region")
                iniset "$TRICIRCLE_XJOB_CONF" "notifications_$region" transport_url "$url"
                iniset "$TRICIRCLE_XJOB_CONF" "notifications_$region" topics \
                    "$(tricircle_notification_topic "$region")"
                # One queue per region: a pool names the queue, and regions
                # may share a vhost.
                iniset "$TRICIRCLE_XJOB_CONF" "notifications_$region" pool "tricircle-xjob-$region"
            done < <(tricircle_notification_sources)
            local IFS=,
            iniset "$TRICIRCLE_XJOB_CONF" xjob notification_regions "${regions[*]}"
            iniset "$TRICIRCLE_XJOB_CONF" xjob reconcile_interval "$TRICIRCLE_RECONCILE_INTERVAL"
        fi
    fi
}

# Set the environment variables for local Neutron(s)
function init_local_neutron_variables {
    export Q_USE_PROVIDERNET_FOR_PUBLIC=True

    Q_ML2_PLUGIN_VLAN_TYPE_OPTIONS=${Q_ML2_PLUGIN_VLAN_TYPE_OPTIONS:-}
    Q_ML2_PLUGIN_VXLAN_TYPE_OPTIONS=${Q_ML2_PLUGIN_VXLAN_TYPE_OPTIONS:-}
    # if VLAN options were not set in local.conf, use default VLAN bridge
    # and VLAN options
    if [[ -z "$Q_ML2_PLUGIN_VLAN_TYPE_OPTIONS" ]]; then
        export TRICIRCLE_ADD_DEFAULT_BRIDGES=True

        Q_ML2_PLUGIN_VLAN_TYPE_OPTIONS="network_vlan_ranges=bridge:$TRICIRCLE_DEFAULT_VLAN_RANGE,extern:$TRICIRCLE_DEFAULT_EXT_RANGE"
        Q_ML2_PLUGIN_VXLAN_TYPE_OPTIONS="vni_ranges=$TRICIRCLE_DEFAULT_VXLAN_RANGE"
        Q_ML2_PLUGIN_FLAT_TYPE_OPTIONS="flat_networks=$TRICIRCLE_DEFAULT_FLAT_NETWORKS"

        OVS_BRIDGE_MAPPINGS="bridge:$TRICIRCLE_DEFAULT_VLAN_BRIDGE,extern:$TRICIRCLE_DEFAULT_EXT_BRIDGE"
    elif [[ ",$OVS_BRIDGE_MAPPINGS" != *",extern:"* ]]; then
        # Seed 000's fix: every node maps "extern", so an external network
        # can be placed in any pod (and a one-node gate can test it).
        OVS_BRIDGE_MAPPINGS="${OVS_BRIDGE_MAPPINGS:+$OVS_BRIDGE_MAPPINGS,}extern:$TRICIRCLE_DEFAULT_EXT_BRIDGE"
        export TRICIRCLE_ADD_DEFAULT_EXT_BRIDGE=True
    fi
    if [[ "$TRICIRCLE_ENABLE_TRUNK" == "True" ]]; then
        _neutron_service_plugin_class_add trunk
    fi
    if tricircle_stock_mode && [[ "$TRICIRCLE_ENABLE_QOS" == "True" ]]; then
        _neutron_service_plugin_class_add qos
    fi
}

function add_default_bridges {
    if [[ "$TRICIRCLE_ADD_DEFAULT_BRIDGES" == "True" ]]; then
        _neutron_ovs_base_add_bridge "$TRICIRCLE_DEFAULT_VLAN_BRIDGE"
        _neutron_ovs_base_add_bridge "$TRICIRCLE_DEFAULT_EXT_BRIDGE"
    elif [[ "${TRICIRCLE_ADD_DEFAULT_EXT_BRIDGE:-False}" == "True" ]]; then
        _neutron_ovs_base_add_bridge "$TRICIRCLE_DEFAULT_EXT_BRIDGE"
    fi
}

# The local Neutron of this node's pod.
function init_local_neutron_conf {
    if tricircle_stock_mode; then
        init_neutron_notifications "$NEUTRON_CONF" "$REGION_NAME"
    else
        iniset "$NEUTRON_CONF" DEFAULT core_plugin tricircle.network.local_plugin.TricirclePlugin
        iniset "$NEUTRON_CONF" client auth_url "$KEYSTONE_SERVICE_URI"
        iniset "$NEUTRON_CONF" client identity_url "$KEYSTONE_SERVICE_URI/v3"
        iniset "$NEUTRON_CONF" client admin_username admin
        iniset "$NEUTRON_CONF" client admin_password "$ADMIN_PASSWORD"
        iniset "$NEUTRON_CONF" client admin_tenant admin
        iniset "$NEUTRON_CONF" client auto_refresh_endpoint True
        iniset "$NEUTRON_CONF" client top_pod_name "$CENTRAL_REGION_NAME"

        iniset "$NEUTRON_CONF" tricircle real_core_plugin neutron.plugins.ml2.plugin.Ml2Plugin
        iniset "$NEUTRON_CONF" tricircle local_region_name "$REGION_NAME"
        iniset "$NEUTRON_CONF" tricircle central_neutron_url "$Q_PROTOCOL://$SERVICE_HOST:$TRICIRCLE_NEUTRON_PORT"
    fi
    if [[ "$TRICIRCLE_DEPLOY_WITH_CELL" == "True" ]]; then
        iniset "$NEUTRON_CONF" nova region_name "$CENTRAL_REGION_NAME"
    fi
}

function init_local_nova_conf {
    iniset "$NOVA_CONF" glance api_servers "$GLANCE_URL"
    iniset "$NOVA_CONF" placement os_region_name "$CENTRAL_REGION_NAME"
}

# The central Neutron server's service plugins and plugin options.
function configure_central_neutron_plugins {
    local conf_file=$1 service_plugins=''
    if tricircle_stock_mode; then
        iniset "$conf_file" DEFAULT core_plugin ml2
        service_plugins=router
        [[ "$TRICIRCLE_ENABLE_TRUNK" == "True" ]] && service_plugins+=,trunk
        [[ "$TRICIRCLE_ENABLE_SFC" == "True" ]] && service_plugins+=,flow_classifier,sfc
        [[ "$TRICIRCLE_ENABLE_QOS" == "True" ]] && service_plugins+=,qos
        iniset "$conf_file" DEFAULT service_plugins "$service_plugins"
        init_neutron_notifications "$conf_file" "$CENTRAL_REGION_NAME"
        return
    fi

    iniset "$conf_file" DEFAULT core_plugin tricircle.network.central_plugin.TricirclePlugin
    iniset "$conf_file" DEFAULT tricircle_db_connection "$(database_connection_url tricircle)"
    iniset "$conf_file" client auth_url "$KEYSTONE_SERVICE_URI"
    iniset "$conf_file" client identity_url "$KEYSTONE_SERVICE_URI/v3"
    iniset "$conf_file" client admin_username admin
    iniset "$conf_file" client admin_password "$ADMIN_PASSWORD"
    iniset "$conf_file" client admin_tenant admin
    iniset "$conf_file" client auto_refresh_endpoint True
    iniset "$conf_file" client top_region_name "$CENTRAL_REGION_NAME"
    if [[ "$TRICIRCLE_ENABLE_TRUNK" == "True" ]]; then
        service_plugins+=,tricircle.network.central_trunk_plugin.TricircleTrunkPlugin
    fi
    if [[ "$TRICIRCLE_ENABLE_SFC" == "True" ]]; then
        service_plugins+=,networking_sfc.services.flowclassifier.plugin.FlowClassifierPlugin,tricircle.network.central_sfc_plugin.TricircleSfcPlugin
        iniset "$conf_file" sfc drivers tricircle_sfc
        iniset "$conf_file" flowclassifier drivers tricircle_fc
    fi
    if [[ "$TRICIRCLE_ENABLE_QOS" == "True" ]]; then
        service_plugins+=,tricircle.network.central_qos_plugin.TricircleQosPlugin
    fi
    iniset "$conf_file" DEFAULT service_plugins "${service_plugins#,}"
    init_tricircle_network_options "$conf_file"

    # The central plugin tells its own requests apart by this filter.
    local api_paste_ini=$NEUTRON_CONF_DIR/api-paste.ini
    sudo sed -e "
        /^keystone.*neutronapiapp/s/neutronapiapp/request_source &/;
        /app:neutronapiapp/i\[filter:request_source]\npaste.filter_factory = tricircle.common.request_source:RequestSource.factory\n
    " -i "$api_paste_ini"
}

# The central Neutron server (q-svc0): its own database and port, registered
# as the network service of the central region.
function start_central_neutron_server {
    local server_index=0
    local region_name=$1
    local q_port=$2
    local conf_file=$NEUTRON_CONF.$server_index

    get_or_create_service "neutron" "network" "Neutron Service" >/dev/null
    get_or_create_endpoint "network" \
        "$region_name" \
        "$Q_PROTOCOL://$SERVICE_HOST:$q_port/" \
        "$Q_PROTOCOL://$SERVICE_HOST:$q_port/" \
        "$Q_PROTOCOL://$SERVICE_HOST:$q_port/" >/dev/null

    echo "Configuring the central Neutron ($TRICIRCLE_NEUTRON_MODE mode)"
    cp "$NEUTRON_CONF" "$conf_file"
    iniset "$conf_file" database connection "$(database_connection_url "$Q_DB_NAME$server_index")"
    iniset "$conf_file" DEFAULT bind_port "$q_port"
    iniset "$conf_file" DEFAULT notify_nova_on_port_data_changes False
    iniset "$conf_file" DEFAULT notify_nova_on_port_status_changes False
    configure_central_neutron_plugins "$conf_file"

    if [[ "$TRICIRCLE_ENABLE_QOS" == "True" ]]; then
        local p_exist
        p_exist=$(grep "^extension_drivers" "/$Q_PLUGIN_CONF_FILE" || true)
        if [[ -n "$p_exist" ]]; then
            if [[ "$p_exist" != *qos* ]]; then
                sed -i "s/$p_exist/$p_exist,qos/g" "/$Q_PLUGIN_CONF_FILE"
            fi
        else
            sed -i "s/^\[ml2\]/\[ml2\]\nextension_drivers = qos/g" "/$Q_PLUGIN_CONF_FILE"
        fi
    fi

    recreate_database "$Q_DB_NAME$server_index"
    "$NEUTRON_BIN_DIR/neutron-db-manage" --config-file "$conf_file" \
        --config-file "/$Q_PLUGIN_CONF_FILE" upgrade heads ||
        die $LINENO "neutron-db-manage failed for the central Neutron"

    enable_service "q-svc$server_index"
    run_process "q-svc$server_index" "$NEUTRON_BIN_DIR/neutron-server --config-file $conf_file --config-file /$Q_PLUGIN_CONF_FILE"
}

function start_central_nova_server {
    local local_region=$1
    local central_region=$2
    local central_neutron_port=$3
    local nova_url nova_legacy_url central_image_endpoint_id glance_url place_endpoint_id

    echo "Configuring Nova API for Tricircle to work with cell V2"

    iniset "$NOVA_CONF" neutron region_name "$central_region"
    iniset "$NOVA_CONF" neutron url "$Q_PROTOCOL://$SERVICE_HOST:$central_neutron_port"

    # New endpoints in the central region rather than moving the local
    # region's: DevStack checks nova-compute through the local region's.
    nova_url=$(openstack endpoint list --service compute --interface public --region "$local_region" -c URL -f value)
    get_or_create_endpoint "compute" "$central_region" "$nova_url"
    nova_legacy_url=$(openstack endpoint list --service compute_legacy --interface public --region "$local_region" -c URL -f value)
    if [[ -n "$nova_legacy_url" ]]; then
        get_or_create_endpoint "compute_legacy" "$central_region" "$nova_legacy_url"
    fi

    central_image_endpoint_id=$(openstack endpoint list --service image --interface public --region "$central_region" -c ID -f value)
    if [[ -z "$central_image_endpoint_id" ]]; then
        glance_url=$(openstack endpoint list --service image --interface public --region "$local_region" -c URL -f value)
        get_or_create_endpoint "image" "$central_region" "$glance_url"
    fi

    place_endpoint_id=$(openstack endpoint list --service placement --interface public --region "$local_region" -c ID -f value)
    openstack endpoint set --region "$central_region" "$place_endpoint_id"

    restart_service devstack@n-api
    restart_apache_server
}

# The original's Neutron plugins (plugin mode), from TRICIRCLE_PLUGIN_PACKAGE.
function install_tricircle_neutron_plugins {
    pip_install "$TRICIRCLE_PLUGIN_PACKAGE"
}

function start_tricircle_services {
    if is_service_enabled t-api; then
        run_process t-api "$TRICIRCLE_BIN_DIR/tricircle-api --config-file $TRICIRCLE_API_CONF"
        echo "Waiting for tricircle-api to start..."
        if ! wait_for_service "$SERVICE_TIMEOUT" "$TRICIRCLE_API_PROTOCOL://$TRICIRCLE_API_HOST:$TRICIRCLE_API_PORT/"; then
            die $LINENO "tricircle-api did not start"
        fi
        if [[ "$TRICIRCLE_DEPLOY_WITH_WSGI" == "True" ]]; then
            configure_tricircle_api_proxy
            if ! wait_for_service "$SERVICE_TIMEOUT" "$(tricircle_api_url)"; then
                die $LINENO "Apache does not serve tricircle-api at $(tricircle_api_url)"
            fi
        fi
    fi
    if is_service_enabled t-job; then
        run_process t-job "$TRICIRCLE_BIN_DIR/tricircle-xjob --config-file $TRICIRCLE_XJOB_CONF"
    fi
}

# ------------------------------------------------------------------ phases

if [[ "$1" == "stack" && "$2" == "pre-install" ]]; then
    echo_summary "Tricircle pre-install"
    tricircle_check_settings
    init_local_neutron_variables

elif [[ "$1" == "stack" && "$2" == "install" ]]; then
    echo_summary "Installing Tricircle"
    if [[ "$TRICIRCLE_START_SERVICES" == "True" ]]; then
        install_tricircle
    fi
    if ! tricircle_stock_mode; then
        install_tricircle_neutron_plugins
    fi

elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
    echo_summary "Configuring Tricircle"
    export NEUTRON_CREATE_INITIAL_NETWORKS=False

    if [[ "$TRICIRCLE_START_SERVICES" == "True" ]]; then
        sudo install -d -o "$STACK_USER" -m 755 "$TRICIRCLE_CONF_DIR"
        enable_service t-api t-job
        configure_tricircle_api
        configure_tricircle_xjob

        recreate_database tricircle
        "$TRICIRCLE_BIN_DIR/tricircle-db-manage" --config-file "$TRICIRCLE_API_CONF" db_sync ||
            die $LINENO "tricircle-db-manage db_sync failed"

        if is_service_enabled q-svc neutron-api; then
            start_central_neutron_server "$CENTRAL_REGION_NAME" "$TRICIRCLE_NEUTRON_PORT"
        fi
    fi

    # update the local neutron.conf after the central Neutron has started
    if is_service_enabled q-svc neutron-api; then
        init_local_neutron_conf
    fi

    if is_service_enabled nova; then
        if [[ "$TRICIRCLE_DEPLOY_WITH_CELL" == "True" ]]; then
            init_local_nova_conf
        else
            iniset "$NOVA_CONF" glance region_name "$REGION_NAME"
        fi
    fi

    # add default bridges br-vlan, br-ext if needed, ovs-vsctl
    # is just being installed before this stage
    add_default_bridges

elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
    echo_summary "Initializing Tricircle Service"

    if is_service_enabled t-api; then
        create_tricircle_accounts
    fi
    start_tricircle_services
    if is_service_enabled t-api && [[ "$TRICIRCLE_DEPLOY_WITH_CELL" == "True" && "$TRICIRCLE_START_SERVICES" == "True" ]]; then
        start_central_nova_server "$REGION_NAME" "$CENTRAL_REGION_NAME" "$TRICIRCLE_NEUTRON_PORT"
    fi
fi

if [[ "$1" == "unstack" ]]; then
    if is_service_enabled t-api; then
        if [[ "$TRICIRCLE_DEPLOY_WITH_WSGI" == "True" ]]; then
            disable_apache_site tricircle-api
            restart_apache_server
        fi
        stop_process t-api
    fi
    if is_service_enabled t-job; then
        stop_process t-job
    fi
    if is_service_enabled q-svc0; then
        stop_process q-svc0
    fi
fi

if [[ "$1" == "clean" ]]; then
    sudo rm -rf "$TRICIRCLE_CONF_DIR" "$TRICIRCLE_AUTH_CACHE_DIR"
    sudo rm -f "$(apache_site_config_for tricircle-api)"
fi
