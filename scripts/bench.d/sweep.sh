#!/usr/bin/env bash
# Reconciliation sweep cost: the Neutron calls one sweep makes per region
# over 100 routers on the fake cloud (the stock_sweep test that asserts at
# most 20 prints them). Debug build: call counts do not depend on the
# profile. The real servers' figure is for scripts/bench converge.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo test -q -p tricircle-jobs --test stock_sweep \
    a_sweep_over_100_routers_makes_a_few_list_calls_per_region -- --exact --nocapture 2>&1 |
    grep '^sweep over 100 routers:'
