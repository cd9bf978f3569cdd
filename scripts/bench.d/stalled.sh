#!/usr/bin/env bash
# Stalled uploads: the API's RSS idle, while $CONNECTIONS (default 2,000)
# clients each hold a connection with half a request body sent, and after
# `client_body_timeout` (here $BODY_TIMEOUT, default 5 s) has answered them
# 408 and closed them. Also how many were answered 408.
# Then trickled heads: as many clients each send one request on a
# keep-alive connection and then the next one's headers a byte a second;
# how many connections are still open after 3 x `client_request_timeout`
# (here $REQUEST_TIMEOUT, default 5 s), and how they were answered.
set -euo pipefail
cd "$(dirname "$0")/../.."

CONNECTIONS="${CONNECTIONS:-2000}"
BODY_TIMEOUT="${BODY_TIMEOUT:-5}"
REQUEST_TIMEOUT="${REQUEST_TIMEOUT:-5}"
PORT="${BENCH_PORT:-19898}"
PROFILE="${PROFILE:-release}"
target="${CARGO_TARGET_DIR:-target}/$PROFILE"
if [[ "$PROFILE" == release ]]; then
    cargo build -q --release --bin tricircle-api --bin tricircle-db-manage
else
    cargo build -q --bin tricircle-api --bin tricircle-db-manage
fi
ulimit -n "$((CONNECTIONS * 2 + 256))"

work="$(mktemp -d)"
api_pid=""
cleanup() {
    [[ -n "$api_pid" ]] && kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/api.conf" <<CONF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $PORT
auth_strategy = noauth
api_workers = 2
client_body_timeout = $BODY_TIMEOUT
client_request_timeout = $REQUEST_TIMEOUT
tricircle_db_connection = sqlite:///$work/tricircle.db
transport_url = rabbit://guest:guest@127.0.0.1:1/
CONF
"$target/tricircle-db-manage" --config-file "$work/api.conf" db_sync 2>/dev/null
RUST_LOG=warn "$target/tricircle-api" --config-file "$work/api.conf" 2>"$work/api.log" &
api_pid=$!

python3 - "$PORT" "$CONNECTIONS" "$BODY_TIMEOUT" "$api_pid" "$REQUEST_TIMEOUT" <<'PY'
import select, socket, sys, time

port, n, timeout, pid, head_timeout = (int(a) for a in sys.argv[1:])

def rss_mib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise SystemExit("no VmRSS")

deadline = time.time() + 10
while True:
    try:
        socket.create_connection(("127.0.0.1", port)).close()
        break
    except OSError:
        if time.time() > deadline:
            raise SystemExit("the API did not start")
        time.sleep(0.1)

body = b'{"pod": {"region_name": "stalled", "az_name": "az1"}}'
head = (b"POST /v1.0/pods HTTP/1.1\r\nHost: api\r\nX-Role: admin\r\n"
        b"X-Tenant-Id: bench\r\nX-User-Id: bench\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body))
idle = rss_mib()
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(head + body[: len(body) // 2])
    socks.append(s)
time.sleep(1)
held = rss_mib()
# Every stalled client is answered once the body timeout has passed.
answers = {}
for s in socks:
    s.settimeout(timeout + 30)
    try:
        status = s.recv(64).split(b" ")[1].decode()
    except (OSError, IndexError):
        status = "none"
    answers[status] = answers.get(status, 0) + 1
    s.close()
# The API trims its heap every 5 s once connections have closed.
time.sleep(6)
after = rss_mib()
print(f"stalled uploads: {n} connections, client_body_timeout = {timeout} s")
print(f"  API RSS idle:                 {idle:7.1f} MiB")
print(f"  API RSS with {n} stalled:  {held:7.1f} MiB")
print(f"  API RSS after they timed out: {after:7.1f} MiB")
print("  answers: " + ", ".join(f"{k}: {v}" for k, v in sorted(answers.items())))

# Trickled heads: one whole request answered, then the next head a byte a
# second on each connection.
get = (b"GET /v1.0/pods HTTP/1.1\r\nHost: api\r\nX-Role: admin\r\n"
       b"X-Tenant-Id: bench\r\nX-User-Id: bench\r\n\r\n")
socks = {}
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(get)
    socks[s.fileno()] = s
for s in socks.values():
    s.settimeout(30)
    got = b""
    while b"[]}" not in got:
        more = s.recv(4096)
        if not more:
            raise SystemExit("a first request was not answered")
        got += more
    s.setblocking(False)
time.sleep(1)
trickling = rss_mib()
poller = select.poll()
for fd in socks:
    poller.register(fd, select.POLLIN)
answers = {}
started = time.time()
sent = 0
while socks and time.time() - started < 3 * head_timeout:
    for fd, s in list(socks.items()):
        try:
            s.send(get[sent % len(get):][:1])
        except OSError:
            pass
    sent += 1
    end = time.time() + 1
    while time.time() < end:
        for fd, _ in poller.poll(max(0, int((end - time.time()) * 1000))):
            s = socks.pop(fd, None)
            if s is None:
                continue
            poller.unregister(fd)
            try:
                data = s.recv(64)
                status = data.split(b" ")[1].decode() if data else "closed, no answer"
            except (OSError, IndexError):
                status = "reset"
            answers[status] = answers.get(status, 0) + 1
            s.close()
print(f"trickled heads: {n} connections, client_request_timeout = {head_timeout} s")
print(f"  API RSS with {n} trickling:  {trickling:7.1f} MiB")
print(f"  still open after {3 * head_timeout} s:       {len(socks):7d}")
print("  answers: " + ", ".join(f"{k}: {v}" for k, v in sorted(answers.items())))
PY
