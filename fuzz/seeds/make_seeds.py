#!/usr/bin/env python3
"""Writes the committed seed corpus, fuzz/seeds/<target>/<name>.

Frames, methods, properties and tables are encoded by pika (`pip install pika`), the Python
client, so the seeds are what a real client sends; a few field tables are written by hand
for the value types pika never sends. Run from anywhere; it replaces every seed it names and
leaves other files alone. The definitions seeds are JSON written by hand, not made here.
"""

import decimal
import os
import struct
from datetime import datetime, timezone

from pika import frame, spec
from pika.data import encode_table

SEEDS = os.path.dirname(os.path.abspath(__file__))

# The order of method_payload.rs's METHODS: the first input byte picks one.
METHOD_PICK = {
    (10, 11): 0,
    (40, 10): 1,
    (40, 30): 2,
    (40, 40): 3,
    (50, 10): 4,
    (50, 20): 5,
    (50, 50): 6,
    (60, 20): 7,
    (60, 40): 8,
    (60, 80): 9,
}


def write(target, name, data):
    os.makedirs(os.path.join(SEEDS, target), exist_ok=True)
    with open(os.path.join(SEEDS, target, name), "wb") as f:
        f.write(data)


def table(d):
    """A field table as it appears inside a method: 4-byte length, then the entries."""
    pieces = []
    encode_table(pieces, d)
    return b"".join(pieces)


def table_body(d):
    return table(d)[4:]


def method_frame(channel, method):
    return frame.Method(channel, method).marshal()


def content(channel, props, body, frame_max=131072):
    out = frame.Header(channel, len(body), props).marshal()
    chunk = frame_max - 8
    for i in range(0, len(body), chunk):
        out += frame.Body(channel, body[i : i + chunk]).marshal()
    return out


def hand_value(tag, payload):
    return tag + payload


def short(s):
    return bytes([len(s)]) + s


def hand_table_body(entries):
    return b"".join(short(k) + v for k, v in entries)


def hand_table(entries):
    body = hand_table_body(entries)
    return struct.pack(">I", len(body)) + body


def hand_array(values):
    body = b"".join(values)
    return struct.pack(">I", len(body)) + body


# Every type tag amq-protocol reads, as RabbitMQ's and Java's clients send them.
ALL_TYPES = [
    (b"bool", b"t\x01"),
    (b"i8", b"b\xfe"),
    (b"u8", b"B\xfe"),
    (b"i16", b"s" + struct.pack(">h", -2)),
    (b"i16U", b"U" + struct.pack(">h", -2)),
    (b"u16", b"u" + struct.pack(">H", 65534)),
    (b"i32", b"I" + struct.pack(">i", -70000)),
    (b"u32", b"i" + struct.pack(">I", 4000000000)),
    (b"i64", b"l" + struct.pack(">q", -(2**40))),
    (b"i64L", b"L" + struct.pack(">q", 2**40)),
    (b"f32", b"f" + struct.pack(">f", 1.5)),
    (b"f64", b"d" + struct.pack(">d", -0.25)),
    (b"decimal", b"D\x02" + struct.pack(">i", 12345)),
    (b"longstr", b"S" + struct.pack(">I", 5) + b"hello"),
    (b"bytes", b"x" + struct.pack(">I", 3) + b"\x00\xff\x80"),
    (b"timestamp", b"T" + struct.pack(">Q", 1700000000)),
    (b"void", b"V"),
    (b"array", b"A" + hand_array([b"I\x00\x00\x00\x01", b"S\x00\x00\x00\x01x", b"V"])),
    (b"table", b"F" + hand_table([(b"k", b"S\x00\x00\x00\x01v")])),
]


def nested_table(depth):
    """`depth` tables inside each other, then an empty one."""
    inner = hand_table([])
    for _ in range(depth):
        inner = hand_table([(b"n", b"F" + inner)])
    return inner


def nested_array(depth):
    inner = hand_array([])
    for _ in range(depth):
        inner = hand_array([b"A" + inner])
    return inner


CLIENT_PROPERTIES = {
    "product": "Pika Python Client Library",
    "platform": "Python 3.11.7",
    "capabilities": {
        "authentication_failure_close": True,
        "basic.nack": True,
        "connection.blocked": True,
        "consumer_cancel_notify": True,
        "publisher_confirms": True,
    },
    "information": "See http://pika.rtfd.org",
    "version": "1.4.4",
    "connection_name": "fuzz-seed",
}

PLAIN = b"\x00guest\x00guest"
AMQPLAIN = table_body({"LOGIN": "guest", "PASSWORD": "guest"})

QUEUE_ARGS = {
    "x-message-ttl": 60000,
    "x-expires": 1800000,
    "x-max-length": 1000,
    "x-max-length-bytes": 10485760,
    "x-overflow": "reject-publish",
    "x-dead-letter-exchange": "dlx",
    "x-dead-letter-routing-key": "dead",
    "x-max-priority": 10,
    "x-queue-mode": "lazy",
    "x-queue-type": "classic",
    "x-single-active-consumer": True,
}

HEADERS = {
    "x-match": "all",
    "format": "pdf",
    "type": "report",
    "retries": 3,
    "big": 2**40,
    "ratio": decimal.Decimal("1.25"),
    "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    "raw": b"\x00\x01\xff",
    "nothing": None,
    "list": [1, "two", True, {"three": 3}],
    "x-death": [
        {
            "count": 1,
            "reason": "expired",
            "queue": "q1",
            "exchange": "",
            "routing-keys": ["q1"],
            "time": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        }
    ],
}

FULL_PROPS = spec.BasicProperties(
    content_type="application/json",
    content_encoding="gzip",
    headers=HEADERS,
    delivery_mode=2,
    priority=5,
    correlation_id="corr-1",
    reply_to="amq.rabbitmq.reply-to",
    expiration="60000",
    message_id="msg-1",
    timestamp=1700000000,
    type="order.created",
    user_id="guest",
    app_id="fuzz",
    cluster_id="c1",
)

PROPS = {
    "empty": spec.BasicProperties(),
    "persistent": spec.BasicProperties(delivery_mode=2),
    "json_persistent": spec.BasicProperties(content_type="application/json", delivery_mode=2),
    "expiration": spec.BasicProperties(expiration="1000", delivery_mode=1),
    "priority": spec.BasicProperties(priority=9),
    "rpc": spec.BasicProperties(reply_to="amq.rabbitmq.reply-to", correlation_id="42"),
    "user_id": spec.BasicProperties(user_id="guest", app_id="app"),
    "timestamp": spec.BasicProperties(timestamp=1700000000, message_id="m"),
    "headers_simple": spec.BasicProperties(headers={"a": "b", "n": 1}),
    "headers_empty": spec.BasicProperties(headers={}),
    "headers_expiration": spec.BasicProperties(headers={"x-match": "any"}, expiration="5000"),
    "headers_rich": spec.BasicProperties(headers=HEADERS, delivery_mode=2),
    "full": FULL_PROPS,
}


def props_bytes(p):
    return b"".join(p.encode())


def handshake(mechanism, response):
    return (
        method_frame(
            0,
            spec.Connection.StartOk(
                client_properties=CLIENT_PROPERTIES,
                mechanism=mechanism,
                response=response,
                locale="en_US",
            ),
        )
        + method_frame(0, spec.Connection.TuneOk(channel_max=2047, frame_max=131072, heartbeat=60))
        + method_frame(0, spec.Connection.Open(virtual_host="/"))
    )


def declare_and_consume():
    return (
        method_frame(1, spec.Channel.Open())
        + method_frame(1, spec.Basic.Qos(prefetch_count=10))
        + method_frame(1, spec.Queue.Declare(queue="q1", durable=True, arguments=QUEUE_ARGS))
        + method_frame(1, spec.Exchange.Declare(exchange="hx", type="headers", durable=True, arguments={"alternate-exchange": "ae"}))
        + method_frame(1, spec.Queue.Bind(queue="q1", exchange="hx", routing_key="", arguments={"x-match": "all", "format": "pdf"}))
        + method_frame(1, spec.Basic.Consume(queue="q1", consumer_tag="ctag", arguments={"x-priority": 5}))
    )


FRAME_STREAMS = {
    "handshake_plain": handshake("PLAIN", PLAIN),
    "handshake_amqplain": handshake("AMQPLAIN", AMQPLAIN),
    "declare_bind_consume": declare_and_consume(),
    "publish_headers": method_frame(1, spec.Basic.Publish(exchange="hx", routing_key="", mandatory=True))
    + content(1, PROPS["headers_rich"], b"%PDF-1.4 fuzz"),
    "publish_persistent": method_frame(1, spec.Basic.Publish(exchange="", routing_key="q1"))
    + content(1, PROPS["json_persistent"], b'{"id":1}'),
    "publish_full_props_two_bodies": method_frame(1, spec.Basic.Publish(exchange="amq.topic", routing_key="a.b.c"))
    + content(1, FULL_PROPS, b"x" * 300, frame_max=264),
    "publish_empty_body": method_frame(1, spec.Basic.Publish(exchange="", routing_key="q1"))
    + content(1, PROPS["empty"], b""),
    "publish_expiration": method_frame(1, spec.Basic.Publish(exchange="", routing_key="q1"))
    + content(1, PROPS["expiration"], b"ttl"),
    "acks": method_frame(1, spec.Basic.Ack(delivery_tag=1))
    + method_frame(1, spec.Basic.Ack(delivery_tag=5, multiple=True))
    + method_frame(1, spec.Basic.Nack(delivery_tag=6, multiple=False, requeue=True))
    + method_frame(1, spec.Basic.Reject(delivery_tag=7, requeue=False)),
    "confirm_tx": method_frame(1, spec.Confirm.Select())
    + method_frame(2, spec.Tx.Select())
    + method_frame(2, spec.Tx.Commit())
    + method_frame(2, spec.Tx.Rollback()),
    "get_cancel_purge_delete": method_frame(1, spec.Basic.Get(queue="q1", no_ack=True))
    + method_frame(1, spec.Basic.Cancel(consumer_tag="ctag"))
    + method_frame(1, spec.Basic.Recover(requeue=True))
    + method_frame(1, spec.Queue.Purge(queue="q1"))
    + method_frame(1, spec.Queue.Unbind(queue="q1", exchange="hx", routing_key="", arguments={"x-match": "all"}))
    + method_frame(1, spec.Queue.Delete(queue="q1", if_unused=True))
    + method_frame(1, spec.Exchange.Delete(exchange="hx")),
    "exchange_bind": method_frame(1, spec.Exchange.Bind(destination="d", source="s", routing_key="k", arguments={"x-match": "any", "a": 1}))
    + method_frame(1, spec.Exchange.Unbind(destination="d", source="s", routing_key="k", arguments={})),
    "heartbeats_flow_close": frame.Heartbeat().marshal()
    + method_frame(1, spec.Channel.Flow(active=False))
    + method_frame(1, spec.Channel.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0))
    + method_frame(1, spec.Channel.CloseOk())
    + frame.Heartbeat().marshal()
    + method_frame(0, spec.Connection.Close(reply_code=200, reply_text="Normal shutdown", class_id=0, method_id=0)),
}

METHODS = {
    "start_ok_plain": spec.Connection.StartOk(client_properties=CLIENT_PROPERTIES, mechanism="PLAIN", response=PLAIN, locale="en_US"),
    "start_ok_amqplain": spec.Connection.StartOk(client_properties=CLIENT_PROPERTIES, mechanism="AMQPLAIN", response=AMQPLAIN, locale="en_US"),
    "start_ok_minimal": spec.Connection.StartOk(client_properties={}, mechanism="PLAIN", response=b"\x00a\x00b", locale="en_US"),
    "exchange_declare": spec.Exchange.Declare(exchange="ex1", type="topic", durable=True, arguments={"alternate-exchange": "ae"}),
    "exchange_declare_passive": spec.Exchange.Declare(exchange="amq.direct", type="direct", passive=True, nowait=True, arguments={}),
    "exchange_bind": spec.Exchange.Bind(destination="d", source="s", routing_key="k.#", arguments={"x-match": "any", "a": 1}),
    "exchange_unbind": spec.Exchange.Unbind(destination="d", source="s", routing_key="k.#", arguments={}),
    "queue_declare_args": spec.Queue.Declare(queue="q1", durable=True, arguments=QUEUE_ARGS),
    "queue_declare_exclusive": spec.Queue.Declare(queue="", exclusive=True, auto_delete=True, arguments={"x-expires": 10000}),
    "queue_bind_headers": spec.Queue.Bind(queue="q1", exchange="hx", routing_key="", arguments={"x-match": "all", "format": "pdf", "nested": {"a": [1, 2]}}),
    "queue_unbind": spec.Queue.Unbind(queue="q1", exchange="amq.topic", routing_key="a.*", arguments={}),
    "basic_consume_priority": spec.Basic.Consume(queue="q1", consumer_tag="ctag", arguments={"x-priority": 5}),
    "basic_consume_exclusive": spec.Basic.Consume(queue="q1", consumer_tag="", no_ack=True, exclusive=True, arguments={}),
    "basic_publish": spec.Basic.Publish(exchange="amq.topic", routing_key="a.b.c", mandatory=True),
    "basic_publish_default": spec.Basic.Publish(exchange="", routing_key="q1"),
    "basic_ack": spec.Basic.Ack(delivery_tag=1),
    "basic_ack_multiple": spec.Basic.Ack(delivery_tag=2**40, multiple=True),
}

def main():
    for name, data in FRAME_STREAMS.items():
        write("frame_decoder", name, data)

    for name, method in METHODS.items():
        pick = METHOD_PICK[(method.INDEX >> 16, method.INDEX & 0xFFFF)]
        write("method_payload", name, bytes([pick]) + b"".join(method.encode()))

    for name, p in PROPS.items():
        write("properties", name, props_bytes(p))

    write("field_table", "empty", b"")
    write("field_table", "headers_rich", table_body(HEADERS))
    write("field_table", "queue_args", table_body(QUEUE_ARGS))
    write("field_table", "client_properties", table_body(CLIENT_PROPERTIES))
    write("field_table", "all_types", hand_table_body(ALL_TYPES))
    write("field_table", "nested_tables_8", nested_table(8)[4:])
    write("field_table", "nested_arrays_8", hand_table_body([(b"a", b"A" + nested_array(8))]))

    write("amqplain", "amqplain_guest", AMQPLAIN)
    write("amqplain", "amqplain_extra_keys", table_body({"LOGIN": "user", "PASSWORD": "p@ss", "x": {"y": [1, 2]}}))
    write("amqplain", "amqplain_all_types", hand_table_body([(b"LOGIN", b"S\x00\x00\x00\x01u"), (b"PASSWORD", b"S\x00\x00\x00\x01p")] + ALL_TYPES))
    write("amqplain", "plain_guest", PLAIN)
    write("amqplain", "plain_authzid", b"admin\x00guest\x00guest")
    write("amqplain", "plain_utf8", "\x00ユーザー\x00пароль".encode())


if __name__ == "__main__":
    main()
