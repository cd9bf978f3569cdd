"""Stock-mode convergence times on the real servers (run by
scripts/bench.d/converge.sh, which starts them and registers the pods).

The guide's base set-up as the e2e walk makes it (net1 in RegionOne, net2
in RegionTwo, a router with a gateway on ext-net, vm1 and vm2 with their
mirrors and floating IPs, converged; with PACED=1 each step is let settle
before the next, so only the floating IPs are timed), then ROUNDS tenant
changes cycling through four kinds. Each is timed from the tenant's last
call to the moment xjob's jobs table was seen idle (polled through the
admin API every POLL seconds), counted only when a look at the regions'
Neutron that follows finds the change's effect with no job run
meanwhile: the change converged as a whole, and the bench's looks do not
take the single-worker neutron-servers' time from the jobs. The effects:
  interface  a new network (az1 / az2 in turn) with a subnet and a router
             interface -> the pod's bottom router has an interface on the
             network's copy
  vm         a VM booted in RegionOne / RegionTwo in turn (compute port on
             net1's / net2's copy) -> its mirror in CentralRegion, the /32
             route to it in the other pod's router and in the NS router
  fip        a floating IP on the latest VM's mirror -> the bottom floating
             IP in RegionTwo at the VM's address
  gateway    in a project of its own (one cross-pod router with a gateway
             per project, as in the original), a router with an interface
             on a network in az1 (its interface made in RegionOne and the
             jobs settled, not timed), then its gateway set
             on ext-net -> its north-south router in RegionTwo has the
             gateway at the address the central region gave
Between rounds the engine is let settle (no NEW/RUNNING/FAIL job for
SETTLE_QUIET seconds, default 1; not timed). The base set-up and, at the
end, the whole converged state are checked as the e2e does.
The Neutron calls xjob made for each kind (from its /metrics, by job type,
the settling included) are printed per round.

Then the same jobs run again with nothing to change, posted through the
admin API as the Tricircle plugins cast them (router_setup for each of the
guide router's networks and configure_route), RERUNS times (default 5):
seconds from the POSTs to every job SUCCESS, and the calls per job type
(reads only, expected), and the CPU seconds Neutron, Keystone, MariaDB
and xjob used meanwhile; runs a reconciliation sweep overlapped are
marked.

Then the floor of the guide's last step (FLOOR, below): the writes it
needs in RegionTwo, one at a time on its idle neutron-server.

Then the sweep's cost: SWEEP_ROUTERS (default 100; 0 skips) more routers
created by the tenant at the top (without interfaces: no bottom copies),
the engine settled, xjob started again sweeping every SWEEP_INTERVAL
seconds (default 5; the changes above are timed with
BENCH_RECONCILE_INTERVAL, default 300 as in xjob.conf), and for
SWEEP_WINDOW seconds (default 4 sweeps) nobody but xjob calls Neutron: the
requests each region's neutron-server logs in that window, per sweep."""

import os
import re
import sys
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e.d"))

import networking as n  # noqa: E402
from e2elib import Failed  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "20"))
# The base set-up as a tenant walks the guide, each step let settle before
# the next (the networks and router, then the VMs and their mirrors), so
# that its last step, the floating IPs, is what is timed.
PACED = os.environ.get("PACED", "0") == "1"
POLL = float(os.environ.get("POLL", "0.05"))
TIMEOUT = float(os.environ.get("CONVERGE_TIMEOUT", "120"))


# (wall-clock start, end) of each timed change, for neutron_at_work().
WINDOWS = []


def timed(what, since, predicate):
    """Seconds from `since` (the tenant's last call) to the moment the jobs
    table was seen idle before `predicate` (a look at the pods) held with
    no job run meanwhile: what the look saw is the state at that moment
    (only xjob writes), so the figure is the change converged, not only
    the part the look checks. Idle is polled through the API every POLL,
    not in Neutron: the pods run one API worker each, and a look every
    POLL took a share of it from the jobs being timed."""
    deadline = since + TIMEOUT
    last = "nothing seen"
    while True:
        if not n.pending_jobs():
            idle_at, runs = time.monotonic(), job_runs()
            try:
                if predicate() and not n.pending_jobs() and job_runs() == runs:
                    took = idle_at - since
                    start = time.time() - (time.monotonic() - since)
                    WINDOWS.append((start, start + took))
                    return took
                last = "not yet, or jobs ran during the look"
            except Failed as error:
                last = str(error)
        if time.monotonic() > deadline:
            raise Failed("%s: not within %.0f s; last seen: %s; jobs pending: %s" % (
                what, TIMEOUT, last, n.describe_jobs(n.pending_jobs())))
        time.sleep(POLL)


QUIET = float(os.environ.get("SETTLE_QUIET", "1.0"))


def settle():
    """No NEW/RUNNING/FAIL job for QUIET seconds in a row: a notification
    of the last change may reach xjob after a first look finds the jobs
    table empty, and its jobs would then run into the next round."""
    quiet_since = None
    deadline = time.monotonic() + TIMEOUT
    while True:
        now = time.monotonic()
        if n.pending_jobs():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= QUIET:
            return
        if now > deadline:
            raise Failed("jobs not settled within %.0f s: %s" % (
                TIMEOUT, n.describe_jobs(n.pending_jobs())))
        time.sleep(0.1)


def bottom_router(region):
    return n.named(n.listing(region, "routers"), n.W["router"])[0]


def round_interface(i):
    region, az = (("RegionOne", "az1"), ("RegionTwo", "az2"))[i % 2]
    name = "bench-net%d" % i
    n.add_network(name, "10.1.%d.0/24" % i, az, region, interface=False)
    n.add_interface(name)
    since = time.monotonic()
    net = n.W["nets"][name]

    def there():
        copies = n.routings(net["id"], region, "network")
        if not copies:
            return False
        r = bottom_router(region)
        ports = n.listing(region, "ports", "?device_owner=network:router_interface"
                          "&device_id=%s&network_id=%s" % (r["id"], copies[0]))
        return bool(ports)
    return timed("%s's interface in %s" % (name, region), since, there)


def round_vm(i):
    region, net = (("RegionOne", "net1"), ("RegionTwo", "net2"))[i % 2]
    other = "RegionTwo" if region == "RegionOne" else "RegionOne"
    vm = "bench-vm%d" % i
    port = n.boot_vm(vm, net, region)
    since = time.monotonic()
    route = (n.ip_of(port) + "/32", n.W["bridge-ip-" + region])
    ns_id = n.W["ns"]["id"]

    def there():
        mirrors = n.listing(n.TOP, "ports", "?mac_address=" + port["mac_address"])
        if not mirrors:
            return False
        if route not in n.routes_of(n.nget(other, "/routers/" + bottom_router(other)["id"])["router"]):
            return False
        return route in n.routes_of(n.nget("RegionTwo", "/routers/" + ns_id)["router"])
    took = timed("%s's mirror and routes" % vm, since, there)
    n.mirror_of(vm)
    n.W["latest-vm"] = vm
    return took


def round_fip(i):
    vm = n.W["latest-vm"]
    fip = n.add_floating_ip(vm)
    since = time.monotonic()
    ip = n.ip_of(n.W["vms"][vm]["port"])

    def there():
        rows = n.listing("RegionTwo", "floatingips",
                         "?floating_ip_address=" + fip["floating_ip_address"])
        return bool(rows) and rows[0]["fixed_ip_address"] == ip
    return timed("%s's floating IP in RegionTwo" % vm, since, there)


def round_gateway(i):
    # A project of its own: a project has one bridge subnet whose gateway
    # address is its north-south router's (as in the original), so one
    # cross-pod router with a gateway per project. The admin acts for it.
    project = uuid.uuid4().hex
    net = n.npost(n.TOP, "networks", {"name": "bench-gw-net%d" % i, "tenant_id": project,
                                      "availability_zone_hints": ["az1"]})
    sub = n.npost(n.TOP, "subnets", {"network_id": net["id"], "cidr": "10.2.%d.0/24" % i,
                                     "ip_version": 4, "tenant_id": project})
    router = n.npost(n.TOP, "routers", {"name": "bench-gw%d" % i, "tenant_id": project})["id"]
    n.nput(n.TOP, "/routers/%s/add_router_interface" % router, {"subnet_id": sub["id"]})

    def wired():
        # Read in the pod: the API shows the admin only its own project's
        # routings. A network's copy is named `<top id>#<top name>`, a
        # router's by its top id.
        copies = [c for c in n.listing("RegionOne", "networks")
                  if c["name"].startswith(net["id"] + "#")]
        b_router = n.listing("RegionOne", "routers", "?name=" + router)
        if not copies or not b_router:
            return False
        return bool(n.listing("RegionOne", "ports", "?device_owner=network:router_interface"
                              "&device_id=%s&network_id=%s" % (b_router[0]["id"], copies[0]["id"])))
    n.wait_for("bench-gw%d's interface in RegionOne" % i, wired, timeout=TIMEOUT)
    settle()
    gw = n.nput(n.TOP, "/routers/" + router, {"router": {
        "external_gateway_info": {"network_id": n.W["ext"]}}})["router"]["external_gateway_info"]
    since = time.monotonic()
    ip = gw["external_fixed_ips"][0]["ip_address"]

    def there():
        ns = n.named(n.listing("RegionTwo", "routers"), "ns_router_" + router)
        if not ns or not ns[0]["external_gateway_info"]:
            return False
        return ns[0]["external_gateway_info"]["external_fixed_ips"][0]["ip_address"] == ip
    return timed("bench-gw%d's gateway in RegionTwo" % i, since, there)


METRICS = "http://127.0.0.1:%s/metrics" % os.environ.get("TRICIRCLE_E2E_XJOB_METRICS_PORT", "19996")
CALL = re.compile(r'^tricircle_xjob_neutron_calls_total\{([^}]*)\} (\d+)', re.M)


def calls_by_job_type():
    """(job type, GET or write) -> Neutron calls xjob made so far."""
    with urllib.request.urlopen(METRICS, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for labels, count in CALL.findall(text):
        kv = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        key = (kv.get("job_type", "?"), "reads" if kv.get("method") == "GET" else "writes")
        out[key] = out.get(key, 0) + int(count)
    return out


RUNS = re.compile(r'^tricircle_xjob_jobs_total\{[^}]*\} (\d+)', re.M)


def job_runs():
    """Job runs xjob has finished so far (success or fail)."""
    with urllib.request.urlopen(METRICS, timeout=10) as r:
        return sum(int(c) for c in RUNS.findall(r.read().decode()))


def converged_at(what, assertion, since):
    """`timed` for a check of the whole state (`assertion` raises Failed
    until it holds)."""
    def holds():
        assertion()
        return True
    took = timed(what, since, holds)
    print("     (%s: converged %.1f s after the tenant's last call)" % (what, took), flush=True)
    return took


def delta(before, after):
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def show_calls(d, per=1):
    types = sorted({t for t, _ in d})
    return ", ".join("%s %.0f/%.0f" % (t, d.get((t, "reads"), 0) / per, d.get((t, "writes"), 0) / per)
                     for t in types) or "none"


RERUNS = int(os.environ.get("RERUNS", "5"))
SERVICES = (("neutron", "neutron-server"), ("keystone", "keystone"), ("mariadb", "mariadbd"),
            ("xjob", "tricircle-xjob"))


def cpu_by(key):
    """Group -> CPU seconds its processes used so far (this machine's
    /proc), each process grouped by key(pid, parent pid, command line)
    (None: not counted)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().decode(errors="replace")
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        group = key(pid, fields[1], cmd)
        if group is not None:
            out[group] = out.get(group, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def service_cpu():
    """Service -> CPU seconds its processes used so far: where a rerun's
    time goes when the servers are busy."""
    def service(_pid, _ppid, cmd):
        return next((name for name, marker in SERVICES if marker in cmd), None)
    return {**dict.fromkeys((name for name, _ in SERVICES), 0.0), **cpu_by(service)}


FLOOR = int(os.environ.get("FLOOR", "3"))


def region_cpu(region):
    """CPU seconds `region`'s neutron-server (its parent and workers) used
    so far."""
    with open(os.path.join(os.environ["TRICIRCLE_E2E_STATE"], "run", "neutron-%s.pid" % region)) as f:
        parent = f.read().strip()
    return sum(cpu_by(lambda pid, ppid, _cmd: parent in (pid, ppid) or None).values())


def floor():
    """The physical floor of the guide's last step (PACED=1: the first two
    floating IPs): the writes it needs in the external network's pod made
    one at a time, xjob stopped, on RegionTwo's otherwise idle
    neutron-server, FLOOR times (0 skips): for vm2 (in that pod) the
    north-south interface's port, the interface, the floating IP; for vm1
    (in the other pod) the shadow network, subnet and port, the interface
    (by subnet) and the floating IP. Made on a router, networks and
    addresses of their own, then deleted."""
    if FLOOR <= 0:
        return
    r2 = "RegionTwo"
    made = {"fips": [], "interfaces": [], "routers": [], "ports": [], "networks": []}
    rows = {}

    def write(name, method, path, body=None):
        time.sleep(0.3)  # what came before is done in the server too
        c0, w0 = region_cpu(r2), time.monotonic()
        if method == "POST":
            out = n.npost(r2, path, body)
        else:
            out = n.nput(r2, path, body)
        rows.setdefault(name, []).append((time.monotonic() - w0, region_cpu(r2) - c0))
        return out

    n.shell("e2e_xjob_stop")
    try:
        for rep in range(FLOOR):
            tag = "bench-floor-%d-%s" % (rep, uuid.uuid4().hex[:6])
            ext = n.npost(r2, "networks", {"name": tag, "router:external": True,
                                           "provider:network_type": "vlan",
                                           "provider:physical_network": "extern"})
            made["networks"].append(ext["id"])
            n.npost(r2, "subnets", {"network_id": ext["id"], "cidr": "172.31.%d.0/24" % rep,
                                    "ip_version": 4, "enable_dhcp": False})
            ns = n.npost(r2, "routers", {"name": tag + "-ns",
                                         "external_gateway_info": {"network_id": ext["id"]}})
            ew = n.npost(r2, "routers", {"name": tag + "-ew"})
            made["routers"] += [ns["id"], ew["id"]]
            net2 = n.npost(r2, "networks", {"name": tag + "-net2"})
            made["networks"].append(net2["id"])
            sub2 = n.npost(r2, "subnets", {"network_id": net2["id"], "cidr": "10.250.%d.0/24" % rep,
                                           "ip_version": 4, "enable_dhcp": False})
            n.nput(r2, "/routers/%s/add_router_interface" % ew["id"], {"subnet_id": sub2["id"]})
            made["interfaces"].append((ew["id"], {"subnet_id": sub2["id"]}))
            vm2 = n.npost(r2, "ports", {"network_id": net2["id"], "device_owner": "compute:nova",
                                        "device_id": tag + "-vm2"})
            made["ports"].append(vm2["id"])
            # vm2, in the external network's pod.
            itf = write("vm2: port for the north-south interface", "POST", "ports",
                        {"network_id": net2["id"], "fixed_ips": [{"subnet_id": sub2["id"]}]})
            write("vm2: interface (by port)", "PUT", "/routers/%s/add_router_interface" % ns["id"],
                  {"port_id": itf["id"]})
            made["interfaces"].append((ns["id"], {"port_id": itf["id"]}))
            fip = write("vm2: floating IP", "POST", "floatingips",
                        {"floating_network_id": ext["id"], "port_id": vm2["id"]})
            made["fips"].append(fip["id"])
            # vm1, in the other pod: its shadow copies here.
            net1 = write("vm1: shadow network", "POST", "networks", {"name": tag + "-net1"})
            made["networks"].append(net1["id"])
            sub1 = write("vm1: shadow subnet", "POST", "subnets",
                         {"network_id": net1["id"], "cidr": "10.251.%d.0/24" % rep, "ip_version": 4,
                          "enable_dhcp": False, "allocation_pools": []})
            shadow = write("vm1: shadow port", "POST", "ports",
                           {"network_id": net1["id"], "device_owner": "compute:shadow",
                            "fixed_ips": [{"subnet_id": sub1["id"],
                                           "ip_address": "10.251.%d.5" % rep}]})
            made["ports"].append(shadow["id"])
            write("vm1: interface (by subnet)", "PUT",
                  "/routers/%s/add_router_interface" % ns["id"], {"subnet_id": sub1["id"]})
            made["interfaces"].append((ns["id"], {"subnet_id": sub1["id"]}))
            fip = write("vm1: floating IP", "POST", "floatingips",
                        {"floating_network_id": ext["id"], "port_id": shadow["id"]})
            made["fips"].append(fip["id"])
    finally:
        for fip in made["fips"]:
            n.ndelete(r2, "/floatingips/" + fip)
        for router, body in made["interfaces"]:
            n.nput(r2, "/routers/%s/remove_router_interface" % router, body)
        for router in made["routers"]:
            n.nput(r2, "/routers/" + router, {"router": {"external_gateway_info": {}}})
            n.ndelete(r2, "/routers/" + router)
        for port in made["ports"]:
            n.ndelete(r2, "/ports/" + port)
        for net in made["networks"]:
            n.ndelete(r2, "/networks/" + net)
        n.shell("e2e_notifications_purge")
        n.shell("e2e_xjob_start")
    print("== the floor of the guide's last step: its %d writes in RegionTwo one at a time on an"
          " idle neutron-server (median of %d)" % (len(rows), FLOOR))
    walls, cpus = 0.0, 0.0
    for name, rs in rows.items():
        wall, cpu = pct([w for w, _ in rs], 0.5), pct([c for _, c in rs], 0.5)
        walls, cpus = walls + wall, cpus + cpu
        print("  %-42s %.2f s (CPU %.2f s)" % (name, wall, cpu))
    print("  %-42s %.2f s (CPU %.2f s); vm2's interface and vm1's go one after the other"
          " (one router)" % ("all", walls, cpus))


def rerun_through_jobs():
    """The guide router's jobs posted again through the API, as the plugins
    cast them; nothing is left to change. RERUNS times; a run that a
    reconciliation sweep overlapped (calls outside any job, "-") is marked:
    the e2e sweeps every few seconds, a deployment every 300 s."""
    if RERUNS <= 0:
        return
    asks = [("router_setup", {"pod_id": "not_specified_pod", "router_id": n.W["router"],
                              "network_id": n.W["nets"][net]["id"]}) for net in ("net1", "net2")]
    asks.append(("configure_route", {"router_id": n.W["router"]}))
    quiet, swept = [], []
    print("== rerun through the API (router_setup x2 fan-out, configure_route), nothing to change:")
    for i in range(RERUNS):
        before = calls_by_job_type()
        cpu_before = service_cpu()
        since = time.monotonic()
        for t, r in asks:
            n.api("POST", "/jobs", {"job": {"type": t, "project_id": n.project, "resource": r}})

        def done():
            # A served NEW row is removed (its run is logged under the lock
            # row's id): nothing NEW, RUNNING or FAILed is left.
            return not n.pending_jobs()
        took = timed("the rerun's jobs", since, done)
        cpu = {k: v - cpu_before[k] for k, v in service_cpu().items()}
        d = delta(before, calls_by_job_type())
        sweep = any(t == "-" for t, _ in d)
        (swept if sweep else quiet).append(took)
        jobs = {k: v for k, v in d.items() if k[0] != "-"}
        print("  rerun %d: all SUCCESS %.2f s after the POSTs%s; calls by job type (reads/writes): %s;"
              " CPU used meanwhile: %s" % (
                  i + 1, took, " (a sweep ran meanwhile)" if sweep else "", show_calls(jobs),
                  ", ".join("%s %.2f s" % kv for kv in cpu.items())), flush=True)
        time.sleep(1)
    every = quiet + swept
    print("  p50 %.2f s over %d reruns; without a sweep meanwhile: %s; aim: under 1 s" % (
        pct(every, 0.5), len(every),
        "p50 %.2f s, best %.2f s (%d)" % (pct(quiet, 0.5), min(quiet), len(quiet)) if quiet else "none"))


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))]


def main():
    t0 = time.monotonic()
    offsets = {r: os.path.getsize(NEUTRON_LOGS % r) for r in n.NEUTRON}
    n.wipe_all()
    n.tenant_side()
    if PACED:
        settle()
    n.boot_vms()
    n.mirrors()
    if PACED:
        settle()
    n.floating_ips()
    base = converged_at("base set-up", n.assert_converged, n.W["last-call"])
    print("base set-up%s (wipe included) in %.1f s; converged %.1f s after the last call"
          % (", each step settled first (PACED=1)" if PACED else "", time.monotonic() - t0, base),
          flush=True)
    base_cost(time.time() - (time.monotonic() - n.W["last-call"]), offsets)
    n.W["latest-vm"] = "vm1"
    offsets = {r: os.path.getsize(NEUTRON_LOGS % r) for r in n.NEUTRON}
    kinds = (("vm", round_vm), ("fip", round_fip), ("interface", round_interface),
             ("gateway", round_gateway))
    times = {k: [] for k, _ in kinds}
    calls = {k: {} for k, _ in kinds}
    for i in range(ROUNDS):
        kind, fn = kinds[i % len(kinds)]
        before = calls_by_job_type()
        took = fn(i)
        times[kind].append(took)
        settle()
        d = delta(before, calls_by_job_type())
        for k, v in d.items():
            calls[kind][k] = calls[kind].get(k, 0) + v
        print("  round %2d %-9s %.2f s   calls (reads/writes) %s" % (
            i + 1, kind, took, show_calls(d)), flush=True)
    converged_at("after the rounds", n.assert_converged, time.monotonic())
    every = [t for ts in times.values() for t in ts]
    print("== tenant's last call -> converged, %d rounds (%d cores)" % (ROUNDS, os.cpu_count()))
    for kind, ts in list(times.items()) + [("all", every)]:
        if ts:
            print("  %-9s n=%2d  p50 %.2f s  p99 %.2f s  max %.2f s" % (
                kind, len(ts), pct(ts, 0.50), pct(ts, 0.99), max(ts)))
    print("  aim: 2 s")
    print("== Neutron calls per round by job type (reads/writes, first runs and the reruns"
          " the events asked for)")
    for kind, ts in times.items():
        if ts:
            print("  %-9s %s" % (kind, show_calls(calls[kind], len(ts))))
    neutron_at_work([kinds[i % len(kinds)][0] for i in range(ROUNDS)], offsets)
    posts, _ = n.posted_jobs_since(n.W["log-offset"])
    print("  POST /v1.0/jobs during the rounds: %d" % len(posts))
    rerun_through_jobs()
    floor()
    sweep_cost()


NEUTRON_LOGS = os.path.join(os.environ["TRICIRCLE_E2E_STATE"], "logs", "neutron-%s.log")
REQUEST = re.compile(r'"(GET|POST|PUT|DELETE) /v2\.0/(\w+)')
# A neutron-server access line of a call xjob made in a job: xjob sends the
# job's id as the global request id, logged first in the brackets of a GET
# (the bench's own GETs log None there).
# Neutron logs its access line of a write under another context (None
# there), but within a change's window only xjob writes.
JOB_CALL = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) \d+ INFO neutron\.wsgi '
                      r'\[(?:req-[0-9a-f-]{36} req-.*"GET|.*"(?:POST|PUT|DELETE)) .* time: ([0-9.]+)')


def job_calls(offsets):
    """(start, end, region, is a write) of each Neutron call a job made, in
    wall-clock seconds, from every region's log past `offsets`, sorted."""
    calls = []
    for region in n.NEUTRON:
        with open(NEUTRON_LOGS % region, errors="replace") as f:
            f.seek(offsets[region])
            for line in f:
                m = JOB_CALL.match(line)
                if m:
                    end = time.mktime(time.strptime(m.group(1)[:19], "%Y-%m-%d %H:%M:%S")) \
                        + float("0" + m.group(1)[19:])
                    calls.append((end - float(m.group(2)), end, region, '"GET ' not in line))
    return sorted(calls)


def base_cost(start, offsets):
    """The base set-up after the tenant's last call (`start`, wall clock):
    when xjob's last Neutron call there ended, how long some Neutron was
    answering xjob meanwhile, and each region's time spent on its writes."""
    calls = [c for c in job_calls(offsets) if c[1] > start]
    if not calls:
        return
    end = max(c[1] for c in calls)
    writes = {r: [c for c in calls if c[2] == r and c[3]] for r in n.NEUTRON}
    print("  base set-up: xjob's last Neutron call ended %.1f s after the last call; a Neutron"
          " answering xjob %.1f s of them; writes (union per region): %s" % (
              end - start, busy_within(calls, start, end), ", ".join(
                  "%s %d, %.1f s" % (r, len(w), busy_within(w, start, end))
                  for r, w in writes.items())))


def busy_within(spans, start, end):
    """Seconds of [start, end] during which at least one of `spans`
    ((start, end, ...) sorted by start) ran."""
    busy, reach = 0.0, start
    for a, b, *_ in spans:
        a, b = max(a, reach), min(b, end)
        if b > a:
            busy += b - a
            reach = b
    return busy


def neutron_at_work(kinds_of_rounds, offsets):
    """Of each change's time to converge, the part during which a Neutron
    server was answering one of xjob's job calls (the physical part: the
    rest is xjob's own, the notification's delivery, queueing and the
    bench's poll)."""
    if not kinds_of_rounds:
        return
    spans = job_calls(offsets)
    if not spans:
        print("== Neutron at work: no job call found in the servers' logs (global request ids)")
        return
    rounds = list(zip(kinds_of_rounds, WINDOWS[-len(kinds_of_rounds):]))
    print("== of each change's time, Neutron answering xjob's calls (the rest: notification,"
          " queue, xjob, the 50 ms poll)")
    by_kind = {}
    for kind, (a, b) in rounds:
        by_kind.setdefault(kind, []).append((b - a, busy_within(spans, a, b)))
    for kind, pairs in by_kind.items():
        idle = [t - w for t, w in pairs]
        print("  %-9s at work %.2f of %.2f s (p50), not at work p50 %.2f s, max %.2f s" % (
            kind, pct([w for _, w in pairs], 0.5), pct([t for t, _ in pairs], 0.5),
            pct(idle, 0.5), max(idle)))


def sweep_cost():
    routers = int(os.environ.get("SWEEP_ROUTERS", "100"))
    if routers <= 0:
        return
    interval = float(os.environ.get("SWEEP_INTERVAL", "5"))
    window = float(os.environ.get("SWEEP_WINDOW", str(4 * interval)))
    n.shell("e2e_xjob_reconcile_every", "%g" % interval)
    # Neutron's default quota is 10 routers a project.
    n.nput(n.TOP, "/quotas/" + n.project, {"quota": {"router": -1}})
    have = len(n.listing(n.TOP, "routers"))
    for i in range(routers):
        n.tpost(n.TOP, "routers", {"name": "bench-sweep-%d" % i})
    settle()
    sizes = {r: os.path.getsize(NEUTRON_LOGS % r) for r in n.NEUTRON}
    time.sleep(window)  # the observation window: only xjob calls Neutron now
    print("== one sweep's Neutron calls, %d routers at the top (%d new, no interfaces), "
          "%.0f s window, reconcile_interval %.0f s" % (have + routers, routers, window, interval))
    for region in n.NEUTRON:
        with open(NEUTRON_LOGS % region, errors="replace") as f:
            f.seek(sizes[region])
            calls = [m.group(1) + " " + m.group(2) for m in map(REQUEST.search, f) if m]
        kinds = {}
        for c in calls:
            kinds[c] = kinds.get(c, 0) + 1
        print("  %-13s %3d requests in the window, %.1f per sweep  %s" % (
            region, len(calls), len(calls) / (window / interval),
            ", ".join("%s %d" % kv for kv in sorted(kinds.items()))))


if __name__ == "__main__":
    n.W["log-offset"] = n.api_log_offset()
    try:
        main()
    except Failed as error:
        print("FAIL %s" % error, flush=True)
        sys.exit(1)
