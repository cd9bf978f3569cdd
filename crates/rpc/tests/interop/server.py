"""An oslo.messaging RPC server on (topic, server) with an endpoint shaped
like Tricircle's xjob manager: each job method takes (ctxt, payload).
Prints READY once listening, then one JSON line per call received:
{"method", "payload", "context"}. Exits after --count calls."""

import json
import sys
import threading

import oslo_messaging as messaging

import common

JOB_METHODS = ["configure_route", "setup_bottom_router", "delete_server_port",
               "update_network", "update_subnet", "setup_shadow_ports",
               "sync_trunk", "recycle_resources"]


class XJobEndpoint(object):
    target = messaging.Target(version="1.0")

    def __init__(self, count):
        self.remaining = count
        self.done = threading.Event()
        self.lock = threading.Lock()

    def _record(self, method, ctxt, payload):
        with self.lock:
            print(json.dumps({"method": method, "payload": payload,
                              "context": ctxt}), flush=True)
            self.remaining -= 1
            if self.remaining <= 0:
                self.done.set()


def _job_method(name):
    def handler(self, ctxt, payload):
        self._record(name, ctxt, payload)
    handler.__name__ = name
    return handler


for _name in JOB_METHODS:
    setattr(XJobEndpoint, _name, _job_method(_name))


def main():
    p = common.parser(__doc__)
    p.add_argument("--server", default="tricircle.xhost")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--timeout", type=float, default=60.0)
    args = p.parse_args()
    transport = common.transport(args)
    target = messaging.Target(topic=args.topic, server=args.server)
    endpoint = XJobEndpoint(args.count)
    server = messaging.get_rpc_server(
        transport, target, [endpoint], executor="threading",
        serializer=common.ContextSerializer())
    server.start()
    print("READY", flush=True)
    ok = endpoint.done.wait(args.timeout)
    server.stop()
    server.wait()
    transport.cleanup()
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
