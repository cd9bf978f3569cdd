"""What the tenant and the operator do in a scripts/chaos run, the same in
the fault-free run and under faults (it depends on the seed only).

A unit is the multi-pod guide's walk: in the central region, network
`net-<u>-a` (zone az1, 10.<u>.1.0/24) and `net-<u>-b` (az2, 10.<u>.2.0/24),
a router `router-<u>` with an interface on each; then, once xjob made the
pods' copies, a VM (a `compute:nova` port) in each pod on its copy. Those
tenant calls reach xjob as notifications over RabbitMQ. Later, the VM in
RegionOne of an earlier unit is deleted and booted again under another
name (the mirror, routes and shadow ports follow).

The operator posts jobs through the admin API, as the Tricircle plugins or
a person redoing work would: `router_setup` (`not_specified_pod#router#
network`), `configure_route` (router) and `update_network`
(`not_specified_pod#network`) on the units made so far, a few at once.
"""

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from system import Failed

JOB_KINDS = ("router_setup", "configure_route", "update_network")
SIDES = (("a", "RegionOne", "az1", 1), ("b", "RegionTwo", "az2", 2))


class Unit:
    def __init__(self, u):
        self.u = u
        self.net = {}
        self.subnet = {}
        self.router = None
        self.vm = {}


class Workload:
    def __init__(self, system, seed, rounds, units, jobs):
        self.sys = system
        self.rng = random.Random("workload-%d" % seed)
        self.seed = seed
        self.rounds = rounds
        self.units = [Unit(u) for u in range(units)]
        self.plan = [[u for u in self.units if u.u % rounds == r] for r in range(rounds)]
        self.jobs_per_round = [jobs // rounds + (1 if r < jobs % rounds else 0)
                               for r in range(rounds)]
        # Decided up front, so both runs do the same whatever their timing.
        self.posts = []
        self.reboots = []
        made = []
        for r in range(rounds):
            made += self.plan[r]
            self.posts.append([(self.rng.choice(JOB_KINDS), self.rng.choice(made).u,
                                self.rng.choice("ab"), self.rng.uniform(0, 5.0))
                               for _ in range(self.jobs_per_round[r])] if made else [])
            earlier = [u.u for u in made if u not in self.plan[r]]
            self.reboots.append(self.rng.choice(earlier) if earlier and
                                self.rng.random() < 0.5 else None)
        self.accepted = []          # (job id, type, resource_id) the API took
        self.post_attempts = 0
        self.tenant_writes = 0
        self.lock = threading.Lock()

    # -- tenant ------------------------------------------------------------

    def _write(self, region, method, path, body=None):
        with self.lock:
            self.tenant_writes += 1
        return self.sys.neutron(region, method, path, body)

    def make_unit(self, unit):
        u = unit.u
        for side, _, az, third in SIDES:
            net = self._write("CentralRegion", "POST", "networks", {"network": {
                "name": "net-%d-%s" % (u, side), "availability_zone_hints": [az]}})
            unit.net[side] = net["network"]["id"]
            sub = self._write("CentralRegion", "POST", "subnets", {"subnet": {
                "name": "subnet-%d-%s" % (u, side), "network_id": unit.net[side],
                "cidr": "10.%d.%d.0/24" % (u, third), "ip_version": 4}})
            unit.subnet[side] = sub["subnet"]["id"]
        router = self._write("CentralRegion", "POST", "routers",
                             {"router": {"name": "router-%d" % u}})
        unit.router = router["router"]["id"]
        for side, _, _, _ in SIDES:
            self._write("CentralRegion", "PUT", "routers/%s/add_router_interface" % unit.router,
                        {"subnet_id": unit.subnet[side]})

    def copy_of(self, network, subnet, region, deadline=180.0):
        """The pod's copy of a central network, once xjob made it and its
        subnet's copy (a VM booted before gets no address)."""
        pod = [p for p, r in self.sys.pods.items() if r == region][0]
        end = time.monotonic() + deadline
        while True:
            bound = {}
            for kind, top in (("network", network), ("subnet", subnet)):
                rows = self.sys.admin_api("GET", "/v1.0/routings?top_id=%s&pod_id=%s"
                                          "&resource_type=%s" % (top, pod, kind))["routings"]
                bound[kind] = [r["bottom_id"] for r in rows if r.get("bottom_id")]
            if bound["network"] and bound["subnet"]:
                return bound["network"][0]
            if time.monotonic() > end:
                raise Failed("no copy of network %s with its subnet in %s within %.0f s" % (
                    network, region, deadline))
            time.sleep(0.25)

    def boot(self, unit, side, name):
        _, region, _, _ = [s for s in SIDES if s[0] == side][0]
        copy = self.copy_of(unit.net[side], unit.subnet[side], region)
        port = self._write(region, "POST", "ports", {"port": {
            "name": name, "network_id": copy, "device_owner": "compute:nova",
            "device_id": self.device_id(name)}})
        unit.vm[side] = port["port"]["id"]

    def device_id(self, vm):
        """The VM's id: the same in both runs."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "chaos-%d-%s" % (self.seed, vm)))

    def reboot(self, unit, r):
        """Delete the unit's VM in RegionOne, boot another."""
        self._write("RegionOne", "DELETE", "ports/%s" % unit.vm["a"])
        self.boot(unit, "a", "vm-%d-a-r%d" % (unit.u, r))

    # -- operator ----------------------------------------------------------

    def job_body(self, kind, unit, side):
        if kind == "router_setup":
            resource = {"pod_id": "not_specified_pod", "router_id": unit.router,
                        "network_id": unit.net[side]}
        elif kind == "configure_route":
            resource = {"router_id": unit.router}
        else:
            resource = {"pod_id": "not_specified_pod", "network_id": unit.net[side]}
        return {"job": {"type": kind, "project_id": self.sys.project, "resource": resource}}

    def post(self, kind, unit, side, at, deadline=120.0):
        """Post at `at` (monotonic) until the API accepts it (it is away
        under some faults); only an accepted job counts."""
        time.sleep(max(0.0, at - time.monotonic()))
        body = self.job_body(kind, unit, side)
        end = time.monotonic() + deadline
        while True:
            with self.lock:
                self.post_attempts += 1
            status, answer = self.sys.post_job(body)
            if status == 200:
                job = answer["job"]
                resource = job["resource"]
                fields = {"router_setup": ("pod_id", "router_id", "network_id"),
                          "configure_route": ("router_id",),
                          "update_network": ("pod_id", "network_id")}[kind]
                with self.lock:
                    self.accepted.append((job["id"], kind,
                                          "#".join(resource[f] for f in fields)))
                return
            if 400 <= status < 500:
                raise Failed("the API refused job %s: %s %s" % (body, status, answer))
            if time.monotonic() > end:
                raise Failed("the API did not take job %s within %.0f s (last %s: %s)" % (
                    body, deadline, status, answer))
            time.sleep(0.2)

    # -- a round -----------------------------------------------------------

    def round(self, r):
        """Round r's calls; returns when they are all answered."""
        for unit in self.plan[r]:
            self.make_unit(unit)
        units = {u.u: u for u in self.units}
        start = time.monotonic()
        # In the order they are due, so no post waits behind a later one.
        due = sorted(self.posts[r], key=lambda p: p[3])
        with ThreadPoolExecutor(max_workers=8) as pool:
            posted = [pool.submit(self.post, kind, units[u], side, start + delay)
                      for kind, u, side, delay in due]
            for unit in self.plan[r]:
                for side, _, _, _ in SIDES:
                    self.boot(unit, side, "vm-%d-%s" % (unit.u, side))
            if self.reboots[r] is not None:
                self.reboot(units[self.reboots[r]], r)
            for f in posted:
                f.result()
