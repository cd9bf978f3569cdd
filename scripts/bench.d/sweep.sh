#!/usr/bin/env bash
# Reconciliation sweep cost: the Neutron calls one sweep makes per region
# over 100 routers on the fake cloud (the stock_sweep test that asserts at
# most 20 prints them). Then what the multi-pod guide's jobs cost when run
# again with nothing to change (the neutron_calls tests, which assert no
# write and at most 10 reads per region): calls per job and region, and a
# router's jobs (fan-out, pod jobs at once, configure_route) with 20 ms
# held on every call. Debug build: call counts do not depend on the
# profile. The scale figure (100 routers x 3 pods) and the real servers'
# figures are scripts/bench converge's.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo test -q -p tricircle-jobs --test jobs \
    stock_sweep::a_sweep_over_100_routers_makes_a_few_list_calls_per_region -- --exact --nocapture 2>&1 |
    grep '^sweep over 100 routers:'
cargo test -q -p tricircle-jobs --test jobs neutron_calls:: -- --nocapture --test-threads 1 2>&1 |
    grep -E '^(rerun|router rerun)'
