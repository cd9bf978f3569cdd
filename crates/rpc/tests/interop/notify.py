"""Publish notifications the way a region's Neutron does with
[oslo_messaging_notifications] driver = messagingv2: a Notifier on the
notification transport, publisher network.<host>, on the given topic of the
exchange `neutron` (Neutron's control_exchange). Sends `--count` times,
`--every` seconds apart, so a listener that binds its queue late still gets
one; each carries its sequence number in payload["seq"]."""

import json
import sys
import time

from oslo_context import context as o_context
import oslo_messaging as messaging

import common


def main():
    p = common.parser(__doc__)
    p.set_defaults(exchange="neutron", topic="notifications")
    p.add_argument("--event-type", required=True)
    p.add_argument("--payload", default="{}", help="JSON object")
    p.add_argument("--context", default="{}",
                   help="JSON object of RequestContext keyword arguments")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--every", type=float, default=0.3)
    args = p.parse_args()
    transport = common.transport(args, notification=True)
    notifier = messaging.Notifier(transport, publisher_id="network.interop-host",
                                  driver="messagingv2", topics=[args.topic],
                                  serializer=common.ContextSerializer())
    ctxt = o_context.RequestContext(**json.loads(args.context))
    for seq in range(args.count):
        payload = json.loads(args.payload)
        payload["seq"] = seq
        notifier.info(ctxt, args.event_type, payload)
        print("SENT %d" % seq, flush=True)
        time.sleep(args.every)
    transport.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
