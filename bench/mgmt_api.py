#!/usr/bin/env python3
"""The management API at size, Warren beside a reference RabbitMQ 3.10, in one run.

Setup on each broker: N queues in a fresh vhost (made by a definitions import), 1 to 10
messages in each (publishing through AMQP), and C idle AMQP connections (a bare handshake
each). Then, each timed R times (median and max reported):

  page     GET /api/queues/<vhost>?page=1&page_size=100&sort=messages&sort_reverse=true
  first    GET /api/queues/<vhost>: time to the first byte of the answer
  full     ... and to its last byte (the whole list; its size is reported)
  conns    GET /api/connections?page=1&page_size=100
  overview GET /api/overview

plus the broker's resident memory before and after the setup. Writes a Markdown table to
stdout (and JSON with --json FILE). Start Warren from its release build:

    cargo build --release
    python3 bench/mgmt_api.py --queues 10000 --connections 1000

The reference RabbitMQ (../shared/tools/reference-rabbitmq start 5682) is used at
127.0.0.1:5682 / 15682 unless --no-rabbitmq.
"""
import argparse
import base64
import http.client
import json
import os
import random
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Broker:
    def __init__(self, name, amqp_port, http_port, pid=None):
        self.name, self.amqp_port, self.http_port, self.pid = name, amqp_port, http_port, pid
        self.auth = "Basic " + base64.b64encode(b"guest:guest").decode()

    def request(self, method, path, body=None, timeout=600):
        c = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
        headers = {"Authorization": self.auth}
        if body is not None:
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        t0 = time.perf_counter()
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        first = r.read(1)
        t1 = time.perf_counter()
        rest = r.read()
        t2 = time.perf_counter()
        c.close()
        data = first + rest
        if r.status >= 300:
            raise RuntimeError(f"{self.name}: {method} {path}: {r.status} {data[:300]!r}")
        return data, t1 - t0, t2 - t0

    def rss(self):
        pid = self.pid or rabbit_pid()
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0


def rabbit_pid():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from compare import rabbitmq_pid
    return rabbitmq_pid(5682)


# --- a bare AMQP 0-9-1 client: enough to hold connections open and to publish ---

def frame(kind, channel, payload):
    return struct.pack(">BHI", kind, channel, len(payload)) + payload + b"\xce"


def shortstr(s):
    b = s.encode()
    return bytes([len(b)]) + b


def longstr(b):
    return struct.pack(">I", len(b)) + b


def method(cls, mid, args=b""):
    return struct.pack(">HH", cls, mid) + args


def read_frame(sock):
    head = recv_exact(sock, 7)
    kind, channel, size = struct.unpack(">BHI", head)
    payload = recv_exact(sock, size + 1)[:-1]
    return kind, channel, payload


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise RuntimeError("connection closed")
        buf += chunk
    return buf


def open_connection(port, vhost):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"AMQP\x00\x00\x09\x01")
    read_frame(s)  # start
    resp = b"\x00guest\x00guest"
    s.sendall(frame(1, 0, method(10, 11, longstr(b"") + shortstr("PLAIN") + longstr(resp) + shortstr("en_US"))))
    _, _, tune = read_frame(s)
    channel_max, frame_max, _ = struct.unpack(">HIH", tune[4:12])
    s.sendall(frame(1, 0, method(10, 31, struct.pack(">HIH", channel_max, frame_max, 0))))
    s.sendall(frame(1, 0, method(10, 40, shortstr(vhost) + shortstr("") + b"\x00")))
    read_frame(s)  # open-ok
    return s


def publish_all(port, vhost, counts):
    """Publishes counts[q] 16-byte messages to each queue q, pipelined on one channel with
    confirms, waiting for all confirms at the end."""
    s = open_connection(port, vhost)
    s.sendall(frame(1, 1, method(20, 10, shortstr(""))))
    read_frame(s)  # channel.open-ok
    s.sendall(frame(1, 1, method(85, 10, b"\x00")))
    read_frame(s)  # confirm.select-ok
    header = frame(2, 1, struct.pack(">HHQH", 60, 0, 16, 0))
    body = frame(3, 1, b"x" * 16)
    total, buf = 0, []
    for q, n in counts.items():
        pub = frame(1, 1, method(60, 40, b"\x00\x00" + shortstr("") + shortstr(q) + b"\x00"))
        for _ in range(n):
            buf.append(pub + header + body)
            total += 1
        if len(buf) > 2000:
            s.sendall(b"".join(buf))
            buf = []
    s.sendall(b"".join(buf))
    acked = 0
    while acked < total:
        kind, _, payload = read_frame(s)
        if kind == 1 and payload[:4] == struct.pack(">HH", 60, 80):
            tag, multiple = struct.unpack(">Q?", payload[4:13])
            acked = tag if multiple else acked + 1
    s.close()
    return total


def timed(fn, runs):
    out = [fn() for _ in range(runs)]
    return statistics.median(out), max(out)


def run_on(b, args, vhost):
    random.seed(7)
    names = [f"q{i:06d}" for i in range(args.queues)]
    counts = {n: random.randint(1, 10) for n in names}
    rss0 = b.rss()
    b.request("PUT", f"/api/vhosts/{vhost}", {})
    t = time.perf_counter()
    # In batches: RabbitMQ refuses request bodies over its limit (20 MB by default).
    for i in range(0, len(names), 10000):
        defs = {"queues": [{"name": n, "vhost": vhost, "durable": False, "auto_delete": False,
                            "arguments": {}} for n in names[i:i + 10000]]}
        b.request("POST", "/api/definitions", defs)
    declare_s = time.perf_counter() - t
    t = time.perf_counter()
    published = publish_all(b.amqp_port, vhost, counts)
    publish_s = time.perf_counter() - t
    conns = [open_connection(b.amqp_port, vhost) for _ in range(args.connections)]
    time.sleep(args.settle)
    rss1 = b.rss()
    enc = vhost.replace("/", "%2F")
    page_path = f"/api/queues/{enc}?page=1&page_size=100&sort=messages&sort_reverse=true"
    data, _, _ = b.request("GET", page_path)
    top = json.loads(data)["items"][0]["messages"]
    assert top == 10, f"{b.name}: sorted page starts with {top} messages"
    res = {
        "broker": b.name, "queues": args.queues, "connections": args.connections,
        "messages": published, "declare_s": declare_s, "publish_s": publish_s,
        "rss_before": rss0, "rss_after": rss1,
    }
    res["page_ms"] = timed(lambda: b.request("GET", page_path)[2] * 1000, args.runs)
    full = [b.request("GET", f"/api/queues/{enc}") for _ in range(args.runs)]
    res["full_bytes"] = len(full[0][0])
    assert len(json.loads(full[0][0])) == args.queues
    res["first_ms"] = (statistics.median(f[1] * 1000 for f in full), max(f[1] * 1000 for f in full))
    res["full_ms"] = (statistics.median(f[2] * 1000 for f in full), max(f[2] * 1000 for f in full))
    res["conns_ms"] = timed(
        lambda: b.request("GET", "/api/connections?page=1&page_size=100")[2] * 1000, args.runs)
    res["overview_ms"] = timed(lambda: b.request("GET", "/api/overview")[2] * 1000, args.runs)
    for s in conns:
        s.close()
    if not args.keep:
        b.request("DELETE", f"/api/vhosts/{enc}")
    return res


def start_warren(args):
    data = tempfile.mkdtemp(prefix="warren-mgmt-bench-")
    log = open(os.path.join(data, "log"), "w+")
    p = subprocess.Popen([args.warren, "--data-dir", os.path.join(data, "data"),
                          "--amqp-listen", "127.0.0.1:5782", "--http-listen", "127.0.0.1:15782"],
                         stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"})
    for _ in range(100):
        log.seek(0)
        if "AMQP listening" in log.read():
            return p, Broker("Warren", 5782, 15782, p.pid)
        time.sleep(0.1)
    p.kill()
    raise RuntimeError("Warren did not start")


def fmt(pair):
    return f"{pair[0]:.1f} (max {pair[1]:.1f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queues", type=int, default=10000)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--settle", type=float, default=6.0, help="seconds to wait before measuring (stats sampling)")
    ap.add_argument("--warren", default=os.path.join(ROOT, "target/release/warren"))
    ap.add_argument("--no-rabbitmq", action="store_true")
    ap.add_argument("--no-warren", action="store_true")
    ap.add_argument("--keep", action="store_true", help="leave the bench vhost in place")
    ap.add_argument("--json")
    args = ap.parse_args()
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results = []
    vhost = f"mgmt-bench-{os.getpid()}"
    if not args.no_warren:
        p, w = start_warren(args)
        try:
            results.append(run_on(w, args, vhost))
        finally:
            p.terminate()
            p.wait()
    if not args.no_rabbitmq:
        results.append(run_on(Broker("RabbitMQ 3.10", 5682, 15682), args, vhost))
    print(f"{args.queues} queues ({results[0]['messages']} messages), {args.connections} idle connections; "
          f"ms, median of {args.runs} (max)\n")
    print("| broker | page of 100 by messages | first byte of all | all queues | bytes | 100 connections | overview | RSS before → after (MiB) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['broker']} | {fmt(r['page_ms'])} | {fmt(r['first_ms'])} | {fmt(r['full_ms'])} | "
              f"{r['full_bytes']:,} | {fmt(r['conns_ms'])} | {fmt(r['overview_ms'])} | "
              f"{r['rss_before'] / 2**20:.0f} → {r['rss_after'] / 2**20:.0f} |")
    print()
    for r in results:
        print(f"{r['broker']}: import of {r['queues']} queues {r['declare_s']:.1f} s, "
              f"{r['messages']} messages published in {r['publish_s']:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
