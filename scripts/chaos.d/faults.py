"""The faults scripts/chaos injects, one per round, in a seeded random
order (every kind once per cycle of kinds), each held for a seeded random
time and then healed:

- xjob_kill        SIGKILL one of the two xjobs, start it again; the one
                   running a job when one runs within a few seconds (its
                   lock row is left RUNNING, for the other to take over
                   after job_run_expire)
- rabbitmq_restart stop RabbitMQ (the API's casts, xjob's consumers and the
                   regions' notifications lose it), start it again
- mariadb_restart  stop MariaDB under every process, start it again
- region_500       a region answers every request 500, handling none
- region_hang      a region holds every request (or every create) longer
                   than xjob's neutron_timeout, then handles it
- region_down      a region refuses connections (its data kept)
"""

import random
import re
import time

from system import REGIONS, log, servers

KINDS = ("xjob_kill", "rabbitmq_restart", "mariadb_restart",
         "region_500", "region_hang", "region_down")


class Faults:
    def __init__(self, system, seed, kinds):
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise SystemExit("chaos: unknown FAULTS %s (known: %s)" % (
                " ".join(sorted(unknown)), " ".join(KINDS)))
        self.sys = system
        self.rng = random.Random("faults-%d" % seed)
        self.kinds = list(kinds or KINDS)
        self.cycle = []
        self.counts = {k: 0 for k in self.kinds}
        self.last_healed = None
        self.injected = []
        self.mid_run = 0

    def next_kind(self):
        if not self.cycle:
            self.cycle = list(self.kinds)
            self.rng.shuffle(self.cycle)
        return self.cycle.pop()

    def plan(self):
        """This round's fault: kind, pause before it, how long it lasts
        and its target, all from the seed."""
        kind = self.next_kind()
        after = self.rng.uniform(0.0, 1.5)
        # Half of the region faults start with the round, so the writes
        # its tenant calls cause (copies, mirrors) meet them.
        at_start = self.rng.random() < 0.5 and kind.startswith("region_")
        return {"kind": kind,
                "after": 0.0 if at_start else after,
                "hold": self.rng.uniform(0.5, 3.0) if kind in (
                    "xjob_kill", "rabbitmq_restart", "mariadb_restart")
                else self.rng.uniform(2.0, 6.0),
                "xjob": self.rng.randrange(2),
                "region": self.rng.choice(REGIONS),
                "hang": self.rng.uniform(3.0, 6.0),
                # A hang holds every request, or only the creates (reads go
                # first in a job: a write is held only when the hang
                # catches it between its reads and its write).
                "writes_only": self.rng.random() < 0.5}

    def running_xjob(self, wait=4.0):
        """The xjob holding a RUNNING lock row, with the row's job, as soon
        as one does (None after `wait` seconds)."""
        end = time.monotonic() + wait
        while time.monotonic() < end:
            rows = self.sys.sql.run("SELECT id, type FROM async_jobs WHERE status = "
                                    "'2_Running'")
            for x in self.sys.xjobs:
                started = set(re.findall(r"job started lock_id=([0-9a-f-]+)",
                                         x.log_since_start()))
                for lock_id, kind in rows:
                    if lock_id in started:
                        return x, kind
            time.sleep(0.02)
        return None, None

    def inject(self, f, then=None):
        """Break, hold, heal; returns once healed. `then` is called once
        the fault is in place (a round that starts under it)."""
        kind, hold = f["kind"], f["hold"]
        time.sleep(f["after"])
        started = time.monotonic()
        if then is not None and not kind.startswith("region_"):
            then()
            then = None
        if kind == "xjob_kill":
            x, job = self.running_xjob()
            if x is None:
                x = self.sys.xjobs[f["xjob"]]
            else:
                self.mid_run += 1
            what = "SIGKILL %s%s, restarted after %.1f s" % (
                x.name, " while it ran %s" % job if job else "", hold)
            x.kill()
            time.sleep(hold)
            self.sys.start_xjob(x, deadline=120.0)
        elif kind in ("rabbitmq_restart", "mariadb_restart"):
            server = kind.split("_")[0]
            what = "%s stopped, started again after %.1f s" % (server, hold)
            servers(server, "stop")
            time.sleep(hold)
            servers(server, "start")
        else:
            region = f["region"]
            if kind == "region_500":
                fault = {"fault": "status", "status": 500}
                what = "%s answers 500 for %.1f s" % (region, hold)
            elif kind == "region_hang":
                fault = {"fault": "hang", "seconds": f["hang"]}
                if f["writes_only"]:
                    fault["method"] = "POST"
                what = "%s holds every %s %.1f s, for %.1f s" % (
                    region, "create" if f["writes_only"] else "request", f["hang"], hold)
            else:
                fault = {"fault": "down"}
                what = "%s refuses connections for %.1f s" % (region, hold)
            self.sys.control("PUT", "/regions/%s/fault" % region, fault)
            if then is not None:
                then()
            time.sleep(hold)
            self.sys.control("DELETE", "/regions/%s/fault" % region)
        self.last_healed = time.monotonic()
        self.counts[kind] += 1
        self.injected.append(what)
        log("  fault: %s (%.1f s from the break to healed)" % (what, self.last_healed - started))
