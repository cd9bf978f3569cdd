"""The faults scripts/chaos injects, one per round, in a seeded random
order (every kind once per cycle of kinds), each held for a seeded random
time and then healed:

- xjob_kill        SIGKILL one of the two xjobs, start it again
- rabbitmq_restart stop RabbitMQ (the API's casts, xjob's consumers and the
                   regions' notifications lose it), start it again
- mariadb_restart  stop MariaDB under every process, start it again
- region_500       a region answers every request 500, handling none
- region_hang      a region holds every request longer than xjob's
                   neutron_timeout, then handles it
- region_down      a region refuses connections (its data kept)
"""

import random
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

    def next_kind(self):
        if not self.cycle:
            self.cycle = list(self.kinds)
            self.rng.shuffle(self.cycle)
        return self.cycle.pop()

    def plan(self):
        """This round's fault: kind, pause before it, how long it lasts
        and its target, all from the seed."""
        kind = self.next_kind()
        return {"kind": kind,
                "after": self.rng.uniform(0.2, 2.0),
                "hold": self.rng.uniform(0.5, 3.0) if kind in (
                    "xjob_kill", "rabbitmq_restart", "mariadb_restart")
                else self.rng.uniform(2.0, 6.0),
                "xjob": self.rng.randrange(2),
                "region": self.rng.choice(REGIONS),
                "hang": self.rng.uniform(3.0, 6.0)}

    def inject(self, f):
        """Break, hold, heal; returns once healed."""
        kind, hold = f["kind"], f["hold"]
        time.sleep(f["after"])
        started = time.monotonic()
        if kind == "xjob_kill":
            x = self.sys.xjobs[f["xjob"]]
            what = "SIGKILL %s, restarted after %.1f s" % (x.name, hold)
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
                what = "%s holds every request %.1f s, for %.1f s" % (region, f["hang"], hold)
            else:
                fault = {"fault": "down"}
                what = "%s refuses connections for %.1f s" % (region, hold)
            self.sys.control("PUT", "/regions/%s/fault" % region, fault)
            time.sleep(hold)
            self.sys.control("DELETE", "/regions/%s/fault" % region)
        self.last_healed = time.monotonic()
        self.counts[kind] += 1
        self.injected.append(what)
        log("  fault: %s (%.1f s from the break to healed)" % (what, self.last_healed - started))
