#!/usr/bin/env bash
# Stock-mode convergence on the real servers (issue 13): the e2e's Keystone,
# three neutron-servers, MariaDB and RabbitMQ (scripts/lib/openstack-env.sh),
# our tricircle-api and tricircle-xjob as scripts/e2e starts them
# (scripts/e2e.d/tricircle.sh), the pods registered as the e2e does; then
# scripts/bench.d/converge.py: the guide's base set-up (PACED=1: each step
# settled before the next, only the floating IPs timed), then ROUNDS (default
# 20) tenant changes cycling through: a network with a router interface, a
# VM booted in a pod, a floating IP on a VM's mirror. Each is timed from the
# tenant's last call to the state being visible in the regions' Neutron;
# p50/p99 printed per kind and over all. Then the guide router's jobs
# posted again RERUNS times (default 5) with nothing to change: seconds,
# reads, and the CPU each service used meanwhile. Then the floor of the
# guide's last step (FLOOR, default 3 times; 0 skips): the writes it needs
# in RegionTwo made one at a time on its idle neutron-server.
#
# Before that, the scale figure on the fake cloud (release build; SCALE=0
# skips it): 100 routers, each with a network in each of three pods, from
# nothing to converged through xjob's job queue with every Neutron call
# held 20 ms; and one such router with every call held 150 ms, as long as
# a real Neutron takes (crates/xjob/tests/scale.rs).
#
# Reuses a running e2e environment (left running), else starts one and
# stops it at the end. Only one e2e or bench converge at a time (ports).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ "${SCALE:-1}" != 0 ]]; then
    echo "== fake cloud, 64 job loops, SQLite, release build"
    cargo test -q --release -p tricircle-xjob --test scale -- --nocapture --test-threads 1 2>&1 |
        grep -E '^(1 router|100 routers) '
fi
# shellcheck source=../lib/openstack-env.sh
source scripts/lib/openstack-env.sh
# shellcheck source=../e2e.d/tricircle.sh
source scripts/e2e.d/tricircle.sh

state="${TRICIRCLE_E2E_STATE:-target/e2e}"
was_running=0
if [[ -s "$state/run/keystone.pid" ]] && kill -0 "$(cat "$state/run/keystone.pid")" 2>/dev/null; then
    was_running=1
fi
cleanup() {
    [[ -n "${TRICIRCLE_E2E_STATE:-}" ]] && { e2e_tricircle_stop || true; }
    if ((!was_running)) && [[ "${BENCH_KEEP:-0}" != 1 ]]; then
        openstack_env_stop || true
    fi
}
trap cleanup EXIT

# The changes are timed with xjob's default sweep interval, not the e2e's
# 5 s (a sweep lists every collection in every region, and the pods'
# single-worker neutron-servers would serve it in the middle of a timed
# change); the sweep's cost is counted at the end with a short one.
export TRICIRCLE_E2E_RECONCILE_INTERVAL="${BENCH_RECONCILE_INTERVAL:-300}"
openstack_env_install
openstack_env_start
e2e_tricircle_start
e2e_tricircle_api >/dev/null
openstack_env_info >/dev/null
env -u PYTHONPATH PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 scripts/bench.d/converge.py
