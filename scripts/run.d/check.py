"""What scripts/run's walk-through must have built, checked in the pods'
Neutron and the admin API (run by `TRICIRCLE_DEMO_CHECK=1 scripts/run`
after the walk): polled until it holds or a deadline passes, then one line
saying what was expected and what was seen.

  usage: check.py DATA_DIR API_URL

- each pod has the tenant router's copy (named after the top router), with
  an interface on its copy of the pod's network and its gateway (SNAT off)
  on the bridge network, whose copy is in both pods (named after the top
  bridge_net_<project>);
- RegionOne's copy routes vm2's address as a /32 through RegionTwo's
  bridge address and RegionTwo's routes vm1's through RegionOne's (no
  other route: the router has no gateway);
- each VM is mirrored in the central region (same MAC and address);
- the jobs in GET /v1.0/jobs all ended in SUCCESS, and nobody posted one.
"""

import ipaddress
import json
import os
import sys
import time
import urllib.request

DEADLINE = float(os.environ.get("TRICIRCLE_DEMO_CHECK_TIMEOUT", "120"))
BRIDGE_CIDR = ipaddress.ip_network("100.0.0.0/9")
PODS = ("RegionOne", "RegionTwo")


class Failed(Exception):
    pass


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                env[key] = value
    return env


def request(url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.headers, json.loads(r.read() or b"null")


def main():
    data, api = sys.argv[1], sys.argv[2]
    env = read_env(os.path.join(data, "demo.env"))
    headers, _ = request(env["KEYSTONE"] + "/v3/auth/tokens", {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": env["DEMO_USER"], "domain": {"name": "Default"},
            "password": env["DEMO_PASSWORD"]}}},
        "scope": {"project": {"name": env["DEMO_PROJECT"], "domain": {"name": "Default"}}}}})
    token = headers["X-Subject-Token"]
    project = env["DEMO_PROJECT_ID"]
    url = {"CentralRegion": env["CENTRAL"], "RegionOne": env["REGION_ONE"],
           "RegionTwo": env["REGION_TWO"]}

    def listing(region, collection, query=""):
        return request("%s/%s%s" % (url[region], collection, query),
                       headers={"X-Auth-Token": token})[1][collection]

    def jobs():
        return request(api + "/v1.0/jobs", headers={
            "X-Role": "admin", "X-Tenant-Id": project})[1]["jobs"]

    def one(rows, what):
        if len(rows) != 1:
            raise Failed("%s: want one, got %d: %s" % (what, len(rows), [r.get("id") for r in rows]))
        return rows[0]

    def ip(port):
        return port["fixed_ips"][0]["ip_address"]

    def converged():
        top_router = one([r for r in listing("CentralRegion", "routers") if r["name"] == "router"],
                         "the tenant's router in CentralRegion")
        top_bridge = one(listing("CentralRegion", "networks", "?name=bridge_net_" + project),
                         "bridge_net_%s in CentralRegion" % project)
        vms, bridge_ip, routers = {}, {}, {}
        for region, vm in zip(PODS, ("vm1", "vm2")):
            vms[region] = one(listing(region, "ports", "?name=" + vm), "%s in %s" % (vm, region))
            b_bridge = one(listing(region, "networks", "?name=" + top_bridge["id"]),
                           "the bridge network's copy in %s" % region)
            router = one(listing(region, "routers", "?name=" + top_router["id"]),
                         "the router's copy in %s" % region)
            routers[region] = router
            itf = listing(region, "ports", "?device_owner=network:router_interface&device_id="
                          + router["id"])
            on_vm_net = [p for p in itf if p["network_id"] == vms[region]["network_id"]]
            one(on_vm_net, "the %s router's interface on %s's network" % (region, vm))
            # On the bridge through its gateway, SNAT off (as the reference).
            gw = router["external_gateway_info"] or {}
            if gw.get("network_id") != b_bridge["id"] or gw.get("enable_snat") is not False:
                raise Failed("the %s router's gateway: got %s, want one on the bridge copy %s "
                             "without SNAT" % (region, gw, b_bridge["id"]))
            bridge_ip[region] = gw["external_fixed_ips"][0]["ip_address"]
            if ipaddress.ip_address(bridge_ip[region]) not in BRIDGE_CIDR:
                raise Failed("%s's bridge address %s is not in %s" % (
                    region, bridge_ip[region], BRIDGE_CIDR))
        for region, other in (PODS, PODS[::-1]):
            got = sorted((r["destination"], r["nexthop"]) for r in routers[region]["routes"])
            want = [(ip(vms[other]) + "/32", bridge_ip[other])]
            if got != want:
                raise Failed("routes of the %s router: got %s, want %s" % (region, got, want))
        mirrors = sorted((p["mac_address"], ip(p)) for p in
                         listing("CentralRegion", "ports", "?device_owner=compute:nova"))
        want = sorted((p["mac_address"], ip(p)) for p in vms.values())
        if mirrors != want:
            raise Failed("VM ports (MAC, address) in CentralRegion: got %s, want %s" % (
                mirrors, want))
        rows = jobs()
        if not rows or any(j["status"] != "SUCCESS" for j in rows):
            raise Failed("jobs: want all SUCCESS, got %s" % sorted(
                (j["type"], j["status"]) for j in rows))
        return len(rows), routers

    start = time.monotonic()
    while True:
        try:
            n, routers = converged()
            break
        except Failed as e:
            if time.monotonic() - start > DEADLINE:
                print("check: not converged after %.0f s: %s" % (DEADLINE, e), file=sys.stderr)
                return 1
            time.sleep(0.25)
    with open(os.path.join(data, "api.log")) as f:
        posts = [line for line in f if "POST /v1.0/jobs" in line]
    if posts:
        print("check: %d job(s) posted to the API: %s" % (len(posts), posts[:2]), file=sys.stderr)
        return 1
    print("check: converged %.1f s after the walk: %s; %d jobs, all SUCCESS" % (
        time.monotonic() - start,
        "; ".join("%s routes %s" % (region, [(r["destination"], r["nexthop"])
                                             for r in routers[region]["routes"]])
                  for region in PODS), n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
