"""The multi-pod guide's networking on real Neutron servers (stock ML2, no
Tricircle plugins; our xjob runs with [xjob] stock_neutron = true).

The tenant side is done through the central Neutron only: net1 (az1) and
net2 (az2) with subnets, a router with both interfaces and a gateway on
ext-net (hosted in RegionTwo, az2), a VM port in each network, a floating IP
on each VM (vm2 lives in the external network's pod, vm1 in the other one:
the shadow path). The jobs are created through our API (POST /v1.0/jobs)
with a real Keystone token; each region's Neutron is then queried directly.

Phases, in order: the walk, a rerun of every job (nothing may change), a
fault (RegionOne's neutron-server stopped while its job runs: FAIL, then the
periodic redo brings the same state back once it is started again), and the
tenant taking the floating IPs and the gateway away.
Needs scripts/e2e.d/api_checks.py to have registered the pods."""

import ipaddress
import json
import os
import subprocess
import time

from e2elib import (Checks, Failed, admin_token, call, env, expect_equal, request,
                    token_and_project)

API = env["TRICIRCLE_E2E_API_URL"]
NEUTRON = {
    "CentralRegion": env["TRICIRCLE_E2E_NEUTRON_CENTRAL_URL"] + "/v2.0",
    "RegionOne": env["TRICIRCLE_E2E_NEUTRON_R1_URL"] + "/v2.0",
    "RegionTwo": env["TRICIRCLE_E2E_NEUTRON_R2_URL"] + "/v2.0",
}
PODS = ("RegionOne", "RegionTwo")
STATE = os.path.join(env["TRICIRCLE_E2E_STATE"], "tricircle")
SETTLE_TIMEOUT = int(env.get("TRICIRCLE_E2E_SETTLE_TIMEOUT", "240"))
BRIDGE_CIDR = ipaddress.ip_network("100.0.0.0/9")

checks = Checks()
tok, project = token_and_project(env["TRICIRCLE_E2E_ADMIN_USER"], env["TRICIRCLE_E2E_ADMIN_PROJECT"],
                                 env["TRICIRCLE_E2E_ADMIN_PASSWORD"])
with open(os.path.join(STATE, "pods.json")) as f:
    POD_IDS = json.load(f)


def refresh_token():
    global tok
    tok = admin_token()


# ----------------------------------------------------------------- Neutron

def nget(region, path):
    return call("GET", NEUTRON[region] + path, tok)


def npost(region, collection, body):
    key = collection[:-1] if collection != "subnetpools" else "subnetpool"
    return call("POST", "%s/%s" % (NEUTRON[region], collection), tok, {key: body},
                expect=(201,))[key]


def nput(region, path, body):
    return call("PUT", NEUTRON[region] + path, tok, body)


def listing(region, collection, query=""):
    return nget(region, "/%s%s" % (collection, query))[collection]


def wipe(region):
    """One pass deleting everything in a region's Neutron. Refusals (409:
    in use, 400: a subnet pool still allocated, 404: gone meanwhile) are
    left to the next pass: xjob follows the regions' notifications, so while
    the old router still exists it may add a helper port or bridge subnet
    behind the wipe."""
    tolerate = (200, 201, 204, 400, 404, 409)
    for fip in listing(region, "floatingips"):
        call("DELETE", "%s/floatingips/%s" % (NEUTRON[region], fip["id"]), tok, expect=tolerate)
    for router in listing(region, "routers"):
        rid = router["id"]
        call("PUT", NEUTRON[region] + "/routers/" + rid, tok, {"router": {"routes": []}},
             expect=tolerate)
        call("PUT", NEUTRON[region] + "/routers/" + rid,
             tok, {"router": {"external_gateway_info": {}}}, expect=tolerate)
        for port in listing(region, "ports", "?device_id=%s&device_owner=network:router_interface" % rid):
            call("PUT", NEUTRON[region] + "/routers/%s/remove_router_interface" % rid, tok,
                 {"port_id": port["id"]}, expect=tolerate)
        call("DELETE", "%s/routers/%s" % (NEUTRON[region], rid), tok, expect=tolerate)
    for port in listing(region, "ports"):
        call("DELETE", "%s/ports/%s" % (NEUTRON[region], port["id"]), tok, expect=tolerate)
    for net in listing(region, "networks"):
        call("DELETE", "%s/networks/%s" % (NEUTRON[region], net["id"]), tok, expect=tolerate)
    for pool in listing(region, "subnetpools"):
        call("DELETE", "%s/subnetpools/%s" % (NEUTRON[region], pool["id"]), tok, expect=tolerate)


def wipe_all(timeout=120):
    """Every region's Neutron emptied: the walk starts from nothing (these
    servers are the suite's own). Passes repeat until all are empty."""
    regions = ("RegionOne", "RegionTwo", "CentralRegion")
    deadline = time.monotonic() + timeout
    while True:
        for r in regions:
            wipe(r)
        left = {r: [c for c in ("routers", "ports", "networks", "subnetpools") if listing(r, c)]
                for r in regions}
        if not any(left.values()):
            return
        if time.monotonic() > deadline:
            raise Failed("not emptied within %ss: %s" % (timeout, left))
        time.sleep(2)


SNAPSHOT_FIELDS = {
    "networks": ("id", "name", "router:external", "shared", "provider:network_type",
                 "provider:physical_network", "provider:segmentation_id"),
    "subnets": ("id", "name", "network_id", "cidr", "gateway_ip", "allocation_pools",
                "enable_dhcp", "host_routes", "subnetpool_id"),
    "ports": ("id", "name", "network_id", "fixed_ips", "mac_address", "device_owner",
              "device_id"),
    "routers": ("id", "name", "external_gateway_info", "routes"),
    "floatingips": ("id", "floating_ip_address", "floating_network_id", "port_id",
                    "fixed_ip_address", "router_id"),
    "subnetpools": ("id", "name", "prefixes", "shared"),
}


def canonical(value):
    """Lists of dicts in a stable order, so only content is compared."""
    if isinstance(value, list):
        items = [canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    return value


def snapshot():
    out = {}
    for region in NEUTRON:
        for collection, fields in SNAPSHOT_FIELDS.items():
            rows = [{k: r.get(k) for k in fields} for r in listing(region, collection)]
            out["%s %s" % (region, collection)] = canonical(rows)
    return out


def describe_difference(before, after):
    lines = []
    for key in sorted(set(before) | set(after)):
        b = {r["id"]: r for r in before.get(key, [])}
        a = {r["id"]: r for r in after.get(key, [])}
        for rid in sorted(set(b) | set(a)):
            if b.get(rid) != a.get(rid):
                lines.append("%s %s: %s -> %s" % (key, rid, b.get(rid), a.get(rid)))
    return "; ".join(lines)[:3000]


def expect_same(what, before, after):
    if before != after:
        raise Failed("%s: %s" % (what, describe_difference(before, after)))


# ----------------------------------------------------------------- our API

def api(method, path, body=None, expect=(200,)):
    return call(method, API + path, tok, body, expect=expect)


def post_job(job_type, resource):
    return api("POST", "/jobs", {"job": {"type": job_type, "project_id": project,
                                         "resource": resource}})["job"]


def jobs(**filters):
    query = "&".join("%s=%s" % kv for kv in filters.items())
    return api("GET", "/jobs?limit=1000" + ("&" + query if query else ""))["jobs"]


def settle(timeout=SETTLE_TIMEOUT):
    """Waits until no job is NEW, RUNNING or FAIL (a FAIL row goes when its
    redo succeeds), twice in a row a second apart. Returns the failures seen
    on the way (a job that lost a lock race fails and is redone)."""
    deadline = time.monotonic() + timeout
    seen_fail, quiet = {}, 0
    while time.monotonic() < deadline:
        pending = jobs(status="NEW") + jobs(status="RUNNING") + jobs(status="FAIL")
        for j in pending:
            if j["status"] == "FAIL":
                seen_fail[j["id"]] = j
        quiet = quiet + 1 if not pending else 0
        if quiet >= 2:
            return list(seen_fail.values())
        time.sleep(1)
    raise Failed("jobs not settled after %ss: %s" % (timeout, [
        (j["type"], j["status"], j["resource"]) for j in pending]))


def routing(top_id, region, resource_type):
    rows = api("GET", "/routings?top_id=%s&pod_id=%s&resource_type=%s" % (
        top_id, POD_IDS[region], resource_type))["routings"]
    rows = [r for r in rows if r["bottom_id"]]
    if len(rows) != 1:
        raise Failed("routing of %s %s in %s: %s" % (resource_type, top_id, region, rows))
    return rows[0]["bottom_id"]


# ----------------------------------------------------------------- the walk

W = {}


def tenant_side():
    """What the guide's tenant creates through the central Neutron."""
    top = "CentralRegion"
    for name, cidr, az in (("net1", "10.0.1.0/24", "az1"), ("net2", "10.0.2.0/24", "az2")):
        net = npost(top, "networks", {"name": name, "availability_zone_hints": [az]})
        expect_equal("%s zone hints" % name, net["availability_zone_hints"], [az])
        W[name] = net["id"]
        W["sub-" + name] = npost(top, "subnets", {
            "name": "subnet-" + name, "network_id": net["id"], "cidr": cidr,
            "ip_version": 4})["id"]
    ext = npost(top, "networks", {
        "name": "ext-net", "router:external": True, "provider:network_type": "vlan",
        "provider:physical_network": "extern", "availability_zone_hints": ["az2"]})
    W["ext"] = ext["id"]
    W["ext-sub"] = npost(top, "subnets", {
        "name": "ext-subnet", "network_id": ext["id"], "cidr": "163.3.124.0/24",
        "ip_version": 4, "enable_dhcp": False})["id"]
    router = npost(top, "routers", {"name": "router"})
    W["router"] = router["id"]
    for name in ("net1", "net2"):
        nput(top, "/routers/%s/add_router_interface" % router["id"],
             {"subnet_id": W["sub-" + name]})
    gw = nput(top, "/routers/" + router["id"], {"router": {
        "external_gateway_info": {"network_id": ext["id"]}}})["router"]["external_gateway_info"]
    W["gateway-ip"] = gw["external_fixed_ips"][0]["ip_address"]
    for vm, name in (("vm1", "net1"), ("vm2", "net2")):
        W[vm] = npost(top, "ports", {"name": vm, "network_id": W[name],
                                     "device_owner": "compute:nova", "device_id": vm})
    for vm in ("vm2", "vm1"):
        fip = npost(top, "floatingips", {"floating_network_id": ext["id"],
                                         "port_id": W[vm]["id"]})
        W["fip-" + vm] = fip["floating_ip_address"]


def ip_of(port):
    return port["fixed_ips"][0]["ip_address"]


def router_setup_jobs():
    for name in ("net1", "net2"):
        job = post_job("router_setup", {"pod_id": "not_specified_pod",
                                        "router_id": W["router"], "network_id": W[name]})
        expect_equal("job status", job["status"], "NEW")


def run_jobs():
    router_setup_jobs()
    failed = settle()
    if failed:
        print("     (redone after a failure: %s)" % sorted(
            {(j["type"], j["resource"].get("pod_id", "")) for j in failed}), flush=True)


def boot_vms():
    """Each pod's Nova boots its VM on the bottom copy of the VM's network,
    at the top port's address and MAC (stock pods have no local plugin)."""
    for vm, name, region in (("vm1", "net1", "RegionOne"), ("vm2", "net2", "RegionTwo")):
        b_net = routing(W[name], region, "network")
        port = npost(region, "ports", {
            "name": vm, "network_id": b_net, "device_owner": "compute:nova", "device_id": vm,
            "mac_address": W[vm]["mac_address"], "fixed_ips": [{"ip_address": ip_of(W[vm])}]})
        W["b-" + vm] = port["id"]


def named(rows, name):
    return [r for r in rows if r["name"] == name]


def routes_of(router):
    return sorted((r["destination"], r["nexthop"]) for r in router["routes"])


def assert_east_west():
    top_bridge_net = named(listing("CentralRegion", "networks"), "bridge_net_" + project)
    expect_equal("top bridge networks", len(top_bridge_net), 1)
    expect_equal("top bridge segment type and physical network",
                 (top_bridge_net[0]["provider:network_type"],
                  top_bridge_net[0]["provider:physical_network"]), ("vlan", "bridge"))
    if not 2001 <= top_bridge_net[0]["provider:segmentation_id"] <= 3000:
        raise Failed("bridge VLAN %s outside bridge:2001:3000" % top_bridge_net[0]["provider:segmentation_id"])
    top_bridge_sub = named(listing("CentralRegion", "subnets"), "bridge_subnet_" + project)
    expect_equal("top bridge subnets", len(top_bridge_sub), 1)
    cidr = top_bridge_sub[0]["cidr"]
    if not ipaddress.ip_network(cidr).subnet_of(BRIDGE_CIDR):
        raise Failed("bridge subnet %s outside bridge_cidr %s" % (cidr, BRIDGE_CIDR))
    expect_equal("bridge subnet DHCP", top_bridge_sub[0]["enable_dhcp"], False)
    pools = named(listing("CentralRegion", "subnetpools"), "bridge_subnet_pool")
    expect_equal("bridge subnet pools", len(pools), 1)
    expect_equal("bridge subnet's pool", top_bridge_sub[0]["subnetpool_id"], pools[0]["id"])
    top_ports = listing("CentralRegion", "ports")
    for region, name in (("RegionOne", "net1"), ("RegionTwo", "net2")):
        routers = named(listing(region, "routers"), W["router"])
        expect_equal("bottom routers named %s in %s" % (W["router"], region), len(routers), 1)
        r = routers[0]
        W["b-router-" + region] = r
        bridge = named(listing(region, "networks"), top_bridge_net[0]["id"])
        expect_equal("bridge networks in " + region, len(bridge), 1)
        expect_equal("bridge network external in " + region, bridge[0]["router:external"], True)
        segment = ("provider:network_type", "provider:physical_network", "provider:segmentation_id")
        expect_equal("bridge segment in " + region, [bridge[0][k] for k in segment],
                     [top_bridge_net[0][k] for k in segment])
        b_subs = listing(region, "subnets", "?network_id=" + bridge[0]["id"])
        expect_equal("bridge subnet CIDR in " + region, [s["cidr"] for s in b_subs], [cidr])
        gw = r["external_gateway_info"]
        expect_equal("gateway network in " + region, gw["network_id"], bridge[0]["id"])
        expect_equal("gateway SNAT in " + region, gw["enable_snat"], False)
        t_port = named(top_ports, "bridge_port_%s_%s" % (project, r["id"]))
        expect_equal("top bridge port of the %s router" % region, len(t_port), 1)
        bridge_ip = gw["external_fixed_ips"][0]["ip_address"]
        expect_equal("gateway address in " + region, bridge_ip, ip_of(t_port[0]))
        W["bridge-ip-" + region] = bridge_ip
        tenant = routing(W["sub-" + name], region, "subnet")
        b_tenant = nget(region, "/subnets/" + tenant)["subnet"]
        itf = listing(region, "ports", "?device_owner=network:router_interface&device_id=" + r["id"])
        expect_equal("interfaces of the %s router" % region,
                     [(p["fixed_ips"][0]["subnet_id"], ip_of(p)) for p in itf],
                     [(tenant, b_tenant["gateway_ip"])])
        expect_equal("tenant CIDR in " + region, b_tenant["cidr"],
                     nget("CentralRegion", "/subnets/" + W["sub-" + name])["subnet"]["cidr"])


def assert_north_south():
    r2 = "RegionTwo"
    expect_equal("ext-net in RegionOne", named(listing("RegionOne", "networks"), "ext-net"), [])
    b_ext = named(listing(r2, "networks"), "ext-net")
    expect_equal("ext-net copies in RegionTwo", len(b_ext), 1)
    expect_equal("ext-net external", b_ext[0]["router:external"], True)
    W["b-ext"] = b_ext[0]["id"]
    ns = named(listing(r2, "routers"), "ns_router_" + W["router"])
    expect_equal("north-south routers in RegionTwo", len(ns), 1)
    ns = ns[0]
    W["ns"] = ns
    gw = ns["external_gateway_info"]
    expect_equal("NS gateway network", gw["network_id"], b_ext[0]["id"])
    expect_equal("NS gateway SNAT (as the top)", gw["enable_snat"], True)
    expect_equal("NS gateway address (as the top)", gw["external_fixed_ips"][0]["ip_address"],
                 W["gateway-ip"])
    t_port = named(listing("CentralRegion", "ports"), "bridge_port_%s_%s" % (project, ns["id"]))
    expect_equal("top bridge port of the NS router", len(t_port), 1)
    W["bridge-ip-ns"] = ip_of(t_port[0])
    itf = listing(r2, "ports", "?device_owner=network:router_interface&device_id=" + ns["id"])
    if W["bridge-ip-ns"] not in [ip_of(p) for p in itf]:
        raise Failed("NS router has no interface at %s: %s" % (W["bridge-ip-ns"], itf))


def assert_routes():
    vm1, vm2 = ip_of(W["vm1"]) + "/32", ip_of(W["vm2"]) + "/32"
    b1, b2, ns = W["bridge-ip-RegionOne"], W["bridge-ip-RegionTwo"], W["bridge-ip-ns"]
    want = {
        "RegionOne router": sorted([(vm2, b2), ("0.0.0.0/0", ns)]),
        "RegionTwo router": sorted([(vm1, b1), ("0.0.0.0/0", ns)]),
        "NS router": sorted([(vm1, b1), (vm2, b2)]),
    }
    got = {
        "RegionOne router": routes_of(nget("RegionOne", "/routers/" + W["b-router-RegionOne"]["id"])["router"]),
        "RegionTwo router": routes_of(nget("RegionTwo", "/routers/" + W["b-router-RegionTwo"]["id"])["router"]),
        "NS router": routes_of(nget("RegionTwo", "/routers/" + W["ns"]["id"])["router"]),
    }
    for what in want:
        expect_equal("extra routes of the " + what, got[what], want[what])


def assert_floating_ips():
    r2 = "RegionTwo"
    expect_equal("floating IPs in RegionOne", listing("RegionOne", "floatingips"), [])
    fips = {f["floating_ip_address"]: f for f in listing(r2, "floatingips")}
    expect_equal("floating IPs in RegionTwo", sorted(fips), sorted([W["fip-vm1"], W["fip-vm2"]]))
    local = fips[W["fip-vm2"]]
    expect_equal("vm2's floating IP network", local["floating_network_id"], W["b-ext"])
    expect_equal("vm2's floating IP port", local["port_id"], W["b-vm2"])
    expect_equal("vm2's floating IP router", local["router_id"], W["ns"]["id"])
    # vm1 lives in RegionOne: its floating IP is on a shadow port in
    # RegionTwo carrying vm1's address.
    shadow = fips[W["fip-vm1"]]
    port = nget(r2, "/ports/" + shadow["port_id"])["port"]
    expect_equal("vm1's floating IP on a shadow port",
                 (port["device_owner"], ip_of(port), port["name"]),
                 ("compute:shadow", ip_of(W["vm1"]), "shadow_port_" + W["vm1"]["id"]))
    expect_equal("vm1's floating IP fixed address", shadow["fixed_ip_address"], ip_of(W["vm1"]))
    # Stock Neutron associates through an NS interface on the port's subnet,
    # never the subnet's gateway address (the east-west router's).
    itf = listing(r2, "ports", "?device_owner=network:router_interface&device_id=" + W["ns"]["id"])
    for fip_port in (W["b-vm2"], shadow["port_id"]):
        p = nget(r2, "/ports/" + fip_port)["port"]
        subnet = nget(r2, "/subnets/" + p["fixed_ips"][0]["subnet_id"])["subnet"]
        on = [ip_of(i) for i in itf if i["fixed_ips"][0]["subnet_id"] == subnet["id"]]
        if len(on) != 1 or on[0] == subnet["gateway_ip"]:
            raise Failed("NS interface on %s: %s (gateway %s)" % (subnet["cidr"], on,
                                                                   subnet["gateway_ip"]))


def neutron_server(action, region):
    subprocess.run(["bash", "-c", 'source scripts/lib/openstack-env.sh && neutron_%s "$1"' % action,
                    "neutron_" + action, region], check=True)


def wait_for(what, predicate, timeout=SETTLE_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(1)
    raise Failed("%s: not within %ss" % (what, timeout))


def fault():
    """RegionOne's neutron-server dies in the middle of its router_setup
    (frozen first, so the job is seen RUNNING with a call hanging there,
    then killed): the job fails; once the server is back the periodic task
    redoes it, and the state is the converged one again (the damage done
    meanwhile repaired)."""
    before = W["converged"]
    b_router = W["b-router-RegionOne"]["id"]
    nput("RegionOne", "/routers/" + b_router, {"router": {"routes": []}})

    def in_r1(status):
        def found():
            return [j for j in jobs(status=status, type="router_setup")
                    if j["resource"]["pod_id"] == POD_IDS["RegionOne"]
                    and j["resource"]["network_id"] == W["net1"]]
        return found
    neutron_server("freeze", "RegionOne")
    try:
        job = post_job("router_setup", {"pod_id": "not_specified_pod",
                                        "router_id": W["router"], "network_id": W["net1"]})
        running = wait_for("router_setup for RegionOne RUNNING", in_r1("RUNNING"))
        print("     %s RUNNING, RegionOne frozen; killing it" % running[0]["id"], flush=True)
    finally:
        neutron_server("kill", "RegionOne")
    try:
        failed = wait_for("router_setup for RegionOne FAIL", in_r1("FAIL"))
        print("     %s FAIL while RegionOne is down (fan-out job %s)" % (failed[0]["id"], job["id"]),
              flush=True)
    finally:
        neutron_server("start", "RegionOne")
    settle()
    done = [j for j in jobs(status="SUCCESS", type="router_setup")
            if j["resource"]["pod_id"] == POD_IDS["RegionOne"]
            and j["resource"]["network_id"] == W["net1"]
            and j["timestamp"] >= failed[0]["timestamp"] and j["id"] != failed[0]["id"]]
    if not done:
        raise Failed("no SUCCESS of router_setup in RegionOne after the failure")
    expect_same("state after the redo", before, snapshot())


def tenant_adds_a_network():
    """Stock mode following the central Neutron (xjob.conf [xjob]
    notification_regions): the tenant adds net3 (az1) with a subnet and a
    router interface through the central Neutron only. Its notification
    makes xjob record router_setup; RegionOne's bottom router gets the
    interface on net3's copy. No job is posted through the API."""
    top = "CentralRegion"
    posted_before = {j["id"] for j in jobs()}
    net = npost(top, "networks", {"name": "net3", "availability_zone_hints": ["az1"]})
    W["net3"] = net["id"]
    sub = npost(top, "subnets", {"name": "subnet-net3", "network_id": net["id"],
                                 "cidr": "10.0.3.0/24", "ip_version": 4})
    started = time.monotonic()
    nput(top, "/routers/%s/add_router_interface" % W["router"], {"subnet_id": sub["id"]})
    b_router = W["b-router-RegionOne"]["id"]

    def interface_on_copy():
        rows = api("GET", "/routings?top_id=%s&pod_id=%s&resource_type=network" % (
            net["id"], POD_IDS["RegionOne"]))["routings"]
        copies = [r["bottom_id"] for r in rows if r["bottom_id"]]
        if not copies:
            return None
        ports = listing("RegionOne", "ports", "?device_id=%s&network_id=%s" % (b_router, copies[0]))
        return ports or None

    wait_for("RegionOne's router interface on net3's copy", interface_on_copy)
    print("     (converged %.1f s after the interface was added)" % (time.monotonic() - started),
          flush=True)
    settle()
    recorded = [j for j in jobs() if j["id"] not in posted_before and j["type"] == "router_setup"
                and j["resource"].get("network_id") == net["id"]]
    if not recorded:
        raise Failed("no router_setup job recorded for net3: %s" % jobs())
    expect_equal("net3's copy in RegionTwo (hint az1 only)", api(
        "GET", "/routings?top_id=%s&pod_id=%s&resource_type=network" % (
            net["id"], POD_IDS["RegionTwo"]))["routings"], [])

    # vm3 boots in RegionOne on net3's copy (at its top port's address, as
    # the walk's VMs): RegionOne's notification brings its /32 route to
    # RegionTwo's router, still with no job posted.
    W["vm3"] = npost(top, "ports", {"name": "vm3", "network_id": net["id"],
                                    "device_owner": "compute:nova", "device_id": "vm3"})
    b_net3 = routing(net["id"], "RegionOne", "network")
    started = time.monotonic()
    npost("RegionOne", "ports", {
        "name": "vm3", "network_id": b_net3, "device_owner": "compute:nova",
        "device_id": "vm3", "mac_address": W["vm3"]["mac_address"],
        "fixed_ips": [{"ip_address": ip_of(W["vm3"])}]})
    want = (ip_of(W["vm3"]) + "/32", W["bridge-ip-RegionOne"])

    def route_in_region_two():
        r = nget("RegionTwo", "/routers/" + W["b-router-RegionTwo"]["id"])["router"]
        return want in routes_of(r)

    wait_for("RegionTwo's route to vm3", route_in_region_two)
    print("     (vm3's route in RegionTwo %.1f s after its port was created)"
          % (time.monotonic() - started), flush=True)
    settle()


def withdraw():
    """The tenant takes the floating IPs back and removes the gateway: the
    pods follow (no floating IP, no NS gateway, no north-south routes)."""
    top = "CentralRegion"
    for fip in listing(top, "floatingips"):
        nput(top, "/floatingips/" + fip["id"], {"floatingip": {"port_id": None}})
    nput(top, "/routers/" + W["router"], {"router": {"external_gateway_info": {}}})
    run_jobs()
    expect_equal("floating IPs in RegionTwo", listing("RegionTwo", "floatingips"), [])
    ns = nget("RegionTwo", "/routers/" + W["ns"]["id"])["router"]
    expect_equal("NS router gateway", ns["external_gateway_info"], None)
    expect_equal("NS router routes", routes_of(ns), [])
    vm1, vm2 = ip_of(W["vm1"]) + "/32", ip_of(W["vm2"]) + "/32"
    b1, b2 = W["bridge-ip-RegionOne"], W["bridge-ip-RegionTwo"]
    from_r1 = [(vm1, b1)] + ([(ip_of(W["vm3"]) + "/32", b1)] if "vm3" in W else [])
    for region, want in (("RegionOne", [(vm2, b2)]), ("RegionTwo", sorted(from_r1))):
        got = routes_of(nget(region, "/routers/" + W["b-router-" + region]["id"])["router"])
        expect_equal("routes of the %s router (no default route)" % region, got, want)


def main():
    steps = [
        ("every region's Neutron emptied", wipe_all),
        ("tenant side through the central Neutron: net1 (az1), net2 (az2), router, "
         "ext-net (az2) gateway, vm ports, floating IPs", tenant_side),
        ("router_setup jobs via POST /v1.0/jobs (not_specified_pod) settle", run_jobs),
        ("VMs booted on the bottom networks in RegionOne and RegionTwo", boot_vms),
        ("router_setup jobs again (the floating IPs follow the VMs) settle", run_jobs),
        ("one bottom router per pod, gateway on the bridge network with SNAT off, "
         "tenant interface, same bridge CIDR in both pods", assert_east_west),
        ("ext-net, ns_router with the top gateway in RegionTwo only", assert_north_south),
        ("extra routes: exact /32 east-west routes and the north-south default route", assert_routes),
        ("floating IPs in RegionTwo on vm2's port and on vm1's shadow port", assert_floating_ips),
    ]
    for name, fn in steps:
        if not checks.run(name, fn):
            checks.exit("networking")
    W["converged"] = snapshot()

    def rerun():
        refresh_token()
        run_jobs()
        post_job("configure_route", {"router_id": W["router"]})
        settle()
        expect_same("state after rerunning every job", W["converged"], snapshot())
    checks.run("every job run again: nothing changes, no duplicate", rerun)
    checks.run("RegionOne's neutron-server killed in the middle of its job: FAIL, after the restart "
               "the periodic redo -> SUCCESS, same state", fault)
    checks.run("net3 and its router interface added by the tenant, vm3 booted in RegionOne: "
               "the regions' notifications bring the interface and the route (no job posted)",
               tenant_adds_a_network)
    checks.run("floating IPs and gateway removed at the top: gone from the pods, "
               "no north-south routes", withdraw)
    checks.exit("networking")


if __name__ == "__main__":
    main()
