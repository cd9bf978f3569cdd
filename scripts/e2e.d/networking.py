"""The multi-pod guide on real Neutron servers in stock mode (issue 13): the
regions run stock ML2 (no Tricircle plugins), our xjob runs with [xjob]
stock_neutron = true, follows the three regions' Neutron notifications and
sweeps every [xjob] reconcile_interval seconds.

Everything the tenant does is an ordinary Neutron call, as the tenant (the
admin project, as the guide's walk: our API shows a project only its own
routings, and only to an admin): networks, subnets,
router, interfaces, gateway and floating IPs in CentralRegion; VMs "booted"
in a pod as Nova does, by creating a `compute:nova` port (no address, no
MAC given) on the pod's copy of a central network, the copy being found
through GET /v1.0/routings. Nobody posts /v1.0/jobs (checked in the API's
access log). Our API is read only: routings to find copies and mirrors,
jobs to know when the engine is idle. Each region's Neutron is then read
as admin to assert the converged state, polled with a deadline.

Phases (each a line; a failure says what was expected and what was seen):
  walk        net1 (az1), net2 (az2), router, ext-net (az2) gateway, vm1 in
              RegionOne and vm2 in RegionTwo, their mirrors, a floating IP
              on each mirror -> converged (east-west, north-south, routes,
              floating IPs), no job posted, still when left alone
  redo        RegionOne's neutron-server killed under the job a tenant's
              call caused: FAIL, restarted, the redo converges
  net3        net3 (az1) with an interface and vm3 in RegionOne -> converged
  drift       a route and a bottom interface removed by hand in RegionOne
              -> healed by the sweep
  xjob down   xjob stopped while the tenant adds net4 (az2) with an
              interface and boots vm4 in RegionOne; started -> converged
  rabbitmq    RabbitMQ restarted while the tenant boots vm5 in RegionTwo and
              puts a floating IP on vm4 -> converged
  teardown    the tenant deletes everything (no 409) -> no leftover in the
              pods; only the bridge network, subnet and pool may stay

Printed figures: "(converged N.N s after the tenant's last call)" per phase.
Needs scripts/e2e.d/api_checks.py to have registered the pods. Importable
(scripts/bench.d/converge.py reuses the helpers)."""

import ipaddress
import json
import os
import re
import subprocess
import sys
import time
import uuid

from e2elib import Checks, Failed, call, env, expect_equal, request, token_and_project

API = env["TRICIRCLE_E2E_API_URL"]
NEUTRON = {
    "CentralRegion": env["TRICIRCLE_E2E_NEUTRON_CENTRAL_URL"] + "/v2.0",
    "RegionOne": env["TRICIRCLE_E2E_NEUTRON_R1_URL"] + "/v2.0",
    "RegionTwo": env["TRICIRCLE_E2E_NEUTRON_R2_URL"] + "/v2.0",
}
TOP = "CentralRegion"
PODS = ("RegionOne", "RegionTwo")
STATE = os.path.join(env["TRICIRCLE_E2E_STATE"], "tricircle")
API_LOG = os.path.join(STATE, "api.log")
# Bounds of the polls (not sleeps): the time a change may take to show.
CONVERGE_TIMEOUT = float(env.get("TRICIRCLE_E2E_CONVERGE_TIMEOUT", "120"))
RECONCILE_INTERVAL = float(env.get("TRICIRCLE_E2E_RECONCILE_INTERVAL", "5"))
# Drift and lost notifications are healed by the sweep: a few intervals.
SWEEP_TIMEOUT = float(env.get("TRICIRCLE_E2E_SWEEP_TIMEOUT", str(max(120, 6 * RECONCILE_INTERVAL))))
BRIDGE_CIDR = ipaddress.ip_network("100.0.0.0/9")

checks = Checks()
TOK = {}


def refresh_tokens():
    TOK["admin"], TOK["project"] = token_and_project(
        env["TRICIRCLE_E2E_ADMIN_USER"], env["TRICIRCLE_E2E_ADMIN_PROJECT"],
        env["TRICIRCLE_E2E_ADMIN_PASSWORD"])
    # The tenant's calls are kept apart (t*) from the admin's reads (n*).
    TOK["tenant"] = TOK["admin"]


refresh_tokens()
project = TOK["project"]
with open(os.path.join(STATE, "pods.json")) as f:
    POD_IDS = json.load(f)


# ----------------------------------------------------------------- Neutron
# n*: as admin (reads, the wipe, hand-made drift, ext-net); t*: the tenant's
# calls (the same project and token here, kept apart for the reader).

def nget(region, path):
    return call("GET", NEUTRON[region] + path, TOK["admin"])


def listing(region, collection, query=""):
    return nget(region, "/%s%s" % (collection, query))[collection]


def _key(collection):
    return "subnetpool" if collection == "subnetpools" else collection[:-1]


def npost(region, collection, body, who="admin"):
    key = _key(collection)
    return call("POST", "%s/%s" % (NEUTRON[region], collection), TOK[who], {key: body},
                expect=(201,))[key]


def nput(region, path, body, who="admin"):
    return call("PUT", NEUTRON[region] + path, TOK[who], body)


def ndelete(region, path, who="admin"):
    status, body, _ = request("DELETE", NEUTRON[region] + path, TOK[who])
    if status != 204:
        raise Failed("DELETE %s%s as %s -> %s %s" % (region, path, who, status, str(body)[:400]))


def tpost(region, collection, body):
    return npost(region, collection, body, who="tenant")


def tput(region, path, body):
    return nput(region, path, body, who="tenant")


def tdelete(region, path):
    return ndelete(region, path, who="tenant")


def wipe(region):
    """One pass deleting everything in a region's Neutron. Refusals (409:
    in use, 400: a subnet pool still allocated, 404: gone meanwhile) are
    left to the next pass: xjob follows the regions' notifications and may
    add a helper port or a copy behind the wipe."""
    tolerate = (200, 201, 204, 400, 404, 409)
    tok = TOK["admin"]
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
    servers are the suite's own). xjob is stopped meanwhile (else it hears
    the wipe's own events and rebuilds the pods' side of a router the wipe
    has not reached yet), the notifications published meanwhile are
    dropped, then xjob starts again. Passes repeat until all are empty."""
    regions = ("RegionOne", "RegionTwo", "CentralRegion")
    deadline = time.monotonic() + timeout
    shell("e2e_xjob_stop")
    try:
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
    finally:
        shell("e2e_notifications_purge")
        shell("e2e_xjob_start")


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


# ----------------------------------------------------------------- our API (read only)

def api(method, path, body=None, expect=(200,)):
    return call(method, API + path, TOK["admin"], body, expect=expect)


def jobs(**filters):
    query = "&".join("%s=%s" % kv for kv in filters.items())
    return api("GET", "/jobs?limit=1000" + ("&" + query if query else ""))["jobs"]


def pending_jobs():
    return jobs(status="NEW") + jobs(status="RUNNING") + jobs(status="FAIL")


def describe_jobs(rows):
    return [(j["type"], j["status"], j["resource"]) for j in rows][:20]


def routings(top_id, region, resource_type):
    rows = api("GET", "/routings?top_id=%s&pod_id=%s&resource_type=%s" % (
        top_id, POD_IDS[region], resource_type))["routings"]
    return [r["bottom_id"] for r in rows if r["bottom_id"]]


def routing(top_id, region, resource_type):
    rows = routings(top_id, region, resource_type)
    if len(rows) != 1:
        raise Failed("routing of %s %s in %s: want one bottom id, got %s" % (
            resource_type, top_id, region, rows))
    return rows[0]


def api_log_offset():
    try:
        return os.path.getsize(API_LOG)
    except OSError:
        return 0


def posted_jobs_since(offset):
    """The access log lines of our API since `offset`: (POST /v1.0/jobs
    lines, number of lines). The jobs xjob records from events and sweeps
    never go through the API."""
    with open(API_LOG, errors="replace") as f:
        f.seek(offset)
        lines = f.readlines()
    access = [line for line in lines if "tricircle_api::access" in line]
    posts = [line.strip() for line in access
             if re.search(r"method=POST\b", line) and re.search(r"path=\S*/v1\.0/jobs", line)]
    return posts, len(access)


# ----------------------------------------------------------------- waiting

def wait_for(what, predicate, timeout=CONVERGE_TIMEOUT, interval=0.25):
    """Polls `predicate` until it returns something true; a Failed raised by
    it is remembered and reported if the deadline passes."""
    deadline = time.monotonic() + timeout
    last = "nothing seen"
    while True:
        try:
            found = predicate()
            if found:
                return found
            last = "got %r" % (found,)
        except Failed as error:
            last = str(error)
        if time.monotonic() > deadline:
            raise Failed("%s: not within %.0f s; last seen: %s" % (what, timeout, last))
        time.sleep(interval)


def converge(what, assertion, since, timeout=CONVERGE_TIMEOUT, interval=0.25):
    """Polls until `assertion` (raises Failed while the state is not there)
    passes with no job NEW, RUNNING or FAIL; prints the seconds from
    `since` (the tenant's last call). On timeout the message is the last
    assertion failure and the pending jobs."""
    deadline = since + timeout
    last, pending = "nothing checked", []
    while True:
        try:
            assertion()
            pending = pending_jobs()
            if not pending:
                took = time.monotonic() - since
                print("     (%s: converged %.1f s after the tenant's last call)" % (what, took),
                      flush=True)
                return took
            last = "state as wanted, but jobs pending"
        except Failed as error:
            last = str(error)
            pending = []
        if time.monotonic() > deadline:
            if not pending:
                try:
                    pending = pending_jobs()
                except Failed:
                    pass
            raise Failed("%s: not converged within %.0f s of the tenant's last call; "
                         "last check: %s; jobs pending: %s" % (what, timeout, last,
                                                              describe_jobs(pending)))
        time.sleep(interval)


def shell(function, *args):
    """A function of scripts/lib/openstack-env.sh or scripts/e2e.d/tricircle.sh."""
    subprocess.run(["bash", "-c", 'source scripts/lib/openstack-env.sh && '
                    'source scripts/e2e.d/tricircle.sh && "$@"', "e2e", function] + list(args),
                   check=True)


# ----------------------------------------------------------------- the tenant

W = {"nets": {}, "vms": {}, "fips": {}}
# nets: name -> {id, sub, cidr, region (the pod its hint names)}
# vms:  name -> {region, net, port (the pod's), mirror (the top one)}
# fips: vm name -> {id, address}


def ip_of(port):
    return port["fixed_ips"][0]["ip_address"]


def add_network(name, cidr, az, region, interface=True):
    """net + subnet in CentralRegion (hint `az`), and a router interface."""
    net = tpost(TOP, "networks", {"name": name, "availability_zone_hints": [az]})
    expect_equal("%s zone hints" % name, net["availability_zone_hints"], [az])
    sub = tpost(TOP, "subnets", {"name": "subnet-" + name, "network_id": net["id"],
                                 "cidr": cidr, "ip_version": 4})
    W["nets"][name] = {"id": net["id"], "sub": sub["id"], "cidr": cidr, "region": region,
                       "gateway": sub["gateway_ip"], "interface": False}
    if interface:
        add_interface(name)
    return W["nets"][name]


def add_interface(name):
    tput(TOP, "/routers/%s/add_router_interface" % W["router"],
         {"subnet_id": W["nets"][name]["sub"]})
    W["nets"][name]["interface"] = True


def copy_of(name, region=None):
    """The pod's copy of a tenant network, once xjob made it with its subnet
    (routing API: the network's and the subnet's rows in that pod)."""
    net = W["nets"][name]
    region = region or net["region"]
    b_net = wait_for("%s's copy in %s (GET /v1.0/routings?top_id=%s&pod_id=%s"
                     "&resource_type=network)" % (name, region, net["id"], POD_IDS[region]),
                     lambda: routings(net["id"], region, "network"))[0]
    wait_for("%s's subnet copy in %s (GET /v1.0/routings?top_id=%s&pod_id=%s"
             "&resource_type=subnet)" % (name, region, net["sub"], POD_IDS[region]),
             lambda: routings(net["sub"], region, "subnet"))
    return b_net


def vm_address(vm, region, port, net):
    if not port["fixed_ips"]:
        raise Failed("%s's port %s in %s has no address (the copy of %s has no subnet?)" % (
            vm, port["id"], region, net["cidr"]))
    ip = ipaddress.ip_address(ip_of(port))
    if ip not in ipaddress.ip_network(net["cidr"]) or str(ip) == net["gateway"]:
        raise Failed("%s's address in %s: %s (want one of %s other than the top gateway %s)" % (
            vm, region, ip, net["cidr"], net["gateway"]))
    return ip


def boot_vm(vm, name, region=None):
    """What Nova does in the pod: a compute:nova port on the copy, the
    address and MAC left to the pod's Neutron."""
    net = W["nets"][name]
    region = region or net["region"]
    b_net = copy_of(name, region)
    port = tpost(region, "ports", {"name": vm, "network_id": b_net,
                                   "device_owner": "compute:nova",
                                   "device_id": str(uuid.uuid4())})
    W["vms"][vm] = {"region": region, "net": name, "port": port, "mirror": None}
    vm_address(vm, region, port, net)
    return port


def boot_vm_nowait(vm, name, region):
    """boot_vm on a copy that already exists (no waiting: for calls made
    while xjob or the broker is down)."""
    net = W["nets"][name]
    b_net = routing(net["id"], region, "network")
    port = tpost(region, "ports", {"name": vm, "network_id": b_net,
                                   "device_owner": "compute:nova",
                                   "device_id": str(uuid.uuid4())})
    W["vms"][vm] = {"region": region, "net": name, "port": port, "mirror": None}
    vm_address(vm, region, port, net)
    return port


def mirror_of(vm):
    """The VM's mirror in CentralRegion: same MAC and address, device owner
    and id, the tenant's project, on the top network; routed (top = mirror,
    pod, port, bottom = the pod's port)."""
    v = W["vms"][vm]
    port = v["port"]

    def found():
        rows = listing(TOP, "ports", "?mac_address=" + port["mac_address"])
        if not rows:
            raise Failed("no port with MAC %s in CentralRegion" % port["mac_address"])
        if len(rows) != 1:
            raise Failed("%d ports with MAC %s in CentralRegion: %s" % (
                len(rows), port["mac_address"], [r["id"] for r in rows]))
        m = rows[0]
        want = (ip_of(port), port["device_owner"], port["device_id"], project,
                W["nets"][v["net"]]["id"])
        got = (ip_of(m), m["device_owner"], m["device_id"], m["project_id"], m["network_id"])
        if got != want:
            raise Failed("mirror of %s (address, owner, device, project, network): got %s, "
                         "want %s" % (vm, got, want))
        bottom = routings(m["id"], v["region"], "port")
        if bottom != [port["id"]]:
            raise Failed("routing of mirror %s in %s: got %s, want [%s]" % (
                m["id"], v["region"], bottom, port["id"]))
        return m

    v["mirror"] = wait_for("%s's mirror in CentralRegion (port %s of %s, MAC %s)" % (
        vm, port["id"], v["region"], port["mac_address"]), found)
    return v["mirror"]


def add_floating_ip(vm):
    fip = tpost(TOP, "floatingips", {"floating_network_id": W["ext"],
                                     "port_id": W["vms"][vm]["mirror"]["id"]})
    W["fips"][vm] = {"id": fip["id"], "address": fip["floating_ip_address"]}
    return fip


# ----------------------------------------------------------------- the converged state

def named(rows, name):
    return [r for r in rows if r["name"] == name]


def routes_of(router):
    return sorted((r["destination"], r["nexthop"]) for r in router["routes"])


def assert_east_west():
    top_bridge_net = named(listing(TOP, "networks"), "bridge_net_" + project)
    expect_equal("top bridge networks named bridge_net_" + project, len(top_bridge_net), 1)
    W["bridge-net"] = top_bridge_net[0]["id"]
    expect_equal("top bridge segment type and physical network",
                 (top_bridge_net[0]["provider:network_type"],
                  top_bridge_net[0]["provider:physical_network"]), ("vlan", "bridge"))
    if not 2001 <= top_bridge_net[0]["provider:segmentation_id"] <= 3000:
        raise Failed("bridge VLAN %s outside bridge:2001:3000" % top_bridge_net[0]["provider:segmentation_id"])
    top_bridge_sub = named(listing(TOP, "subnets"), "bridge_subnet_" + project)
    expect_equal("top bridge subnets", len(top_bridge_sub), 1)
    W["bridge-sub"] = top_bridge_sub[0]["id"]
    cidr = top_bridge_sub[0]["cidr"]
    if not ipaddress.ip_network(cidr).subnet_of(BRIDGE_CIDR):
        raise Failed("bridge subnet %s outside bridge_cidr %s" % (cidr, BRIDGE_CIDR))
    expect_equal("bridge subnet DHCP", top_bridge_sub[0]["enable_dhcp"], False)
    pools = named(listing(TOP, "subnetpools"), "bridge_subnet_pool")
    expect_equal("bridge subnet pools", len(pools), 1)
    W["bridge-pool"] = pools[0]["id"]
    expect_equal("bridge subnet's pool", top_bridge_sub[0]["subnetpool_id"], pools[0]["id"])
    top_ports = listing(TOP, "ports")
    for region in PODS:
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
        if not gw:
            raise Failed("bottom router %s in %s has no gateway (want one on the bridge %s)" % (
                r["id"], region, bridge[0]["id"]))
        expect_equal("gateway network in " + region, gw["network_id"], bridge[0]["id"])
        expect_equal("gateway SNAT in " + region, gw["enable_snat"], False)
        t_port = named(top_ports, "bridge_port_%s_%s" % (project, r["id"]))
        expect_equal("top bridge port of the %s router" % region, len(t_port), 1)
        bridge_ip = gw["external_fixed_ips"][0]["ip_address"]
        expect_equal("gateway address in " + region, bridge_ip, ip_of(t_port[0]))
        W["bridge-ip-" + region] = bridge_ip
        want = []
        for name, net in sorted(W["nets"].items()):
            if net["region"] != region or not net["interface"]:
                continue
            tenant = routing(net["sub"], region, "subnet")
            b_tenant = nget(region, "/subnets/" + tenant)["subnet"]
            expect_equal("%s's CIDR in %s" % (name, region), b_tenant["cidr"], net["cidr"])
            want.append((tenant, b_tenant["gateway_ip"]))
        itf = listing(region, "ports", "?device_owner=network:router_interface&device_id=" + r["id"])
        expect_equal("interfaces (bottom subnet, address) of the %s router" % region,
                     sorted((p["fixed_ips"][0]["subnet_id"], ip_of(p)) for p in itf), sorted(want))


def assert_north_south():
    r2 = "RegionTwo"
    expect_equal("ext-net in RegionOne", named(listing("RegionOne", "networks"), "ext-net"), [])
    b_ext = named(listing(r2, "networks"), "ext-net")
    expect_equal("ext-net copies in RegionTwo", len(b_ext), 1)
    expect_equal("ext-net external", b_ext[0]["router:external"], True)
    W["b-ext"] = b_ext[0]["id"]
    ns = named(listing(r2, "routers"), "ns_router_" + W["router"])
    expect_equal("north-south routers named ns_router_%s in RegionTwo" % W["router"], len(ns), 1)
    ns = ns[0]
    W["ns"] = ns
    gw = ns["external_gateway_info"]
    if not gw:
        raise Failed("NS router %s has no gateway (want one on %s)" % (ns["id"], b_ext[0]["id"]))
    expect_equal("NS gateway network", gw["network_id"], b_ext[0]["id"])
    expect_equal("NS gateway SNAT (as the top)", gw["enable_snat"], True)
    expect_equal("NS gateway address (as the top)", gw["external_fixed_ips"][0]["ip_address"],
                 W["gateway-ip"])
    t_port = named(listing(TOP, "ports"), "bridge_port_%s_%s" % (project, ns["id"]))
    expect_equal("top bridge port of the NS router", len(t_port), 1)
    W["bridge-ip-ns"] = ip_of(t_port[0])
    itf = listing(r2, "ports", "?device_owner=network:router_interface&device_id=" + ns["id"])
    if W["bridge-ip-ns"] not in [ip_of(p) for p in itf]:
        raise Failed("NS router has no interface at %s: %s" % (W["bridge-ip-ns"], itf))


def assert_routes():
    """Each pod's router: a /32 to every VM in the other pod through that
    pod's bridge address, and the default route to the NS router; the NS
    router: a /32 to every VM through its pod's bridge address."""
    ns = W["bridge-ip-ns"]
    want = {region: [("0.0.0.0/0", ns)] for region in PODS}
    want["NS"] = []
    for vm, v in W["vms"].items():
        route = (ip_of(v["port"]) + "/32", W["bridge-ip-" + v["region"]])
        want["NS"].append(route)
        for region in PODS:
            if region != v["region"]:
                want[region].append(route)
    got = {region: routes_of(nget(region, "/routers/" + W["b-router-" + region]["id"])["router"])
           for region in PODS}
    got["NS"] = routes_of(nget("RegionTwo", "/routers/" + W["ns"]["id"])["router"])
    for what in ("RegionOne", "RegionTwo", "NS"):
        expect_equal("extra routes of the %s router" % what, got[what], sorted(want[what]))


def assert_floating_ips():
    """Every floating IP lives in RegionTwo (ext-net's pod): on the VM's
    port for a VM there, on a shadow port carrying the VM's address for a
    VM in RegionOne; each through an NS interface: on the VM's own copy not
    the subnet's gateway (RegionTwo's router holds it), on a shadow copy at
    its gateway, which the top holds for the copy."""
    r2 = "RegionTwo"
    expect_equal("floating IPs in RegionOne", listing("RegionOne", "floatingips"), [])
    fips = {f["floating_ip_address"]: f for f in listing(r2, "floatingips")}
    expect_equal("floating IP addresses in RegionTwo", sorted(fips),
                 sorted(f["address"] for f in W["fips"].values()))
    itf = listing(r2, "ports", "?device_owner=network:router_interface&device_id=" + W["ns"]["id"])
    for vm, f in sorted(W["fips"].items()):
        v = W["vms"][vm]
        bottom = fips[f["address"]]
        expect_equal("%s's floating IP fixed address" % vm, bottom["fixed_ip_address"],
                     ip_of(v["port"]))
        if v["region"] == r2:
            expect_equal("%s's floating IP network" % vm, bottom["floating_network_id"], W["b-ext"])
            expect_equal("%s's floating IP on its port" % vm, bottom["port_id"], v["port"]["id"])
            expect_equal("%s's floating IP router" % vm, bottom["router_id"], W["ns"]["id"])
        else:
            if not bottom["port_id"]:
                raise Failed("%s's floating IP %s in RegionTwo is on no port" % (vm, f["address"]))
            port = nget(r2, "/ports/" + bottom["port_id"])["port"]
            expect_equal("%s's floating IP on a shadow port (owner, address, name)" % vm,
                         (port["device_owner"], ip_of(port), port["name"]),
                         ("compute:shadow", ip_of(v["port"]), "shadow_port_" + v["mirror"]["id"]))
        p = nget(r2, "/ports/" + bottom["port_id"])["port"]
        subnet = nget(r2, "/subnets/" + p["fixed_ips"][0]["subnet_id"])["subnet"]
        on = [ip_of(i) for i in itf if i["fixed_ips"][0]["subnet_id"] == subnet["id"]]
        if v["region"] == r2:
            if len(on) != 1 or on[0] == subnet["gateway_ip"]:
                raise Failed("NS interface on %s for %s: %s (want one, not the gateway %s)" % (
                    subnet["cidr"], vm, on, subnet["gateway_ip"]))
        else:
            held = [ip_of(p) for p in listing(TOP, "ports", "?name=interface_%s_%s" % (
                r2, subnet["name"]))]
            expect_equal("NS interface on %s's shadow copy of %s, and the top's hold on it" % (
                vm, subnet["cidr"]), (on, held), ([subnet["gateway_ip"]], [subnet["gateway_ip"]]))


def assert_mirrors():
    """Every VM has exactly its mirror at the top (no stale, no missing)."""
    top_vm_ports = [p for p in listing(TOP, "ports") if p["device_owner"].startswith("compute:")
                    and p["device_owner"] != "compute:shadow"]
    want = sorted((v["port"]["mac_address"], ip_of(v["port"])) for v in W["vms"].values())
    got = sorted((p["mac_address"], ip_of(p)) for p in top_vm_ports)
    expect_equal("compute ports (MAC, address) in CentralRegion", got, want)


def assert_converged():
    assert_east_west()
    assert_north_south()
    assert_routes()
    assert_floating_ips()
    assert_mirrors()


# ----------------------------------------------------------------- phases

def tenant_side():
    """The guide's tenant in CentralRegion (ext-net is the admin's)."""
    add_network("net1", "10.0.1.0/24", "az1", "RegionOne", interface=False)
    add_network("net2", "10.0.2.0/24", "az2", "RegionTwo", interface=False)
    ext = npost(TOP, "networks", {
        "name": "ext-net", "router:external": True, "provider:network_type": "vlan",
        "provider:physical_network": "extern", "availability_zone_hints": ["az2"]})
    W["ext"] = ext["id"]
    W["ext-sub"] = npost(TOP, "subnets", {
        "name": "ext-subnet", "network_id": ext["id"], "cidr": "163.3.124.0/24",
        "ip_version": 4, "enable_dhcp": False})["id"]
    W["router"] = tpost(TOP, "routers", {"name": "router"})["id"]
    for name in ("net1", "net2"):
        add_interface(name)
    gw = tput(TOP, "/routers/" + W["router"], {"router": {
        "external_gateway_info": {"network_id": ext["id"]}}})["router"]["external_gateway_info"]
    W["gateway-ip"] = gw["external_fixed_ips"][0]["ip_address"]


def boot_vms():
    boot_vm("vm1", "net1")
    boot_vm("vm2", "net2")


def mirrors():
    for vm in ("vm1", "vm2"):
        mirror_of(vm)


def floating_ips():
    # vm2 lives in ext-net's pod (local path), vm1 in the other (shadow path).
    for vm in ("vm2", "vm1"):
        add_floating_ip(vm)
    W["last-call"] = time.monotonic()


def walk_converges():
    converge("the guide", assert_converged, W["last-call"])


def no_job_posted():
    posts, lines = posted_jobs_since(W["log-offset"])
    if lines == 0:
        raise Failed("no access line in %s since the walk started: cannot tell" % API_LOG)
    if posts:
        raise Failed("%d POST /v1.0/jobs in the API's access log: %s" % (len(posts), posts[:3]))


def stays_still():
    """A converged cloud left alone for a few sweeps: nothing changes and
    the sweeps record no job."""
    before, ids = snapshot(), {j["id"] for j in jobs()}
    wait = max(3 * RECONCILE_INTERVAL, 6)
    time.sleep(wait)  # the length of the observation, not a wait for an outcome
    new = [j for j in jobs() if j["id"] not in ids]
    expect_same("state after %.0f s alone" % wait, before, snapshot())
    if new:
        raise Failed("jobs recorded on a converged cloud within %.0f s: %s" % (
            wait, describe_jobs(new)))
    W["converged"] = before


def redo_after_kill():
    """RegionOne's neutron-server frozen, then the tenant takes vm1's
    floating IP off (router_setup for net1: a part in each pod); once that
    job's RegionOne part is seen RUNNING (a call hanging in the frozen
    server) the server is killed: FAIL. The tenant puts the floating IP
    back, RegionOne is started: the periodic redo -> SUCCESS, converged."""

    def r1_jobs(status):
        def found():
            return [j for j in jobs(status=status, type="router_setup")
                    if j["resource"].get("pod_id") == POD_IDS["RegionOne"]
                    and j["resource"].get("network_id") == W["nets"]["net1"]["id"]]
        return found

    fip = W["fips"]["vm1"]["id"]
    shell("neutron_freeze", "RegionOne")
    try:
        tput(TOP, "/floatingips/" + fip, {"floatingip": {"port_id": None}})
        running = wait_for("router_setup for RegionOne/net1 RUNNING (RegionOne frozen) after the "
                           "tenant disassociated vm1's floating IP", r1_jobs("RUNNING"))
        print("     %s RUNNING, RegionOne frozen; killing it" % running[0]["id"], flush=True)
    finally:
        shell("neutron_kill", "RegionOne")
    try:
        failed = wait_for("router_setup for RegionOne/net1 FAIL (RegionOne killed)",
                          r1_jobs("FAIL"))
        print("     %s FAIL while RegionOne is down" % failed[0]["id"], flush=True)
        tput(TOP, "/floatingips/" + fip, {"floatingip": {"port_id": W["vms"]["vm1"]["mirror"]["id"]}})
    finally:
        shell("neutron_start", "RegionOne")
    started = time.monotonic()
    converge("redo after RegionOne's restart", assert_converged, started,
             timeout=max(CONVERGE_TIMEOUT, SWEEP_TIMEOUT))
    done = [j for j in jobs(status="SUCCESS", type="router_setup")
            if j["resource"].get("pod_id") == POD_IDS["RegionOne"]
            and j["resource"].get("network_id") == W["nets"]["net1"]["id"]
            and j["timestamp"] >= failed[0]["timestamp"] and j["id"] != failed[0]["id"]]
    if not done:
        raise Failed("no SUCCESS of router_setup RegionOne/net1 after the FAIL %s" % failed[0]["id"])


def third_network():
    """net3 (az1) with an interface, vm3 booted in RegionOne on its copy."""
    add_network("net3", "10.0.3.0/24", "az1", "RegionOne")
    boot_vm("vm3", "net3")
    last = time.monotonic()
    mirror_of("vm3")
    converge("net3 and vm3", assert_converged, last)
    expect_equal("net3's copies in RegionTwo (hint az1 only)",
                 routings(W["nets"]["net3"]["id"], "RegionTwo", "network"), [])


def drift_healed():
    """By hand in RegionOne (admin): the route to vm2 deleted from the
    bottom router and net1's bottom interface removed -> the sweep puts
    both back."""
    r = W["b-router-RegionOne"]
    vm2 = ip_of(W["vms"]["vm2"]["port"]) + "/32"
    routes = [x for x in nget("RegionOne", "/routers/" + r["id"])["router"]["routes"]
              if x["destination"] != vm2]
    nput("RegionOne", "/routers/" + r["id"], {"router": {"routes": routes}})
    b_sub = routing(W["nets"]["net1"]["sub"], "RegionOne", "subnet")
    nput("RegionOne", "/routers/%s/remove_router_interface" % r["id"], {"subnet_id": b_sub})
    last = time.monotonic()
    converge("drift repaired by the sweep", assert_converged, last, timeout=SWEEP_TIMEOUT)


def xjob_down():
    """xjob stopped; the tenant adds net4 (az2) with a subnet and an
    interface, and boots vm4 in RegionOne on net1's copy; xjob started."""
    shell("e2e_xjob_stop")
    try:
        add_network("net4", "10.0.4.0/24", "az2", "RegionTwo")
        boot_vm_nowait("vm4", "net1", "RegionOne")
    finally:
        shell("e2e_xjob_start")
    last = time.monotonic()
    copy_of("net4")
    mirror_of("vm4")
    converge("after xjob's restart", assert_converged, last, timeout=SWEEP_TIMEOUT)


def rabbitmq_restarted():
    """RabbitMQ restarted while the tenant boots vm5 in RegionTwo (net2)
    and puts a floating IP on vm4 (RegionOne: the shadow path)."""
    restart = subprocess.Popen(["bash", "-c", 'source scripts/lib/openstack-env.sh && '
                                'source scripts/e2e.d/tricircle.sh && e2e_rabbitmq_restart'],
                               stdin=subprocess.DEVNULL)
    try:
        port = int(env.get("TRICIRCLE_E2E_RABBIT_PORT", "15683"))

        def broker_down():
            import socket
            s = socket.socket()
            s.settimeout(0.5)
            try:
                s.connect(("127.0.0.1", port))
                return False
            except OSError:
                return True
            finally:
                s.close()
        wait_for("RabbitMQ down (restart under way)", broker_down, timeout=60)
        add_floating_ip("vm4")
        boot_vm_nowait("vm5", "net2", "RegionTwo")
    finally:
        rc = restart.wait(timeout=180)
    if rc != 0:
        raise Failed("e2e_rabbitmq_restart exited %s" % rc)
    last = time.monotonic()
    mirror_of("vm5")
    converge("after RabbitMQ's restart", assert_converged, last, timeout=SWEEP_TIMEOUT)


def teardown():
    """The tenant deletes everything it made (ext-net is the admin's, who
    deletes it last); every delete at the top must succeed."""
    for vm, f in sorted(W["fips"].items()):
        tdelete(TOP, "/floatingips/" + f["id"])
    W["fips"] = {}
    for vm, v in sorted(W["vms"].items()):
        tdelete(v["region"], "/ports/" + v["port"]["id"])

    def mirrors_gone():
        left = [(vm, v["mirror"]["id"]) for vm, v in W["vms"].items()
                if v["mirror"] and request("GET", NEUTRON[TOP] + "/ports/" + v["mirror"]["id"],
                                           TOK["admin"])[0] != 404]
        if left:
            raise Failed("mirrors still in CentralRegion: %s" % left)
        return True
    wait_for("the VMs' mirrors gone after their pod ports were deleted", mirrors_gone)
    for name, net in sorted(W["nets"].items()):
        if net["interface"]:
            tput(TOP, "/routers/%s/remove_router_interface" % W["router"], {"subnet_id": net["sub"]})
    tput(TOP, "/routers/" + W["router"], {"router": {"external_gateway_info": {}}})
    tdelete(TOP, "/routers/" + W["router"])
    for name, net in sorted(W["nets"].items()):
        status, body, _ = request("DELETE", NEUTRON[TOP] + "/networks/" + net["id"], TOK["tenant"])
        if status != 204:
            ports = [(p["id"], p["name"], p["device_owner"]) for p in
                     listing(TOP, "ports", "?network_id=" + net["id"])]
            raise Failed("the tenant's DELETE of %s -> %s %s; ports on it: %s" % (
                name, status, str(body)[:300], ports))
    ndelete(TOP, "/networks/" + W["ext"])
    last = time.monotonic()

    def nothing_left():
        keep_nets, keep_subs = {W["bridge-net"]}, {W["bridge-sub"]}
        left = []
        top = {c: listing(TOP, c) for c in ("routers", "ports", "floatingips", "networks", "subnets")}
        left += ["CentralRegion %s %s (%s)" % (c, r["id"], r.get("name")) for c in
                 ("routers", "ports", "floatingips") for r in top[c]]
        left += ["CentralRegion network %s (%s)" % (r["id"], r["name"]) for r in top["networks"]
                 if r["id"] not in keep_nets]
        left += ["CentralRegion subnet %s (%s)" % (r["id"], r["name"]) for r in top["subnets"]
                 if r["id"] not in keep_subs]
        for region in PODS:
            b_bridge = {n["id"] for n in named(listing(region, "networks"), W["bridge-net"])}
            for c in ("routers", "ports", "floatingips"):
                left += ["%s %s %s (%s, %s)" % (region, c, r["id"], r.get("name"),
                                                r.get("device_owner", "")) for r in listing(region, c)]
            left += ["%s network %s (%s)" % (region, r["id"], r["name"])
                     for r in listing(region, "networks") if r["id"] not in b_bridge]
            left += ["%s subnet %s (%s)" % (region, r["id"], r["name"])
                     for r in listing(region, "subnets") if r["network_id"] not in b_bridge]
        rows = api("GET", "/routings?limit=1000")["routings"]
        keep = keep_nets | keep_subs | {W["bridge-pool"]}
        # The bridge elements' rows: the pods' copies (top id = the top
        # element's id) and the top pod's own (top id = the element's name,
        # bottom id = its id in CentralRegion).
        left += ["routing %s %s -> %s" % (r["resource_type"], r["top_id"], r["bottom_id"])
                 for r in rows if r["top_id"] not in keep and r["bottom_id"] not in keep]
        if left:
            raise Failed("%d left: %s" % (len(left), "; ".join(left)[:3000]))
    converge("teardown", nothing_left, last, timeout=SWEEP_TIMEOUT)


def main():
    W["log-offset"] = api_log_offset()
    steps = [
        ("every region's Neutron emptied", wipe_all),
        ("tenant in CentralRegion: net1 (az1), net2 (az2), router with both interfaces, "
         "gateway on ext-net (az2)", tenant_side),
        ("VMs booted on the pods' copies (found through the routings API): vm1 in RegionOne, "
         "vm2 in RegionTwo, addresses left to the pods", boot_vms),
        ("each VM mirrored in CentralRegion (same MAC, address, owner, device, tenant's project)",
         mirrors),
        ("a floating IP on each VM's mirror at the top", floating_ips),
        ("converged by itself: bottom routers on the bridge, interfaces, ext-net and ns_router "
         "in RegionTwo, exact routes, floating IPs (local and shadow), mirrors", walk_converges),
        ("no POST /v1.0/jobs in the API's access log", no_job_posted),
    ]
    for name, fn in steps:
        if not checks.run(name, fn):
            checks.exit("networking")
    checks.run("left alone for a few sweeps: nothing changes, no job recorded", stays_still)
    checks.run("RegionOne's neutron-server killed under the job of a tenant's call: FAIL, "
               "after the restart the redo converges", redo_after_kill)
    checks.run("net3 (az1) with an interface and vm3 in RegionOne converge by themselves",
               third_network)
    checks.run("a route and a bottom interface removed by hand in RegionOne: healed by the sweep",
               drift_healed)
    checks.run("xjob stopped while the tenant adds net4 (az2) and boots vm4; started: converged",
               xjob_down)
    checks.run("RabbitMQ restarted while the tenant boots vm5 and adds a floating IP: converged",
               rabbitmq_restarted)
    checks.run("still no POST /v1.0/jobs in the API's access log", no_job_posted)
    checks.run("the tenant deletes everything (no 409): no leftover in any region; the bridge "
               "network, subnet and pool may stay", teardown)
    checks.run("no POST /v1.0/jobs at all", no_job_posted)
    checks.exit("networking")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
