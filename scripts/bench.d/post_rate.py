#!/usr/bin/env python3
"""Post configure_route jobs at a fixed offered rate (an open loop, unlike
wrk's closed one): THREADS keep-alive connections, each sending on its own
fixed schedule, so a slow answer delays that connection's next request
but not the schedule of the others. Bounded: COUNT requests, then stop.

usage: post_rate.py BASE_URL RATE COUNT ROUTERS [THREADS]
Prints the requests sent, the seconds taken and the rate achieved.
"""

import http.client
import json
import sys
import threading
import time
import urllib.parse


def main():
    base, rate, count, routers = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 8
    url = urllib.parse.urlsplit(base)
    headers = {
        "Content-Type": "application/json",
        "X-Role": "admin",
        "X-Tenant-Id": "bench",
        "X-User-Id": "bench",
    }
    start = time.monotonic() + 0.2
    errors = []
    late = [0.0] * threads

    def worker(t):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        # Job i is sent at start + i / rate by thread i % threads.
        for i in range(t, count, threads):
            due = start + i / rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            else:
                late[t] = max(late[t], now - due)
            body = json.dumps(
                {"job": {"type": "configure_route", "project_id": "bench",
                         "resource": {"router_id": f"router-{i % routers}"}}}
            )
            conn.request("POST", "/v1.0/jobs", body, headers)
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                errors.append(r.status)
        conn.close()

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    took = time.monotonic() - start
    print(f"  offered {rate:,.0f} jobs/s: {count} posted in {took:.2f} s ({count / took:,.0f}/s), "
          f"{len(errors)} errors, worst lag behind schedule {max(late) * 1000:.1f} ms")
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
