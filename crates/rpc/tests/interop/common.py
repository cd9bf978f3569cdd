"""Shared set-up for the interop scripts: an oslo.messaging rabbit
transport built from command-line options, and Tricircle's context
serialization (the context travels as its to_dict())."""

import argparse
import os
import tempfile

import oslo_config.cfg
import oslo_messaging as messaging


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--url", default=os.environ.get("TRICIRCLE_TEST_RABBIT_URL"))
    p.add_argument("--exchange", default="openstack")
    p.add_argument("--topic", default="xjob")
    p.add_argument("--durable", action="store_true")
    return p


def transport(args, notification=False):
    # Options the driver registers late are read from this file.
    fd, path = tempfile.mkstemp(suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write("[DEFAULT]\ncontrol_exchange = %s\n" % args.exchange)
        f.write("[oslo_messaging_rabbit]\namqp_durable_queues = %s\n"
                % ("true" if args.durable else "false"))
    # The global CONF, as the reference uses (some driver modules register
    # their options only there).
    conf = oslo_config.cfg.CONF
    conf(["--config-file", path], project="tricircle-interop")
    os.unlink(path)
    messaging.set_transport_defaults(args.exchange)
    if notification:
        return messaging.get_notification_transport(conf, url=args.url)
    return messaging.get_rpc_transport(conf, url=args.url)


class ContextSerializer(messaging.Serializer):
    """Entities pass through; contexts go as dicts (Tricircle's
    RequestContextSerializer does context.to_dict())."""

    def serialize_entity(self, ctxt, entity):
        return entity

    def deserialize_entity(self, ctxt, entity):
        return entity

    def serialize_context(self, ctxt):
        return ctxt if isinstance(ctxt, dict) else ctxt.to_dict()

    def deserialize_context(self, ctxt):
        return ctxt
