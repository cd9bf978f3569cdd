# shellcheck shell=bash
# shellcheck disable=SC1091  # demo.env is written at run time
# The walk-through scripts/run prints (everything below the "-- walk --"
# line), run as it is by `TRICIRCLE_DEMO_CHECK=1 scripts/run`. A person
# pastes it, a block at a time, into a shell in the checkout. The tenant's
# calls are plain Neutron calls in the regions; nobody posts a job: xjob
# follows the regions' notifications.
# -- walk --
# 0. Addresses and tenant (written by tricircle-demo), helpers, a token.
. "${TRICIRCLE_DEMO_DATA:-data}/demo.env"; API="${TRICIRCLE_DEMO_API:-http://127.0.0.1:19999}"
TOKEN=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' "$KEYSTONE/v3/auth/tokens" -d '{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "'"$DEMO_USER"'", "domain": {"name": "Default"}, "password": "'"$DEMO_PASSWORD"'"}}}, "scope": {"project": {"name": "'"$DEMO_PROJECT"'", "domain": {"name": "Default"}}}}}' | tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: //p')
n() { curl -s -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' "$@"; echo; }     # Neutron, as the tenant
first_id() { grep -o '"id": *"[^"]*"' | head -n 1 | cut -d '"' -f 4; }                           # the first id of an answer
tapi() { curl -s -H 'X-Role: admin' -H "X-Tenant-Id: $DEMO_PROJECT_ID" "$API$1"; echo; }      # the admin API, as the tenant's admin
bottom() { tapi "/v1.0/routings?top_id=$1&resource_type=$2" | grep -o '"bottom_id": *"[^"]*"' | cut -d '"' -f 4; }     # a copy's id in a pod, once made
copy() { for _ in $(seq 100); do b=$(bottom "$1" network); [ -n "$b" ] && [ -n "$(bottom "$2" subnet)" ] && break; sleep 0.1; done; echo "$b"; }  # a network's copy in a pod, with its subnet's

# 1. net1 (az1) and net2 (az2) with subnets, in the central region.
NET1=$(n -X POST "$CENTRAL/networks" -d '{"network": {"name": "net1", "availability_zone_hints": ["az1"]}}' | first_id)
SUB1=$(n -X POST "$CENTRAL/subnets" -d '{"subnet": {"name": "subnet1", "network_id": "'"$NET1"'", "cidr": "10.0.1.0/24", "ip_version": 4}}' | first_id)
NET2=$(n -X POST "$CENTRAL/networks" -d '{"network": {"name": "net2", "availability_zone_hints": ["az2"]}}' | first_id)
SUB2=$(n -X POST "$CENTRAL/subnets" -d '{"subnet": {"name": "subnet2", "network_id": "'"$NET2"'", "cidr": "10.0.2.0/24", "ip_version": 4}}' | first_id)

# 2. A router with an interface on each.
ROUTER=$(n -X POST "$CENTRAL/routers" -d '{"router": {"name": "router"}}' | first_id)
n -X PUT "$CENTRAL/routers/$ROUTER/add_router_interface" -d '{"subnet_id": "'"$SUB1"'"}'
n -X PUT "$CENTRAL/routers/$ROUTER/add_router_interface" -d '{"subnet_id": "'"$SUB2"'"}'

# 3. A VM in each pod, as Nova boots one: a compute port on the pod's copy
#    of the network, once its subnet's copy is there too (xjob made the
#    copies; the routing table names them).
n -X POST "$REGION_ONE/ports" -d '{"port": {"name": "vm1", "network_id": "'"$(copy "$NET1" "$SUB1")"'", "device_owner": "compute:nova", "device_id": "'"$(cat /proc/sys/kernel/random/uuid)"'"}}'
n -X POST "$REGION_TWO/ports" -d '{"port": {"name": "vm2", "network_id": "'"$(copy "$NET2" "$SUB2")"'", "device_owner": "compute:nova", "device_id": "'"$(cat /proc/sys/kernel/random/uuid)"'"}}'

# 4. A moment later: each pod's router (its copy of "router", routed to
#    the other pod's VM as <address>/32 through the bridge network), the
#    bridge network, the VMs' mirrors in the central region, and the jobs.
n "$REGION_ONE/routers"; n "$REGION_TWO/routers"
n "$CENTRAL/networks?name=bridge_net_$DEMO_PROJECT_ID"   # its copies in the pods are named after its id:
n "$REGION_ONE/networks"; n "$REGION_TWO/networks"
n "$CENTRAL/ports?device_owner=compute:nova"
tapi /v1.0/jobs
