"""scripts/chaos: the same workload twice on fresh systems (tricircle-api,
two tricircle-xjob, MariaDB, RabbitMQ, the fake cloud), first without
faults, then with one fault per round while the round's tenant calls and
posted jobs are in flight; after each, wait for convergence and check the
invariants (invariants.py); print the figures. Exit status 1 on any
violation, with a line naming it.

Started by scripts/chaos, which builds the binaries, starts the servers
and passes the settings in the environment (see there).
"""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import invariants  # noqa: E402
from faults import Faults  # noqa: E402
from system import Failed, Settings, Sql, System, log  # noqa: E402
from workload import Workload  # noqa: E402

# After convergence, the state must still hold this long (a request a hung
# region held may land late).
STAY = 7.0
# A fault-free run has converged once nothing is pending and the state has
# not changed for this long (longer than the reconciliation sweep's period).
STABLE = 6.0


def converge(system, workload, reference, timeout):
    """Poll until no job is pending and the pods' state is the reference's
    (or, without one, stable and of the walk's shape). Returns (the moment
    it first held, the state)."""
    end = time.monotonic() + timeout
    last, stable_since = None, None
    while True:
        now = time.monotonic()
        left = invariants.pending(system)
        snap = invariants.snapshot(system, workload)
        if reference is not None:
            if not left and snap == reference:
                return now, snap
        else:
            if not left and snap == last:
                if stable_since is None:
                    stable_since = now
                if now - stable_since >= STABLE and not invariants.check_shape(snap, workload):
                    return stable_since, snap
            else:
                stable_since = None
            last = snap
        if now > end:
            why = ["jobs not finished: %s" % (left[:8],)] if left else []
            if reference is not None:
                why += ["the pods differ from the fault-free run:"] + \
                    invariants.diff(reference, snap)
            else:
                why += invariants.check_shape(snap, workload) or ["the pods keep changing"]
            raise Failed("not converged within %.0f s: %s" % (timeout, "\n  ".join(why)))
        time.sleep(0.5)


def one_run(s, name, with_faults, reference=None):
    system = System(s, name)
    t0 = time.monotonic()
    try:
        log("%s run: starting (logs in %s)" % (name, system.dir))
        system.start()
        log("%s run: up in %.1f s" % (name, time.monotonic() - t0))
        workload = Workload(system, s.seed, s.rounds, s.units, s.jobs)
        faults = Faults(system, s.seed, s.faults) if with_faults else None
        t_work = time.monotonic()
        for r in range(s.rounds):
            plan = faults.plan() if faults else None
            error = []

            def work(r=r, error=error):
                try:
                    workload.round(r)
                except Exception as e:  # reported by the main thread
                    error.append(e)
            th = threading.Thread(target=work)
            if plan and plan["after"] == 0.0:
                faults.inject(plan, then=th.start)
            else:
                th.start()
                if plan:
                    faults.inject(plan)
            th.join()
            if error:
                raise error[0]
            log("%s run: round %d/%d done (%d jobs accepted so far)" % (
                name, r + 1, s.rounds, len(workload.accepted)))
        last_call = time.monotonic()
        try:
            converged, snap = converge(system, workload, reference, s.converge_timeout)
        finally:
            raw = invariants.listings(system)
            dump(system, "listings.json", raw)
            dump(system, "snapshot.json", invariants.snapshot(system, workload, raw))
        # (The fault-free run's convergence is a stable state already.)
        if reference is not None:
            time.sleep(STAY)
        if invariants.pending(system) or invariants.snapshot(system, workload) != snap:
            raise Failed("%s run: converged, then changed again within %.0f s:\n  %s" % (
                name, STAY, "\n  ".join(
                    invariants.diff(snap, invariants.snapshot(system, workload)) or
                    ["jobs pending: %s" % (invariants.pending(system)[:8],)])))
        evs = invariants.events(system)
        runs = invariants.runs(evs)
        problems = invariants.check_jobs(system, workload, evs, runs)
        created, counts = invariants.check_creates(system)
        problems += created
        if reference is None:
            problems += invariants.check_shape(snap, workload)
        outcomes = {}
        for r in runs:
            outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
        longest = max(runs, key=lambda r: ((r.end or r.start) - r.start), default=None)
        result = {
            "name": name,
            "snapshot": snap,
            "problems": problems,
            "startup": t_work - t0,
            "work": last_call - t_work,
            "after_last_call": converged - last_call,
            "after_last_fault": (converged - faults.last_healed) if faults else None,
            "faults": faults,
            "accepted": len(workload.accepted),
            "post_attempts": workload.post_attempts,
            "tenant_writes": workload.tenant_writes,
            "new_rows": sum(1 for e in evs if e["ev"] == "insert" and e["new"] == "3_New"),
            "runs": len(runs),
            "outcomes": outcomes,
            "takeovers": invariants.takeovers(system),
            "events": invariants.events_recorded(system),
            "longest": longest,
            "creates": counts,
            "xjob_starts": [x.starts for x in system.xjobs],
        }
        figures(result)
        return result
    except Failed as e:
        raise Failed("%s run: %s (logs in %s)" % (name, e, system.dir))
    finally:
        system.stop()


def dump(system, name, value):
    with open(os.path.join(system.dir, name), "w") as f:
        json.dump(value, f, indent=1, sort_keys=True)


def figures(r):
    log("%s run figures:" % r["name"])
    log("  start-up %.1f s; workload %.1f s; converged %.1f s after the last tenant call or "
        "post" % (r["startup"], r["work"], max(r["after_last_call"], 0.0)))
    if r["faults"]:
        f = r["faults"]
        log("  faults injected: %d (%s); xjobs killed while running a job: %d" % (
            sum(f.counts.values()), ", ".join("%s %d" % (k, n) for k, n in f.counts.items()),
            f.mid_run))
        log("  time to converge after the last fault healed: %.1f s" % max(
            r["after_last_fault"], 0.0))
    log("  jobs: %d posted (accepted; %d POSTs in all), %d NEW rows in all (posted, from "
        "the regions' events, redone)" % (r["accepted"], r["post_attempts"], r["new_rows"]))
    log("  tenant calls that write: %d; region events that asked for jobs: %d (%s); "
        "resources the regions created: %s" % (
            r["tenant_writes"], sum(r["events"].values()),
            ", ".join("%s %d" % kv for kv in sorted(r["events"].items())),
            ", ".join("%s %d" % kv for kv in r["creates"].items())))
    longest = r["longest"]
    log("  job runs: %d (%s); lock takeovers after job_run_expire: %d; longest lock held %s" % (
        r["runs"], ", ".join("%s %d" % kv for kv in sorted(r["outcomes"].items())),
        r["takeovers"], "%.2f s (%s %s)" % (
            ((longest.end or longest.start) - longest.start).total_seconds(), longest.type,
            longest.resource) if longest else "-"))
    log("  xjob starts: %s" % ", ".join(map(str, r["xjob_starts"])))


def main():
    s = Settings()
    log("seed %d: %d rounds, %d units, %d posted jobs, faults %s; job_run_expire %d s" % (
        s.seed, s.rounds, s.units, s.jobs, " ".join(s.faults) or "all", s.job_run_expire))
    started = time.monotonic()
    # The databases of earlier runs on this private server.
    sql = Sql(s, None)
    old = [r[0] for r in sql.run("SHOW DATABASES LIKE 'chaos\\_%'", db=False)]
    if old:
        sql.run("".join("DROP DATABASE %s;" % d for d in old), db=False)
    try:
        ref = one_run(s, "reference", False)
        res = one_run(s, "chaos", True, ref["snapshot"])
    except Failed as e:
        log("FAILED (seed %d): %s" % (s.seed, e))
        return 1
    problems = ["reference run: " + p for p in ref["problems"]] + \
        ["chaos run: " + p for p in res["problems"]]
    for p in problems:
        log("VIOLATION: " + p)
    if problems:
        kinds = {}
        for p in problems:
            kind = p.split(": ", 2)[1]
            if kind == "job lost" and "whole seconds" in p:
                kind = "job lost (pruned by a run that started before it, same second)"
            kinds[kind] = kinds.get(kind, 0) + 1
        log("FAILED (seed %d): %d invariant violations: %s" % (
            s.seed, len(problems), "; ".join("%s %d" % kv for kv in sorted(kinds.items()))))
        return 1
    log("passed (seed %d) in %.0f s: every job SUCCESS, none lost, nothing created twice, "
        "no two runs of a job at once, the pods as without faults" % (
            s.seed, time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
