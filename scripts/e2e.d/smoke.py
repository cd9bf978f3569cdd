"""Smoke check of the OpenStack services: every Neutron operation the jobs
need, in each region, as the admin user (no agents: statuses stay DOWN),
then removes what it made. Also availability zones and a non-admin policy
check. Prints one line per check; exits non-zero when any fails."""

from e2elib import Checks, Failed, admin_token, call, demo_token, env, expect_equal

REGIONS = {
    "CentralRegion": (env["TRICIRCLE_E2E_NEUTRON_CENTRAL_URL"], ["az1", "az2"], 1),
    "RegionOne": (env["TRICIRCLE_E2E_NEUTRON_R1_URL"], ["az1"], 2),
    "RegionTwo": (env["TRICIRCLE_E2E_NEUTRON_R2_URL"], ["az2"], 3),
}
PREFIX = "e2e-smoke"
checks = Checks()


def cleanup(url, tok):
    """Removes everything named e2e-smoke* (this run's or a failed run's)."""
    def get(path):
        return call("GET", url + path, tok)
    for fip in get("/v2.0/floatingips?description=" + PREFIX)["floatingips"]:
        call("DELETE", url + "/v2.0/floatingips/" + fip["id"], tok)
    for router in get("/v2.0/routers")["routers"]:
        if not router["name"].startswith(PREFIX):
            continue
        rid = router["id"]
        call("PUT", url + "/v2.0/routers/" + rid, tok,
             {"router": {"external_gateway_info": {}, "routes": []}})
        ports = get("/v2.0/ports?device_owner=network:router_interface&device_id=" + rid)["ports"]
        for port in ports:
            call("PUT", url + "/v2.0/routers/%s/remove_router_interface" % rid, tok,
                 {"port_id": port["id"]})
        call("DELETE", url + "/v2.0/routers/" + rid, tok)
    for port in get("/v2.0/ports")["ports"]:
        if port["name"].startswith(PREFIX):
            call("DELETE", url + "/v2.0/ports/" + port["id"], tok)
    for net in get("/v2.0/networks")["networks"]:
        if net["name"].startswith(PREFIX):
            call("DELETE", url + "/v2.0/networks/" + net["id"], tok)


def smoke_region(region, url, zones, n, tok):
    def post(path, body):
        return call("POST", url + path, tok, body, expect=(201,))

    def put(path, body):
        return call("PUT", url + path, tok, body)
    s = {}
    net_cidr, gw = "10.%d.1.0/24" % n, "10.%d.1.1" % n

    def network():
        net = post("/v2.0/networks", {"network": {
            "name": PREFIX + "-vlan", "provider:network_type": "vlan",
            "provider:physical_network": "bridge"}})["network"]
        s["net"] = net["id"]
        seg = net["provider:segmentation_id"]
        if not 2001 <= seg <= 3000:
            raise Failed("segmentation id %s outside bridge:2001:3000" % seg)

    def subnet():
        s["subnet"] = post("/v2.0/subnets", {"subnet": {
            "name": PREFIX + "-sub", "network_id": s["net"], "ip_version": 4,
            "cidr": net_cidr, "gateway_ip": gw}})["subnet"]["id"]

    def router():
        s["router"] = post("/v2.0/routers", {"router": {"name": PREFIX + "-router"}})["router"]["id"]
        put("/v2.0/routers/%s/add_router_interface" % s["router"], {"subnet_id": s["subnet"]})

    def routes():
        want = [{"destination": "198.18.0.0/24", "nexthop": "10.%d.1.10" % n}]
        got = put("/v2.0/routers/" + s["router"], {"router": {"routes": want}})["router"]["routes"]
        expect_equal("routes", got, want)

    def external():
        s["ext"] = post("/v2.0/networks", {"network": {
            "name": PREFIX + "-ext", "router:external": True,
            "provider:network_type": "flat", "provider:physical_network": "extern"}})["network"]["id"]
        s["ext_subnet"] = post("/v2.0/subnets", {"subnet": {
            "name": PREFIX + "-ext-sub", "network_id": s["ext"], "ip_version": 4,
            "cidr": "203.0.113.0/24", "gateway_ip": "203.0.113.1",
            "enable_dhcp": False}})["subnet"]["id"]

    def gateway():
        info = put("/v2.0/routers/" + s["router"], {"router": {"external_gateway_info": {
            "network_id": s["ext"], "enable_snat": False,
            "external_fixed_ips": [{"subnet_id": s["ext_subnet"], "ip_address": "203.0.113.10"}],
        }}})["router"]["external_gateway_info"]
        expect_equal("enable_snat", info["enable_snat"], False)
        expect_equal("gateway ip", info["external_fixed_ips"][0]["ip_address"], "203.0.113.10")

    def port():
        s["port"] = post("/v2.0/ports", {"port": {
            "name": PREFIX + "-port", "network_id": s["net"],
            "fixed_ips": [{"subnet_id": s["subnet"], "ip_address": "10.%d.1.50" % n}]}})["port"]["id"]

    def floating_ip():
        fip = post("/v2.0/floatingips", {"floatingip": {
            "floating_network_id": s["ext"], "floating_ip_address": "203.0.113.20",
            "description": PREFIX}})["floatingip"]
        expect_equal("floating ip", fip["floating_ip_address"], "203.0.113.20")
        fip = put("/v2.0/floatingips/" + fip["id"], {"floatingip": {"port_id": s["port"]}})["floatingip"]
        expect_equal("fixed ip", fip["fixed_ip_address"], "10.%d.1.50" % n)
        expect_equal("router", fip["router_id"], s["router"])

    def zone(az):
        def create():
            net = post("/v2.0/networks", {"network": {
                "name": "%s-az-%s" % (PREFIX, az), "availability_zone_hints": [az]}})["network"]
            expect_equal("availability_zone_hints", net["availability_zone_hints"], [az])
            call("DELETE", url + "/v2.0/networks/" + net["id"], tok)
        return create

    steps = [("VLAN network on physnet bridge", network), ("subnet", subnet),
             ("router with interface", router), ("PUT routes", routes),
             ("external flat network extern + subnet", external),
             ("gateway, enable_snat false, fixed ip", gateway), ("port", port),
             ("floating IP at 203.0.113.20, associated", floating_ip)]
    steps += [("network with availability_zone_hints [%s]" % az, zone(az)) for az in zones]
    for name, fn in steps:
        if not checks.run("%-13s %s" % (region, name), fn):
            break
    checks.run("%-13s clean-up" % region, lambda: cleanup(url, tok))


def policy(region, url, demo):
    def run():
        call("GET", url + "/v2.0/networks", demo, expect=(200,))
        call("POST", url + "/v2.0/networks", demo, {"network": {
            "name": PREFIX + "-denied", "provider:network_type": "vlan",
            "provider:physical_network": "bridge"}}, expect=(403,))
    checks.run("%-13s demo (member): list 200, provider network 403" % region, run)


tokens = {}


def get_tokens():
    tokens["admin"], tokens["demo"] = admin_token(), demo_token()


if checks.run("%-13s tokens for admin and demo" % "Keystone", get_tokens):
    for region, (url, zones, n) in REGIONS.items():
        if checks.run("%-13s clean-up of earlier runs" % region,
                      lambda: cleanup(url, tokens["admin"])):
            smoke_region(region, url, zones, n, tokens["admin"])
        policy(region, url, tokens["demo"])
checks.exit("smoke")
