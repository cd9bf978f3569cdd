#!/usr/bin/env bash
# Stop or start the chaos suite's MariaDB or RabbitMQ (scripts/lib, with the
# state directory and ports scripts/chaos exported):
#   servers.sh mariadb|rabbitmq stop|start
set -euo pipefail
cd "$(dirname "$0")/../.."
case "$1" in
mariadb)
    # shellcheck source=../lib/db-servers.sh
    source scripts/lib/db-servers.sh
    "mariadb_$2"
    ;;
rabbitmq)
    # shellcheck source=../lib/rabbitmq.sh
    source scripts/lib/rabbitmq.sh
    "rabbitmq_$2"
    ;;
*)
    echo "usage: $0 mariadb|rabbitmq stop|start" >&2
    exit 2
    ;;
esac
