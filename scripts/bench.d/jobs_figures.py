#!/usr/bin/env python3
"""Figures of one `scripts/bench jobs` case, and the closing summary.

    jobs_figures.py DB CASE STATS RUNS SUMMARY < events
        events: "kind<TAB>resource_id<TAB>epoch seconds" lines, time order
        STATS: per database user "user, statements, commits, rollbacks,
               server seconds" lines; RUNS: the testbed's start/end lines;
        prints the case's figures and appends them to SUMMARY (JSON lines)
    jobs_figures.py --summary SUMMARY
        prints each aim next to its figures
"""

import bisect
import json
import sys
from collections import defaultdict


def pct(values, p):
    return values[min(len(values) - 1, int(p * len(values)))] * 1000 if values else float("nan")


def overlaps(path):
    """Runs of one router that started before the previous one ended."""
    open_runs, bad, runs = {}, 0, 0
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 4:
                    continue
                what, rid = parts[0], parts[2]
                if what == "start":
                    runs += 1
                    if open_runs.get(rid):
                        bad += 1
                    open_runs[rid] = open_runs.get(rid, 0) + 1
                elif what == "end":
                    open_runs[rid] = max(0, open_runs.get(rid, 0) - 1)
    except FileNotFoundError:
        return None, 0
    return bad, runs


def case(db, name, stats_path, runs_path, summary_path):
    new, running, logs = [], defaultdict(list), []
    for line in sys.stdin:
        kind, rid, ts = line.rstrip("\n").split("\t")
        ts = float(ts)
        if kind == "3_New":
            new.append((rid, ts))
        elif kind == "2_Running":
            running[rid].append(ts)
        elif kind == "log":
            logs.append(ts)
    if not new or not logs:
        print(f"  no figures: {len(new)} NEW rows, {len(logs)} success rows")
        return
    first, last = min(t for _, t in new), max(logs)
    last_new = max(t for _, t in new)
    runs = sum(len(v) for v in running.values())
    rate = len(new) / (last - first)
    print(f"  {len(new)} jobs in {last - first:.2f} s (first NEW row -> last success row): "
          f"{rate:,.0f} jobs/s; posted at {len(new) / max(last_new - first, 1e-9):,.0f}/s; "
          f"{runs} lock rows (runs, and claims given back), {len(logs)} success rows")
    lat, unserved = [], 0
    for rid, t in new:
        r = running[rid]
        i = bisect.bisect_left(r, t)
        if i < len(r):
            lat.append(r[i] - t)
        else:
            unserved += 1
    lat.sort()
    print(f"  NEW -> next RUNNING of the router: p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, "
          f"max {pct(lat, 1.0):.1f} ms ({unserved} jobs served by a run that started before them)")
    users = {}
    with open(stats_path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 5 and parts[0]:
                users[parts[0]] = parts[1:]
    for user, (stmts, commits, rollbacks, secs) in sorted(users.items()):
        per = f", {int(stmts) / runs:.1f} per run" if user == "bench_xjob" and runs else ""
        per += f", {int(stmts) / len(new):.1f} per job" if user == "bench_api" else ""
        print(f"  {user}: {stmts} statements{per}; {commits or 0} commits, {rollbacks or 0} rollbacks; "
              f"server time {secs} s")
    bad, recorded = overlaps(runs_path)
    if bad is not None:
        print(f"  overlapping runs of one router: {bad} (of {recorded} handler runs, all processes)")
    with open(summary_path, "a") as f:
        f.write(json.dumps({"db": db, "case": name, "rate": rate, "p50": pct(lat, 0.5),
                            "p99": pct(lat, 0.99), "runs": runs, "overlaps": bad}) + "\n")


def summary(path):
    rows = [json.loads(line) for line in open(path)]
    by = {(r["db"], r["case"]): r for r in rows}
    for r in rows:
        aim = ""
        if r["case"] == "flood x1":
            aim = f"aim >= 2,000 jobs/s: {'met' if r['rate'] >= 2000 else 'NOT met'}"
        elif r["case"] == "rate x1":
            aim = f"aim p99 < 50 ms: {'met' if r['p99'] < 50 else 'NOT met'}"
        elif r["case"].endswith("x3"):
            one = by.get((r["db"], r["case"].replace("x3", "x1")))
            if one:
                ratio = r["rate"] / one["rate"]
                aim = f"{ratio:.2f}x one process (aim >= 2.5x: {'met' if ratio >= 2.5 else 'NOT met'})"
        print(f"  {r['db']:<10} {r['case']:<9} {r['rate']:>7,.0f} jobs/s  pickup p50 {r['p50']:7.1f} ms "
              f"p99 {r['p99']:7.1f} ms  overlaps {r['overlaps']}  {aim}")


if __name__ == "__main__":
    if sys.argv[1] == "--summary":
        summary(sys.argv[2])
    else:
        case(*sys.argv[1:6])
