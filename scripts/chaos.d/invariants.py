"""What scripts/chaos checks once a run has converged, and the pods'
state it compares, normalised.

Runs of a job. A run of (type, resource) is one lock row: an async_jobs
row inserted with status RUNNING (the unique key on (type, status,
resource_id, extra_id) lets one exist at a time). It starts when that
insert happens and ends at the first change of that row: its deletion
while RUNNING (with the log row of its (type, resource) written in the
same transaction: the engine's successful finish; without: released
unrun), its update to FAIL (its worker's failure, or the takeover by
another worker after job_run_expire: a run of a SIGKILLed xjob ends
there) -- or at any later change of the same row (its worker writing its
result after the takeover: the run went on). Pruning finished rows
changes nothing, nor does a live run dating its lock row now (its
heartbeat: RUNNING to RUNNING). Times are the database's clock at the trigger
(SYSDATE(6)), so a lock insert that waited on the unique key is dated
after it got it, and a finish before its commit. Two runs of one (type,
resource) overlap when one starts before the other ends.

A job accepted by the API (its POST answered 200 with an id) is lost
unless its NEW row was committed; a request (any NEW row: posted,
recorded from a region's event, or by the periodic redo) is lost unless a
run of its (type, resource) that started after that row's insert ended
SUCCESS (a run serves the newest request at its start, so only such a run
served it). A finished job's row
leaves async_jobs for a log row with a new id (the reference's
finish_job), so the id alone cannot be looked up afterwards.

The pods' state, normalised: each region's networks, subnets, routers
and ports, with every id replaced by the name of what it names and every
UUID in a name (bottom copies are named after top ids) by the name of
that top resource (the project and the pods by their names); addresses
that depend on the order jobs ran (the bridge network's, the central
helper ports') are compared as the set each central subnet hands out (a
pod's subnets by the number they hand out: the central region holds a
port with each address a pod uses), and routes by the ports holding their
destination and next hop.
"""

import re
from collections import Counter, defaultdict
from datetime import datetime

from system import REGIONS

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")
NEW = "3_New"
RUNNING = "2_Running"
SUCCESS = "1_Success"


# -- job history -------------------------------------------------------------

def events(system):
    rows = system.sql.run("SELECT ev, id, type, resource_id, old_status, new_status, "
                          "DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'), conn FROM chaos_job_events "
                          "ORDER BY ts, seq")

    def null(v):
        return None if v == "NULL" else v
    return [{"ev": r[0], "id": r[1], "type": r[2], "resource": r[3], "old": null(r[4]),
             "new": null(r[5]), "ts": datetime.strptime(r[6], "%Y-%m-%d %H:%M:%S.%f"),
             "conn": r[7]} for r in rows]


class Run:
    def __init__(self, e):
        self.id, self.type, self.resource = e["id"], e["type"], e["resource"]
        self.start = e["ts"]
        self.end = None
        self.outcome = "running"    # SUCCESS, FAIL, released (not run) or running
        self.changes = []           # (old status, new status or None), as they came
        self.change_times = []


def runs(evs):
    """Every run, from the job-row history (see the module's text). A lock
    row deleted while RUNNING ended a successful run when its transaction
    also wrote the log row of its (type, resource) (the engine's finish),
    and was released unrun otherwise (a claim that found its request served
    meanwhile); an update away from RUNNING is a failure or a takeover."""
    by_id = {}
    out = []
    pending_delete = {}     # (conn, type, resource) -> run deleted, log not yet seen
    for e in evs:
        key = (e["conn"], e["type"], e["resource"])
        if e["ev"] == "log" and key in pending_delete:
            pending_delete.pop(key).outcome = "SUCCESS"
            continue
        if e["ev"] == "delete" and e["old"] != RUNNING:
            continue        # pruned (a finished or served row)
        if e["ev"] == "update" and e["old"] == RUNNING and e["new"] == RUNNING:
            continue        # a live run's heartbeat (its lock row dated now)
        if key in pending_delete and e["ev"] in ("insert", "update", "delete"):
            # Anything else of that transaction's key: no log row came.
            pending_delete.pop(key)
        if e["ev"] == "insert" and e["new"] == RUNNING:
            run = Run(e)
            by_id[e["id"]] = run
            out.append(run)
        elif e["id"] in by_id and e["ev"] in ("update", "delete"):
            run = by_id[e["id"]]
            run.changes.append((e["old"], e["new"]))
            run.change_times.append(e["ts"])
            run.end = e["ts"]
            if e["ev"] == "delete":
                run.outcome = "released"
                pending_delete[key] = run
            else:
                run.outcome = {SUCCESS: "SUCCESS", "0_Fail": "FAIL"}.get(e["new"], e["new"])
    return out


def takeovers(system):
    """Lock rows another worker marked FAIL after job_run_expire (by the
    engine handling the resource, or by the periodic task), from the
    xjobs' logs."""
    n = 0
    for x in system.xjobs:
        with open(x.logpath, errors="replace") as f:
            n += sum(1 for line in f if "running job expired" in line)
    return n


def events_recorded(system):
    """Region events (notifications) that asked for jobs, per region, from
    the xjobs' logs."""
    counts = Counter()
    for x in system.xjobs:
        with open(x.logpath, errors="replace") as f:
            for line in f:
                m = re.search(r"event\{region=(\w+) event_type=\S+ [^}]*\}: "
                              r"tricircle_xjob::events: recording jobs", line)
                if m:
                    counts[m.group(1)] += 1
    return counts


def pending(system):
    """(status, type, resource, failure reason) of every job not finished."""
    return [tuple(r) for r in system.sql.run(
        "SELECT j.status, j.type, j.resource_id, COALESCE(f.reason, '') FROM async_jobs j "
        "LEFT JOIN async_job_failures f ON f.job_id = j.id "
        "WHERE j.status <> '%s' ORDER BY j.timestamp" % SUCCESS)]


def check_jobs(system, workload, evs, all_runs):
    """Every job SUCCESS, none lost, no two runs of one resource at once."""
    problems = []
    left = pending(system)
    if left:
        problems.append("jobs not SUCCESS: %d, e.g. %s" % (len(left), left[:5]))
    inserted = {e["id"]: e["ts"] for e in evs if e["ev"] == "insert"}
    accepted = {a[0] for a in workload.accepted}
    succeeded = defaultdict(list)
    for r in all_runs:
        if r.outcome == "SUCCESS":
            succeeded[(r.type, r.resource)].append(r.start)
    for job_id, kind, resource in workload.accepted:
        if job_id not in inserted:
            problems.append("job lost: %s %s (id %s) was accepted but its row was never "
                            "committed" % (kind, resource, job_id))
    # Every request, posted or recorded from an event or by the redo.
    deleted = {e["id"]: e["ts"] for e in evs if e["ev"] == "delete"}
    finishes = defaultdict(list)
    for r in all_runs:
        if r.changes and r.outcome in ("SUCCESS", "FAIL"):
            finishes[(r.type, r.resource)].append((r.change_times[0], r))
    for e in evs:
        if e["ev"] != "insert" or e["new"] != NEW:
            continue
        key = (e["type"], e["resource"])
        if any(start > e["ts"] for start in succeeded[key]):
            continue
        why = "no run of it started after it and succeeded"
        gone = deleted.get(e["id"])
        if gone:
            # The finish whose prune deleted it: the last before the delete.
            by = [(ts, r) for ts, r in finishes[key] if ts <= gone]
            if by:
                ts, r = max(by, key=lambda x: x[0])
                why = ("its row was deleted at %s by the finish of run %s, which had started "
                       "at %s, before it was recorded (the prune of rows as old as the "
                       "served request: timestamps are whole seconds on MySQL)" % (
                           gone, r.id, r.start))
        problems.append("job lost: %s %s (id %s, %s, recorded %s) was never served: %s" % (
            e["type"], e["resource"], e["id"],
            "posted" if e["id"] in accepted else "not posted", e["ts"], why))
    by_resource = defaultdict(list)
    for r in all_runs:
        by_resource[(r.type, r.resource)].append(r)
    for (kind, resource), rs in sorted(by_resource.items()):
        rs.sort(key=lambda r: r.start)
        for a, b in zip(rs, rs[1:]):
            if a.end is None or b.start < a.end:
                problems.append("runs overlapped: %s %s: run %s (%s .. %s, %s) and run %s "
                                "(from %s)" % (kind, resource, a.id, a.start, a.end,
                                               " -> ".join("%s>%s" % c for c in a.changes),
                                               b.id, b.start))
    return problems


# -- creates -----------------------------------------------------------------

def check_creates(system):
    """No resource created twice in a region: each name once per
    (region, collection). Returns (problems, creates per region)."""
    problems = []
    counts = {}
    for region in REGIONS:
        creates = system.control("GET", "/regions/%s/creates" % region)["creates"]
        counts[region] = len(creates)
        named = Counter((c["collection"], c["name"]) for c in creates if c["name"])
        for (collection, name), n in sorted(named.items()):
            if n > 1:
                ids = [c["id"] for c in creates
                       if c["collection"] == collection and c["name"] == name]
                problems.append("created more than once: in %s, %d %s named %r (ids %s)" % (
                    region, n, collection, name, ", ".join(ids)))
    return problems, counts


# -- the pods' state -----------------------------------------------------------

def listings(system):
    """Each region's networks, subnets, ports and routers, as Neutron
    lists them."""
    return {r: {c: system.listing(r, c) for c in ("networks", "subnets", "ports", "routers")}
            for r in REGIONS}


def snapshot(system, workload, raw=None):
    """Each region's resources (`listings`), normalised (see the module's
    text)."""
    raw = raw or listings(system)
    label = {system.project: "PROJECT"}
    label.update({pod: "pod:" + region for pod, region in system.pods.items()})
    for name in workload_vm_names(workload):
        label[workload.device_id(name)] = "vm:" + name

    def norm(text):
        return UUID.sub(lambda m: label.get(m.group(0), "?"), text or "")

    # Names first in the central region, whose ids the pods' names carry,
    # until nothing changes (a name may name another central resource).
    for _ in range(4):
        for region in REGIONS:
            for coll, items in raw[region].items():
                for item in items:
                    prefix = "" if region == "CentralRegion" else region + "/"
                    label[item["id"]] = "%s%s:%s" % (prefix, coll[:-1], norm(item.get("name")))
    holders = defaultdict(list)
    for region in REGIONS:
        for p in raw[region]["ports"]:
            for ip in p.get("fixed_ips") or []:
                holders[ip["ip_address"]].append(label[p["id"]])

    def ip_label(ip):
        return "|".join(sorted(holders.get(ip, ["addr:" + ip])))

    out = {}
    for region in REGIONS:
        r = raw[region]
        nets = sorted(norm(n.get("name")) for n in r["networks"])
        subnets = sorted((norm(s.get("name")), label.get(s["network_id"], "?"), s["cidr"],
                          str(s.get("gateway_ip")),
                          ",".join("%s-%s" % (p["start"], p["end"])
                                   for p in s.get("allocation_pools") or []))
                         for s in r["subnets"])
        handed_out = defaultdict(list)
        ports = []
        for p in r["ports"]:
            for ip in p.get("fixed_ips") or []:
                # Which pod's router gets which bridge address depends on
                # the order of their jobs; the central region holds every
                # address a pod uses (bridge ports, helper ports, VM
                # mirrors): a pod's are counted only.
                handed_out[label.get(ip["subnet_id"], "?")].append(
                    ip["ip_address"] if region == "CentralRegion" else "*")
            ports.append((norm(p.get("name")), label.get(p["network_id"], "?"),
                          p.get("device_owner") or "", norm(label.get(p.get("device_id"),
                                                                      p.get("device_id") or "")),
                          tuple(sorted(label.get(ip["subnet_id"], "?")
                                       for ip in p.get("fixed_ips") or []))))
        routers = []
        for rt in r["routers"]:
            gw = rt.get("external_gateway_info") or None
            if gw:
                gw = (label.get(gw.get("network_id"), "?"), gw.get("enable_snat"),
                      tuple(sorted(ip_label(i["ip_address"])
                                   for i in gw.get("external_fixed_ips") or [])))
            routes = sorted((ip_label(x["destination"].split("/")[0]) + "/" +
                             x["destination"].split("/")[1], ip_label(x["nexthop"]))
                            for x in rt.get("routes") or [])
            routers.append((norm(rt.get("name")), repr(gw), tuple(routes)))
        out[region] = {
            "networks": nets,
            "subnets": subnets,
            "addresses": sorted((k, tuple(sorted(v))) for k, v in handed_out.items()),
            "ports": sorted(ports),
            "routers": sorted(routers),
        }
    return out


def workload_vm_names(workload):
    names = []
    for unit in workload.units:
        names.append("vm-%d-a" % unit.u)
        names.append("vm-%d-b" % unit.u)
    for r, u in enumerate(workload.reboots):
        if u is not None:
            names.append("vm-%d-a-r%d" % (u, r))
    return names


def diff(want, got, limit=12):
    """Lines saying how `got` differs from `want`."""
    lines = []
    for region in REGIONS:
        for key in want[region]:
            w, g = Counter(map(repr, want[region][key])), Counter(map(repr, got[region][key]))
            for item in sorted((w - g).elements()):
                lines.append("%s %s: missing %s" % (region, key, item))
            for item in sorted((g - w).elements()):
                lines.append("%s %s: extra %s" % (region, key, item))
    if len(lines) > limit:
        lines = lines[:limit] + ["... %d more differences" % (len(lines) - limit)]
    return lines


def check_shape(snap, workload):
    """What the walk must have built, whatever the run: each VM mirrored
    in the central region, and each pod's copy of a unit's router routing
    the other pod's VM (a /32) through the bridge network."""
    problems = []
    central_ports = {p[0] for p in snap["CentralRegion"]["ports"]
                     if p[2].startswith("compute:")}
    final = {}
    for r, u in enumerate(workload.reboots):
        if u is not None:
            final[u] = "vm-%d-a-r%d" % (u, r)
    for unit in workload.units:
        a = final.get(unit.u, "vm-%d-a" % unit.u)
        b = "vm-%d-b" % unit.u
        for vm in (a, b):
            if vm not in central_ports:
                problems.append("VM %s is not mirrored in CentralRegion" % vm)
        for region, other in (("RegionOne", b), ("RegionTwo", a)):
            routers = [rt for rt in snap[region]["routers"]
                       if rt[0] == "router:router-%d" % unit.u]
            if len(routers) != 1:
                problems.append("%s: want one copy of router-%d, got %d" % (
                    region, unit.u, len(routers)))
                continue
            dests = [d for d, _ in routers[0][2]]
            if not any(("port:%s" % other) in d and d.endswith("/32") for d in dests):
                problems.append("%s: router-%d has no /32 route to %s (routes %s)" % (
                    region, unit.u, other, routers[0][2]))
    return problems
