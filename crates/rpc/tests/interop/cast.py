"""Cast one Tricircle job the way the reference XJobAPI.invoke_method does:
an RPC client on target (topic=xjob, version=1.0), prepared with the
exchange, casting `method` with the request context and payload kwarg
{job_type: resource_id}."""

import json
import sys

from oslo_context import context as o_context
import oslo_messaging as messaging

import common


def main():
    p = common.parser(__doc__)
    p.add_argument("--method", required=True)
    p.add_argument("--job-type", required=True)
    p.add_argument("--resource-id", required=True)
    p.add_argument("--context", default="{}",
                   help="JSON object of RequestContext keyword arguments")
    args = p.parse_args()
    transport = common.transport(args)
    target = messaging.Target(topic=args.topic, version="1.0")
    client = messaging.get_rpc_client(transport, target, version_cap="1.0",
                                      serializer=common.ContextSerializer())
    ctxt = o_context.RequestContext(**json.loads(args.context))
    client.prepare(exchange=args.exchange).cast(
        ctxt, args.method, payload={args.job_type: args.resource_id})
    transport.cleanup()
    print("SENT", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
