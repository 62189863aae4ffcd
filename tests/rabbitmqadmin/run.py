#!/usr/bin/env python3
"""Run RabbitMQ's rabbitmqadmin (3.10) against a broker's management API and check
every subcommand's result.

    run.py RABBITMQADMIN [--host 127.0.0.1] [--port 15672] [--user guest] [--password guest]

RABBITMQADMIN is the script as a broker serves it at /cli/rabbitmqadmin (it is
RabbitMQ's code: download it, do not commit it). The user must be an
administrator. Everything is created under a unique prefix (a vhost, users, a
global parameter) and deleted at the end, so the broker may be shared.

Each check runs rabbitmqadmin and verifies its output, and what it changed,
through the HTTP API directly (urllib) or over AMQP (a tiny raw AMQP 0-9-1
client: the handshake, channel.open, basic.qos, basic.consume, confirm.select,
and the connection.close that `close connection` causes). Python 3 standard
library only. Exit status 0 when every check passes, 1 otherwise.
"""

import argparse
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

# Statistics (connections, channels, consumers, message counts) show up in
# RabbitMQ's API only with its next emission, every 5 s.
STATS_WAIT = 15.0


class CheckFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CheckFailed(what)


def check_eq(got, want, what):
    if got != want:
        raise CheckFailed(f"{what}: expected {want!r}, got {got!r}")


# ---------------------------------------------------------------------------
# The broker under test: the HTTP API (to verify) and rabbitmqadmin (under test)


class Broker:
    def __init__(self, admin, host, port, user, password):
        self.admin = admin
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.commands = 0

    # -- direct HTTP API calls, for verification --

    def api(self, method, path, body=None):
        """(status, parsed JSON or None) for /api/<path>."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"http://{self.host}:{self.port}/api/{path}", data=data, method=method
        )
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        req.add_header("Authorization", "Basic " + token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None

    def get(self, path):
        status, body = self.api("GET", path)
        check_eq(status, 200, f"GET /api/{path}: status")
        return body

    def exists(self, path):
        status, _ = self.api("GET", path)
        check(status in (200, 404), f"GET /api/{path}: unexpected status {status}")
        return status == 200

    # -- rabbitmqadmin --

    def run(self, *args, vhost=None, fmt=None, stdin=None, expect_rc=0):
        """Run rabbitmqadmin; check the exit status; return stdout (text)."""
        cmd = [sys.executable, self.admin, "-H", self.host, "-P", str(self.port),
               "-u", self.user, "-p", self.password]
        if vhost is not None:
            cmd += ["-V", vhost]
        if fmt is not None:
            cmd += ["-f", fmt]
        cmd += list(args)
        self.commands += 1
        p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
        shown = " ".join(args)
        if expect_rc == "nonzero":
            check(p.returncode != 0,
                  f"rabbitmqadmin {shown}: expected a failure, got exit 0: {p.stdout}")
        else:
            check(p.returncode == expect_rc,
                  f"rabbitmqadmin {shown}: exit {p.returncode} (expected {expect_rc}): "
                  f"{p.stdout}{p.stderr}")
        return p.stdout + p.stderr if expect_rc != 0 else p.stdout

    def run_json(self, *args, vhost=None):
        out = self.run(*args, vhost=vhost, fmt="raw_json")
        try:
            return json.loads(out)
        except ValueError:
            raise CheckFailed(f"rabbitmqadmin -f raw_json {' '.join(args)}: not JSON: {out!r}")

    def run_tsv(self, *args, vhost=None):
        """Header and rows of a -f tsv listing."""
        out = self.run(*args, vhost=vhost, fmt="tsv")
        lines = [line for line in out.split("\n") if line]
        check(lines, f"rabbitmqadmin -f tsv {' '.join(args)}: no header line")
        return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]

    def expect_status_line(self, want, *args, vhost=None):
        out = self.run(*args, vhost=vhost)
        check(want in out, f"rabbitmqadmin {' '.join(args)}: expected {want!r}, got {out!r}")

    def poll_json(self, what, *args, vhost=None, until):
        deadline = time.monotonic() + STATS_WAIT
        while True:
            v = self.run_json(*args, vhost=vhost)
            found = until(v)
            if found:
                return found
            if time.monotonic() > deadline:
                raise CheckFailed(f"{what}: not there after {STATS_WAIT:.0f}s; last: {v}")
            time.sleep(0.25)


def q(s):
    return urllib.parse.quote(s, safe="")


def in_vhost(rows, vhost):
    """The rows of one vhost: `list` of channels, parameters, policies,
    operator_policies and vhost_limits ignores --vhost and lists them all."""
    return [r for r in rows if r.get("vhost") == vhost]


# ---------------------------------------------------------------------------
# A tiny AMQP 0-9-1 client: enough to be a connection with a name, a channel,
# a consumer, and to see how the server closes it.


def shortstr(s):
    b = s.encode()
    return struct.pack("B", len(b)) + b


def longstr(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">I", len(b)) + b


def table(d):
    out = b""
    for k, v in d.items():
        out += shortstr(k)
        if isinstance(v, bool):
            out += b"t" + struct.pack("B", 1 if v else 0)
        elif isinstance(v, dict):
            out += b"F" + table(v)
        else:
            out += b"S" + longstr(v)
    return struct.pack(">I", len(out)) + out


class Amqp:
    def __init__(self, host, port, user, password, vhost, name):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.buf = b""
        self.sock.sendall(b"AMQP\x00\x00\x09\x01")
        self.expect(0, 10, 10)  # connection.start
        props = {
            "product": "warren rabbitmqadmin check",
            "connection_name": name,
            "capabilities": {"consumer_cancel_notify": True, "publisher_confirms": True},
        }
        self.method(0, 10, 11, table(props) + shortstr("PLAIN")
                    + longstr(b"\0" + user.encode() + b"\0" + password.encode())
                    + shortstr("en_US"))
        tune = self.expect(0, 10, 30)
        channel_max, frame_max, _ = struct.unpack(">HIH", tune[:8])
        self.method(0, 10, 31, struct.pack(">HIH", channel_max, frame_max, 0))
        self.method(0, 10, 40, shortstr(vhost) + shortstr("") + b"\x00")
        self.expect(0, 10, 41)  # open-ok

    def method(self, channel, cls, mth, args):
        payload = struct.pack(">HH", cls, mth) + args
        self.sock.sendall(struct.pack(">BHI", 1, channel, len(payload)) + payload + b"\xce")

    def frame(self):
        while True:
            if len(self.buf) >= 7:
                kind, channel, size = struct.unpack(">BHI", self.buf[:7])
                if len(self.buf) >= 8 + size:
                    payload = self.buf[7:7 + size]
                    self.buf = self.buf[8 + size:]
                    return kind, channel, payload
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk

    def expect(self, channel, cls, mth):
        """Wait for this method (skipping heartbeats); its arguments."""
        while True:
            f = self.frame()
            check(f is not None, f"AMQP: socket closed while waiting for method {cls}.{mth}")
            kind, ch, payload = f
            if kind != 1:
                continue
            c, m = struct.unpack(">HH", payload[:4])
            if (c, m) == (10, 50) and (cls, mth) != (10, 50):
                code = struct.unpack(">H", payload[4:6])[0]
                text = payload[7:7 + payload[6]].decode()
                raise CheckFailed(f"AMQP: connection.close {code} {text} while waiting for {cls}.{mth}")
            if (ch, c, m) == (channel, cls, mth):
                return payload[4:]

    def open_channel(self, channel):
        self.method(channel, 20, 10, shortstr(""))
        self.expect(channel, 20, 11)

    def qos(self, channel, prefetch):
        self.method(channel, 60, 10, struct.pack(">IHB", 0, prefetch, 0))
        self.expect(channel, 60, 11)

    def confirm_select(self, channel):
        self.method(channel, 85, 10, b"\x00")
        self.expect(channel, 85, 11)

    def consume(self, channel, queue, tag):
        self.method(channel, 60, 20, struct.pack(">H", 0) + shortstr(queue) + shortstr(tag)
                    + b"\x00" + table({}))
        self.expect(channel, 60, 21)

    def expect_close(self):
        """The server's connection.close: (code, text); answers close-ok."""
        args = self.expect(0, 10, 50)
        code = struct.unpack(">H", args[:2])[0]
        text = args[3:3 + args[2]].decode()
        self.method(0, 10, 51, b"")
        return code, text

    def close(self):
        try:
            self.method(0, 10, 50, struct.pack(">H", 200) + shortstr("bye") + struct.pack(">HH", 0, 0))
            self.expect(0, 10, 51)
        except (OSError, CheckFailed):
            pass
        self.sock.close()


# ---------------------------------------------------------------------------
# The checks


class Run:
    def __init__(self, b):
        self.b = b
        self.prefix = f"rmqadmin-check-{os.getpid()}-{int(time.time() * 1000) % 100000}"
        self.vhost = self.prefix + "-vh"
        self.vhost2 = self.prefix + "-vh2"
        self.user = self.prefix + "-user"
        self.password = "pw-" + self.prefix
        self.amqp_port = None
        self.tmp = tempfile.mkdtemp(prefix="rmqadmin-check-")
        self.passed = []

    def cleanup(self):
        for path in (f"vhosts/{q(self.vhost)}", f"vhosts/{q(self.vhost2)}",
                     f"users/{q(self.user)}", f"users/{q(self.user + '-hashed')}"):
            try:
                self.b.api("DELETE", path)
            except Exception:  # noqa: BLE001 - best effort
                pass

    def case(self, fn):
        t0 = time.monotonic()
        try:
            fn()
        except CheckFailed as e:
            raise CheckFailed(f"{fn.__name__}: {e}") from None
        self.passed.append(fn.__name__)
        print(f"ok   {fn.__name__} ({time.monotonic() - t0:.1f}s)", flush=True)

    def all(self):
        for fn in (
            self.show_overview,
            self.vhost_declare_list,
            self.user_declare_list,
            self.permission_declare_list,
            self.exchange_declare_list,
            self.queue_declare_list,
            self.queue_mirror_columns,
            self.binding_declare_list,
            self.publish_and_get,
            self.purge_queue,
            self.parameter_declare_list_delete,
            self.policy_declare_list_delete,
            self.operator_policy_declare_list_delete,
            self.vhost_limit_declare_list_delete,
            self.list_nodes,
            self.connections_channels_consumers_close,
            self.export_and_import,
            self.formats,
            self.errors,
            self.deletes,
        ):
            self.case(fn)

    # -- display --

    def show_overview(self):
        b = self.b
        ov = b.run_json("show", "overview")
        check(isinstance(ov, list) and len(ov) == 1, f"show overview: one row, got {ov!r}")
        for k in ("rabbitmq_version", "management_version", "object_totals", "node",
                  "listeners", "exchange_types"):
            check(k in ov[0], f"show overview: no {k}")
        amqp = [x for x in ov[0]["listeners"] if x.get("protocol") == "amqp"]
        check(amqp, "show overview: no amqp listener")
        self.amqp_port = amqp[0]["port"]
        table_out = b.run("show", "overview")
        check("rabbitmq_version" in table_out and "+--" in table_out,
              f"show overview as a table: {table_out!r}")
        cols = b.run_json("show", "overview", "node", "object_totals.queues")
        check_eq(sorted(cols[0].keys()), ["node", "object_totals"],
                 "show overview with columns: keys")
        # (RabbitMQ keeps the whole object_totals here.)
        check("queues" in cols[0]["object_totals"],
              f"show overview with columns: object_totals {cols[0]['object_totals']}")

    def vhost_declare_list(self):
        b = self.b
        b.expect_status_line("vhost declared", "declare", "vhost", f"name={self.vhost}")
        check(b.exists(f"vhosts/{q(self.vhost)}"), "declared vhost not in the API")
        b.expect_status_line("vhost declared", "declare", "vhost", f"name={self.vhost2}",
                             "tracing=true")
        check_eq(b.get(f"vhosts/{q(self.vhost2)}")["tracing"], True, "tracing of the vhost")
        names = [v["name"] for v in b.run_json("list", "vhosts")]
        check(self.vhost in names and self.vhost2 in names, f"list vhosts: {names}")
        header, rows = b.run_tsv("list", "vhosts", "name", "tracing")
        check_eq(header, ["name", "tracing"], "list vhosts -f tsv header")
        check([self.vhost2, "True"] in rows, f"list vhosts -f tsv rows: {rows}")

    def user_declare_list(self):
        b = self.b
        b.expect_status_line("user declared", "declare", "user", f"name={self.user}",
                             f"password={self.password}", "tags=management,policymaker")
        u = b.get(f"users/{q(self.user)}")
        check_eq(sorted(u["tags"]), ["management", "policymaker"], "tags of the declared user")
        listed = [x for x in b.run_json("list", "users") if x["name"] == self.user]
        check(listed, "list users: declared user missing")
        # By hash: the same password works.
        hashed = self.user + "-hashed"
        b.expect_status_line("user declared", "declare", "user", f"name={hashed}",
                             f"password_hash={u['password_hash']}", "tags=management",
                             "hashing_algorithm=rabbit_password_hashing_sha256")
        other = Broker(b.admin, b.host, b.port, hashed, self.password)
        who = other.get("whoami")
        check_eq(who["name"], hashed, "whoami of a user declared by password_hash")

    def permission_declare_list(self):
        b = self.b
        for vhost in (self.vhost, self.vhost2):
            b.expect_status_line("permission declared", "declare", "permission",
                                 f"vhost={vhost}", f"user={self.user}",
                                 "configure=.*", "write=.*", "read=.*")
        p = b.get(f"permissions/{q(self.vhost)}/{q(self.user)}")
        check_eq((p["configure"], p["write"], p["read"]), (".*", ".*", ".*"), "permission")
        listed = [(x["vhost"], x["user"]) for x in b.run_json("list", "permissions")]
        check((self.vhost, self.user) in listed, f"list permissions: {listed}")

    def exchange_declare_list(self):
        b = self.b
        b.expect_status_line("exchange declared", "declare", "exchange", "name=x",
                             "type=topic", "durable=true", vhost=self.vhost)
        b.expect_status_line("exchange declared", "declare", "exchange", "name=x.internal",
                             "type=fanout", "internal=true", "auto_delete=false",
                             'arguments={"alternate-exchange":"x"}', vhost=self.vhost)
        x = b.get(f"exchanges/{q(self.vhost)}/x")
        check_eq((x["type"], x["durable"]), ("topic", True), "declared exchange")
        xi = b.get(f"exchanges/{q(self.vhost)}/x.internal")
        check_eq((xi["internal"], xi["arguments"]), (True, {"alternate-exchange": "x"}),
                 "internal exchange with arguments")
        rows = b.run_json("list", "exchanges", vhost=self.vhost)
        names = sorted(r["name"] for r in rows)
        check("x" in names and "x.internal" in names and "amq.topic" in names,
              f"list exchanges --vhost: {names}")
        check(all(r["vhost"] == self.vhost for r in rows), "list exchanges --vhost: other vhosts")

    def queue_declare_list(self):
        b = self.b
        b.expect_status_line("queue declared", "declare", "queue", "name=q", "durable=true",
                             'arguments={"x-max-length":10}', vhost=self.vhost)
        b.expect_status_line("queue declared", "declare", "queue", "name=q.classic",
                             "queue_type=classic", "durable=true", "auto_delete=false",
                             vhost=self.vhost)
        b.expect_status_line("queue declared", "declare", "queue", "name=q.transient",
                             "durable=false", vhost=self.vhost)
        qq = b.get(f"queues/{q(self.vhost)}/q")
        check_eq((qq["durable"], qq["arguments"]), (True, {"x-max-length": 10}), "declared queue")
        qc = b.get(f"queues/{q(self.vhost)}/q.classic")
        check_eq(qc.get("type"), "classic", "queue_type=classic")
        qt = b.get(f"queues/{q(self.vhost)}/q.transient")
        check_eq(qt["durable"], False, "durable=false")
        rows = b.run_json("list", "queues", vhost=self.vhost)
        check_eq(sorted(r["name"] for r in rows), ["q", "q.classic", "q.transient"],
                 "list queues --vhost")

    def queue_mirror_columns(self):
        # Mirrors as rabbitmqadmin lists them (it has no sync command): the master's node, and
        # slave_nodes / synchronised_slave_nodes empty for queues that are not mirrored.
        b = self.b
        cols = ["name", "node", "slave_nodes", "synchronised_slave_nodes"]
        node = b.get(f"queues/{q(self.vhost)}/q")["node"]
        check(node, "the API's node of a queue")
        header, rows = b.run_tsv("list", "queues", *cols, vhost=self.vhost)
        check_eq(header, cols, "list queues with mirror columns -f tsv header")
        check_eq(sorted(rows), [[n, node, "", ""] for n in ("q", "q.classic", "q.transient")],
                 "list queues with mirror columns -f tsv rows")
        for r in b.run_json("list", "queues", *cols, vhost=self.vhost):
            check(not r.get("slave_nodes") and not r.get("synchronised_slave_nodes"),
                  f"list queues: mirrors of a queue that is not mirrored: {r}")
        table_out = b.run("list", "queues", *cols, vhost=self.vhost)
        check("| synchronised_slave_nodes |" in table_out, f"table with mirror columns: {table_out!r}")

    def binding_declare_list(self):
        b = self.b
        b.expect_status_line("binding declared", "declare", "binding", "source=x",
                             "destination=q", "routing_key=a.#", vhost=self.vhost)
        b.expect_status_line("binding declared", "declare", "binding", "source=x",
                             "destination=x.internal", "destination_type=exchange",
                             "routing_key=to.x", vhost=self.vhost)
        b.expect_status_line("binding declared", "declare", "binding", "source=x",
                             "destination=q.classic", "routing_key=plain", vhost=self.vhost)
        api = b.get(f"bindings/{q(self.vhost)}/e/x/q/q")
        check_eq([x["routing_key"] for x in api], ["a.#"], "binding x -> q in the API")
        rows = b.run_json("list", "bindings", vhost=self.vhost)
        got = sorted((r["source"], r["destination"], r["destination_type"], r["routing_key"])
                     for r in rows)
        want = sorted([("", "q", "queue", "q"), ("", "q.classic", "queue", "q.classic"),
                       ("", "q.transient", "queue", "q.transient"),
                       ("x", "q", "queue", "a.#"), ("x", "q.classic", "queue", "plain"),
                       ("x", "x.internal", "exchange", "to.x")])
        check_eq(got, want, "list bindings --vhost")

    # -- publishing and consuming --

    def publish_and_get(self):
        b = self.b
        b.expect_status_line("Message published", "publish", "exchange=x", "routing_key=a.b",
                             "payload=hello", 'properties={"content_type":"text/plain"}',
                             vhost=self.vhost)
        out = b.run("publish", "exchange=x", "routing_key=b.a", "payload=lost", vhost=self.vhost)
        check("NOT routed" in out, f"publish of an unroutable message: {out!r}")
        # The payload from standard input.
        out = b.run("publish", "routing_key=q", vhost=self.vhost, stdin="from stdin")
        check("Message published" in out, f"publish from stdin: {out!r}")
        b.run("publish", "routing_key=q", "payload=aGk=", "payload_encoding=base64",
              vhost=self.vhost)
        got = b.run_json("get", "queue=q", "count=3", "ackmode=ack_requeue_true",
                         vhost=self.vhost)
        check_eq([m["payload"] for m in got], ["hello", "from stdin", "hi"], "get: payloads")
        check_eq(got[0]["properties"].get("content_type"), "text/plain", "get: content_type")
        check_eq([m["redelivered"] for m in got], [False, False, False], "get: redelivered")
        check_eq(got[0]["routing_key"], "a.b", "get: routing_key")
        got = b.run_json("get", "queue=q", "count=1", "ackmode=ack_requeue_false",
                         "encoding=base64", vhost=self.vhost)
        check_eq((got[0]["payload"], got[0]["payload_encoding"], got[0]["redelivered"]),
                 ("aGVsbG8=", "base64", True), "get with encoding=base64 after a requeue")
        table_out = b.run("get", "queue=q", "ackmode=reject_requeue_true", vhost=self.vhost)
        check("from stdin" in table_out and "payload" in table_out,
              f"get as a table: {table_out!r}")
        path = os.path.join(self.tmp, "payload")
        b.run("get", "queue=q", "ackmode=ack_requeue_false", f"payload_file={path}",
              vhost=self.vhost)
        with open(path, "rb") as f:
            check_eq(f.read(), b"from stdin", "get payload_file contents")
        got = b.run_json("get", "queue=q", "count=5", "ackmode=ack_requeue_false",
                         vhost=self.vhost)
        check_eq([m["payload"] for m in got], ["hi"], "messages left")
        check_eq(b.run_json("get", "queue=q", "ackmode=ack_requeue_false", vhost=self.vhost),
                 [], "get from an empty queue")

    def purge_queue(self):
        b = self.b
        for i in range(3):
            b.run("publish", "routing_key=q", f"payload=m{i}", vhost=self.vhost)
        b.expect_status_line("queue purged", "purge", "queue", "name=q", vhost=self.vhost)
        check_eq(b.run_json("get", "queue=q", "ackmode=ack_requeue_false", vhost=self.vhost),
                 [], "get after purge")
        b.run("purge", "queue", "name=no-such-queue", vhost=self.vhost, expect_rc="nonzero")

    # -- configuration --

    def parameter_declare_list_delete(self):
        b = self.b
        b.expect_status_line("parameter declared", "declare", "parameter",
                             "component=vhost-limits", "name=limits",
                             'value={"max-queues":50}', vhost=self.vhost2)
        # (list parameters lists every vhost's.)
        rows = in_vhost(b.run_json("list", "parameters"), self.vhost2)
        check_eq([(r["component"], r["name"], r["value"]) for r in rows],
                 [("vhost-limits", "limits", {"max-queues": 50})], "list parameters")
        limits = b.get(f"vhost-limits/{q(self.vhost2)}")
        check_eq(limits[0]["value"], {"max-queues": 50}, "limit set by the parameter")
        b.expect_status_line("parameter deleted", "delete", "parameter",
                             "component=vhost-limits", "name=limits", vhost=self.vhost2)
        rows = in_vhost(b.run_json("list", "parameters"), self.vhost2)
        check_eq(rows, [], "list parameters after delete")
        b.run("declare", "parameter", "component=no-such-component", "name=x", 'value={}',
              vhost=self.vhost2, expect_rc="nonzero")

    def policy_declare_list_delete(self):
        b = self.b
        b.expect_status_line("policy declared", "declare", "policy", "name=p", "pattern=^q$",
                             'definition={"max-length":1}', "priority=1", "apply-to=queues",
                             vhost=self.vhost)
        rows = in_vhost(b.run_json("list", "policies"), self.vhost)
        check_eq([(r["name"], r["pattern"], r["definition"], r["priority"], r["apply-to"])
                  for r in rows], [("p", "^q$", {"max-length": 1}, 1, "queues")],
                 "list policies")
        # It applies to the queue: three published, one left.
        for i in range(3):
            b.run("publish", "routing_key=q", f"payload=p{i}", vhost=self.vhost)
        got = b.run_json("get", "queue=q", "count=5", "ackmode=ack_requeue_false",
                         vhost=self.vhost)
        check_eq([m["payload"] for m in got], ["p2"], "messages in a queue with max-length 1")
        b.expect_status_line("policy deleted", "delete", "policy", "name=p", vhost=self.vhost)
        check(not b.exists(f"policies/{q(self.vhost)}/p"), "deleted policy still in the API")

    def operator_policy_declare_list_delete(self):
        b = self.b
        b.expect_status_line("operator_policy declared", "declare", "operator_policy",
                             "name=op", "pattern=.*", 'definition={"max-length":100}',
                             "apply-to=queues", vhost=self.vhost)
        rows = in_vhost(b.run_json("list", "operator_policies"), self.vhost)
        check_eq([(r["name"], r["definition"]) for r in rows], [("op", {"max-length": 100})],
                 "list operator_policies")
        b.expect_status_line("operator_policy deleted", "delete", "operator_policy", "name=op",
                             vhost=self.vhost)
        check_eq(in_vhost(b.run_json("list", "operator_policies"), self.vhost), [],
                 "list operator_policies after delete")

    def vhost_limit_declare_list_delete(self):
        b = self.b
        b.expect_status_line("vhost_limit declared", "declare", "vhost_limit",
                             f"vhost={self.vhost2}", "name=max-connections", "value=40")
        b.expect_status_line("vhost_limit declared", "declare", "vhost_limit",
                             f"vhost={self.vhost2}", "name=max-queues", "value=1")
        rows = in_vhost(b.run_json("list", "vhost_limits"), self.vhost2)
        check_eq(rows, [{"vhost": self.vhost2, "value": {"max-connections": 40, "max-queues": 1}}],
                 "list vhost_limits")
        # Enforced: the second queue is refused.
        b.run("declare", "queue", "name=one", vhost=self.vhost2)
        b.run("declare", "queue", "name=two", vhost=self.vhost2, expect_rc="nonzero")
        b.run("delete", "queue", "name=one", vhost=self.vhost2)
        for name in ("max-connections", "max-queues"):
            b.expect_status_line("vhost_limit deleted", "delete", "vhost_limit",
                                 f"vhost={self.vhost2}", f"name={name}")
        rows = in_vhost(b.run_json("list", "vhost_limits"), self.vhost2)
        # (RabbitMQ keeps an empty entry, its value an empty Erlang list: [].)
        check(rows in ([], [{"vhost": self.vhost2, "value": {}}],
                       [{"vhost": self.vhost2, "value": []}]),
              f"list vhost_limits after delete: {rows}")

    def list_nodes(self):
        b = self.b
        nodes = b.run_json("list", "nodes")
        check(isinstance(nodes, list) and nodes, f"list nodes: {nodes!r}")
        for k in ("name", "type", "running", "mem_used", "fd_used", "disk_free"):
            check(k in nodes[0], f"list nodes: no {k}")
        check_eq(nodes[0]["running"], True, "list nodes: running")
        header, rows = b.run_tsv("list", "nodes", "name", "type")
        check_eq(header, ["name", "type"], "list nodes -f tsv header")
        check_eq(rows[0][1], "disc", "list nodes -f tsv: type")

    # -- connections --

    def connections_channels_consumers_close(self):
        b = self.b
        check(self.amqp_port is not None, "no AMQP port from show overview")
        name = self.prefix + "-conn"
        c = Amqp(b.host, self.amqp_port, self.user, self.password, self.vhost, name)
        try:
            c.open_channel(1)
            c.qos(1, 3)
            c.consume(1, "q", "adm-tag")
            c.open_channel(2)
            c.confirm_select(2)
            conn = b.poll_json("list connections", "list", "connections",
                               until=lambda rows: next(
                                   (r for r in rows if r.get("user_provided_name") == name),
                                   None))
            check_eq((conn["user"], conn["vhost"]), (self.user, self.vhost),
                     "list connections: user and vhost")
            chans = b.poll_json(
                "list channels", "list", "channels",
                until=lambda rows: in_vhost(rows, self.vhost) if len(in_vhost(
                    rows, self.vhost)) == 2 and any(r.get("confirm") is True for r in rows)
                else None)
            by_number = {r["number"]: r for r in chans}
            check_eq(sorted(by_number), [1, 2], "list channels: channel numbers")
            check_eq(by_number[1].get("prefetch_count"), 3, "list channels: prefetch_count")
            check_eq(by_number[2].get("confirm"), True, "list channels: confirm")
            cons = b.poll_json(
                "list consumers", "list", "consumers", vhost=self.vhost,
                until=lambda rows: rows if any(
                    r.get("consumer_tag") == "adm-tag" for r in rows) else None)
            check_eq([(r["consumer_tag"], r["queue"]["name"]) for r in cons],
                     [("adm-tag", "q")], "list consumers --vhost")
            b.expect_status_line("connection closed", "close", "connection",
                                 f"name={conn['name']}")
            code, text = c.expect_close()
            check_eq((code, text), (320, "CONNECTION_FORCED - Closed via management plugin"),
                     "connection.close sent to the closed connection")
        finally:
            c.close()
        b.poll_json("closed connection gone", "list", "connections",
                    until=lambda rows: None if any(
                        r.get("user_provided_name") == name for r in rows) else True)

    # -- definitions --

    def export_and_import(self):
        b = self.b
        full = os.path.join(self.tmp, "all.json")
        out = b.run("export", full)
        check("Exported definitions" in out, f"export: {out!r}")
        with open(full) as f:
            d = json.load(f)
        for k in ("users", "vhosts", "permissions", "queues", "exchanges", "bindings",
                  "policies", "parameters"):
            check(k in d, f"export: no {k}")
        check(self.vhost in [v["name"] for v in d["vhosts"]], "export: vhost missing")
        check(self.user in [u["name"] for u in d["users"]], "export: user missing")
        check(("q", self.vhost) in [(x["name"], x["vhost"]) for x in d["queues"]],
              "export: queue missing")
        one = os.path.join(self.tmp, "vhost.json")
        b.run("export", one, vhost=self.vhost)
        with open(one) as f:
            dv = json.load(f)
        check("users" not in dv and "vhosts" not in dv, "export --vhost: has users or vhosts")
        exported = {x["name"] for x in dv["queues"]}
        check({"q", "q.classic"} <= exported, f"export --vhost: queues {exported}")
        # Into the second vhost (emptied first), then back into the first after deleting.
        out = b.run("import", one, vhost=self.vhost2)
        check("Uploaded definitions" in out, f"import --vhost: {out!r}")
        imported = {r["name"] for r in b.run_json("list", "queues", vhost=self.vhost2)}
        check({"q", "q.classic"} <= imported, f"queues imported into the second vhost: {imported}")
        check_eq(b.get(f"queues/{q(self.vhost2)}/q")["arguments"], {"x-max-length": 10},
                 "arguments of the imported queue")
        imported = b.get(f"bindings/{q(self.vhost2)}/e/x/q/q")
        check_eq([x["routing_key"] for x in imported], ["a.#"], "imported binding")
        # A whole-broker import of what is ours (the broker may be shared: never
        # import everyone's definitions back), after deleting a queue.
        mine = {
            "vhosts": [x for x in d["vhosts"] if x["name"] == self.vhost],
            "users": [x for x in d["users"] if x["name"] == self.user],
            "permissions": [x for x in d["permissions"] if x["vhost"] == self.vhost],
            "queues": [x for x in d["queues"] if x["vhost"] == self.vhost],
            "exchanges": [x for x in d["exchanges"] if x["vhost"] == self.vhost],
            "bindings": [x for x in d["bindings"] if x["vhost"] == self.vhost],
            "policies": [], "parameters": [], "global_parameters": [],
        }
        check({x["name"] for x in mine["queues"]} >= {"q", "q.classic"},
              "export: queues of the vhost")
        mine_path = os.path.join(self.tmp, "mine.json")
        with open(mine_path, "w") as f:
            json.dump(mine, f)
        b.run("delete", "queue", "name=q.classic", vhost=self.vhost)
        out = b.run("import", mine_path)
        check("Uploaded definitions" in out, f"import: {out!r}")
        check(b.exists(f"queues/{q(self.vhost)}/q.classic"), "import did not restore a queue")

    # -- formats and errors --

    def formats(self):
        b = self.b
        header, rows = b.run_tsv("list", "queues", "name", "durable", vhost=self.vhost)
        check_eq(header, ["name", "durable"], "list queues -f tsv header")
        check_eq(sorted(rows), [["q", "True"], ["q.classic", "True"], ["q.transient", "False"]],
                 "list queues -f tsv rows")
        pretty = b.run("list", "queues", "name", vhost=self.vhost, fmt="pretty_json")
        check_eq(sorted(x["name"] for x in json.loads(pretty)), ["q", "q.classic", "q.transient"],
                 "-f pretty_json")
        kvp = b.run("list", "queues", "name", vhost=self.vhost, fmt="kvp")
        check('name="q"' in kvp, f"-f kvp: {kvp!r}")
        long_out = b.run("list", "exchanges", "name", "type", vhost=self.vhost, fmt="long")
        check("name: x.internal" in long_out, f"-f long: {long_out!r}")
        table_out = b.run("list", "queues", "name", vhost=self.vhost)
        check("| q.classic " in table_out and "+--" in table_out, f"table: {table_out!r}")
        b.run("declare", "queue", "name=only.in.vh2", vhost=self.vhost2)
        in2 = [r["name"] for r in b.run_json("list", "queues", "name", vhost=self.vhost2)]
        in1 = [r["name"] for r in b.run_json("list", "queues", "name", vhost=self.vhost)]
        check("only.in.vh2" in in2 and "only.in.vh2" not in in1,
              f"--vhost selects the vhost: {in1} / {in2}")
        out = b.run("--sort", "name", "--sort-reverse", "list", "queues", "name",
                    vhost=self.vhost, fmt="raw_json")
        check_eq([r["name"] for r in json.loads(out)], ["q.transient", "q.classic", "q"],
                 "--sort name --sort-reverse")

    def errors(self):
        b = self.b
        out = b.run("declare", "queue", "name=x", vhost=self.prefix + "-missing",
                    expect_rc="nonzero")
        check("Not found" in out or "not found" in out.lower(),
              f"declare queue in a missing vhost: {out!r}")
        out = b.run("declare", "queue", "name=q", "durable=false", vhost=self.vhost,
                    expect_rc="nonzero")
        check("inequivalent arg 'durable'" in out, f"inequivalent queue: {out!r}")
        bad = Broker(b.admin, b.host, b.port, b.user, "not-the-password")
        out = bad.run("list", "vhosts", expect_rc="nonzero")
        check("Access refused" in out or "401" in out or "not_authorized" in out.lower()
              or "Login failed" in out, f"wrong password: {out!r}")

    def deletes(self):
        b = self.b
        v = self.vhost
        # The properties_key as `list bindings` shows it, plain ("plain") and with
        # escapes ("a.%23" for "a.#", which rabbitmqadmin quotes once more).
        rows = b.run_json("list", "bindings", vhost=v)
        for dest, key in (("q.classic", "plain"), ("q", "a.#")):
            bx = [r for r in rows if r["source"] == "x" and r["destination"] == dest]
            check(len(bx) == 1, f"binding x -> {dest} before delete: {bx}")
            check_eq(bx[0]["routing_key"], key, f"binding x -> {dest}")
            b.expect_status_line("binding deleted", "delete", "binding", "source=x",
                                 f"destination={dest}", "destination_type=queue",
                                 f"properties_key={bx[0]['properties_key']}", vhost=v)
            check_eq(b.get(f"bindings/{q(v)}/e/x/q/{q(dest)}"), [],
                     f"bindings x -> {dest} after delete")
        b.run("delete", "binding", "source=x", "destination=q.classic",
              "properties_key=plain", vhost=v, expect_rc="nonzero")
        b.expect_status_line("queue deleted", "delete", "queue", "name=q", vhost=v)
        check(not b.exists(f"queues/{q(v)}/q"), "deleted queue still there")
        b.expect_status_line("exchange deleted", "delete", "exchange", "name=x.internal", vhost=v)
        check(not b.exists(f"exchanges/{q(v)}/x.internal"), "deleted exchange still there")
        b.expect_status_line("permission deleted", "delete", "permission", f"vhost={v}",
                             f"user={self.user}")
        check(not b.exists(f"permissions/{q(v)}/{q(self.user)}"), "deleted permission still there")
        for u in (self.user, self.user + "-hashed"):
            b.expect_status_line("user deleted", "delete", "user", f"name={u}")
            check(not b.exists(f"users/{q(u)}"), f"deleted user {u} still there")
        for vh in (self.vhost, self.vhost2):
            b.expect_status_line("vhost deleted", "delete", "vhost", f"name={vh}")
            check(not b.exists(f"vhosts/{q(vh)}"), f"deleted vhost {vh} still there")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rabbitmqadmin", help="path of the rabbitmqadmin script")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=15672)
    ap.add_argument("--user", default="guest")
    ap.add_argument("--password", default="guest")
    args = ap.parse_args()
    b = Broker(args.rabbitmqadmin, args.host, args.port, args.user, args.password)
    r = Run(b)
    t0 = time.monotonic()
    try:
        r.all()
    except CheckFailed as e:
        print(f"FAIL {e}", flush=True)
        return 1
    finally:
        r.cleanup()
    print(f"rabbitmqadmin: {len(r.passed)} check groups passed, {b.commands} commands, "
          f"{time.monotonic() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
