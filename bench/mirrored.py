#!/usr/bin/env python3
"""Side-by-side benchmark of classic mirrored queues (policy `ha-mode: all`) on a 3-node
Warren cluster and a 3-node RabbitMQ 3.10 cluster (nodes A, B, C of each), started and
measured with bench/cluster.py's classes and helpers.

Before anything is measured, the policy `ha-bench` ({"pattern": "^ha[.-]", "definition":
{"ha-mode": "all"}, "apply-to": "queues"}) is set through node A's management API on each
cluster, and a probe queue `ha-probe` declared on A is checked to get 2 synchronised mirrors
(`slave_nodes`, `synchronised_slave_nodes` of /api/queues/%2F/ha-probe).

  M3  bench/compare.py's S3 through a mirrored queue: warren-perf on node A only (the queue
      is declared there, so A holds its master; producer and consumer there too), 16 B,
      confirms (<= 1000 outstanding), manual acks, prefetch 1000. The queue's name is
      `ha-perf-m3-<broker>-<run>-<random>` (warren-perf adds `-<8 hex digits>` to
      --queue-prefix), which the policy's pattern matches. Consume rate and broker CPU per
      message (utime+stime of the three nodes over the whole warren-perf run divided by the
      messages consumed), summed and per node. During each run node A's API is polled until
      the queue shows 2 synchronised mirrors, and once more near the window's end.
  M4  as M3 with persistent 1 KiB messages to a durable queue (S4's flags).
  F   failover time. A durable queue `ha.failover.bench` declared on A (the policy mirrors
      it on B and C); a pika publisher (select connection) publishes a persistent message
      with confirms every 10 ms, a pika consumer (blocking connection, manual acks,
      prefetch 50) consumes; both on the two nodes that do not hold the master (first B
      and C), moving when the master moves. The master's node is killed with SIGKILL; the
      failover time is from the kill to the first delivery of a message published after
      the kill (or marked redelivered). A consumer that is cancelled (basic.cancel) or
      refused re-consumes every 20 ms on the same node. The killed node is then restarted
      with its data and both mirrors must be synchronised again before the next kill.
      `--kills` times on each broker; p50 and max.

Scenarios M3 and M4 run against each broker in turn (Warren, RabbitMQ, Warren, ...),
`--runs` times each; medians with min and max. F runs `--kills` kills on Warren, then on
RabbitMQ. Nothing is pinned. Writes bench/mirrored.md (the part after the notes marker is
kept by hand) and bench/mirrored.json (raw numbers).

  python3 bench/mirrored.py --runs 3 --seconds 10 --kills 20
"""
import argparse
import base64
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
import cluster  # noqa: E402  (the cluster benchmark: its clusters and helpers)
from cluster import BROKERS, LABEL, Failure, compare, http_get  # noqa: E402

try:
    import pika
except ImportError:  # only F and the mirror checks need it; --report-only does not
    pika = None

RELEASE = cluster.RELEASE
NOTES_MARKER = "<!-- Everything below this line is kept by hand when bench/mirrored.py rewrites the file. -->"

POLICY_NAME = "ha-bench"
# Matches warren-perf's queues here (`ha-perf-...`, from --queue-prefix), the probe queue
# (`ha-probe`) and the failover queue (`ha.failover.bench`).
POLICY = {"pattern": "^ha[.-]", "definition": {"ha-mode": "all"}, "apply-to": "queues"}
PROBE_QUEUE = "ha-probe"
FAILOVER_QUEUE = "ha.failover.bench"
PUBLISH_INTERVAL = 0.01  # F: one persistent message every 10 ms
CONSUMER_PREFETCH = 50
RECONSUME_PAUSE = 0.02   # F: pause before consuming again after a cancel or a refusal

# name, description, warren-perf flags (bench/compare.py's S3 and S4)
SCENARIOS = [
    ("M3", "S3 through a mirrored queue (ha-mode all): master, producer and consumer on node A; 16 B, confirms "
           "(<=1000 outstanding), manual ack, prefetch 1000",
     ["-x", "1", "-y", "1", "-s", "16", "-c", "1000", "-q", "1000"]),
    ("M4", "as M3, persistent 1 KiB to a durable mirrored queue (S4)",
     ["-x", "1", "-y", "1", "-s", "1024", "-c", "1000", "-q", "1000", "-f"]),
]
FAILOVER = ("F", "failover: the master's node killed with SIGKILL, time to the first delivery on a surviving node")


# --- management API ----------------------------------------------------------------------

def http_send(port, method, path, body=None, timeout=10):
    """A PUT or DELETE to a management API; returns the status (raises on 4xx/5xx)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status


def queue_path(name):
    return f"/api/queues/%2F/{urllib.parse.quote(name, safe='')}"


def get_queue(cl, name, nodes=(0, 1, 2), timeout=3):
    """The queue's JSON from the first of `nodes` whose API answers (None: none has it)."""
    for i in nodes:
        try:
            return http_get(cl.http[i], queue_path(name), timeout=timeout)
        except (urllib.error.URLError, OSError, ValueError):
            continue
    return None


def mirrors(q):
    """(mirror nodes, synchronised mirror nodes) of a queue's JSON; None where absent."""
    if not q:
        return None, None
    return q.get("slave_nodes"), q.get("synchronised_slave_nodes")


def in_sync(q):
    slaves, synced = mirrors(q)
    return len(slaves or []) == 2 and len(synced or []) == 2


def brief(q):
    if not q:
        return "no answer"
    slaves, synced = mirrors(q)
    return f"master {q.get('node')}, policy {q.get('policy')!r}, slave_nodes {slaves}, synchronised {synced}"


def wait_synced(cl, name, timeout, nodes=(0, 1, 2)):
    """Waits until the queue shows 2 mirrors, both synchronised. Returns (queue JSON, seconds
    waited), or (last JSON seen, None) on a timeout."""
    t0 = time.monotonic()
    q = None
    while True:
        q = get_queue(cl, name, nodes) or q
        if in_sync(q):
            return q, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            return q, None
        time.sleep(0.2)


def set_policy(cl):
    try:
        status = http_send(cl.http[0], "PUT", f"/api/policies/%2F/{POLICY_NAME}", POLICY)
    except urllib.error.HTTPError as e:
        raise Failure(f"{LABEL[cl.name]}: setting the policy answered {e.code}: {e.read()[:500]!r}")
    except (urllib.error.URLError, OSError) as e:
        raise Failure(f"{LABEL[cl.name]}: setting the policy failed: {e}")
    if status not in (200, 201, 204):
        raise Failure(f"{LABEL[cl.name]}: setting the policy answered {status}")
    return status


# --- AMQP helpers (pika) ------------------------------------------------------------------

def params(port):
    return pika.ConnectionParameters(host="127.0.0.1", port=port,
                                     credentials=pika.PlainCredentials("guest", "guest"),
                                     connection_attempts=1, retry_delay=0, socket_timeout=3,
                                     stack_timeout=10, blocked_connection_timeout=None)


def declare(cl, i, name, durable):
    try:
        conn = pika.BlockingConnection(params(cl.amqp[i]))
        try:
            conn.channel().queue_declare(name, durable=durable)
        finally:
            if conn.is_open:
                conn.close()
    except (pika.exceptions.AMQPError, OSError) as e:
        raise Failure(f"declaring {name} on {cl.nodes[i]} failed: {e!r}")


def delete_queue(cl, name, nodes=(0, 1, 2)):
    for i in nodes:
        try:
            conn = pika.BlockingConnection(params(cl.amqp[i]))
        except (pika.exceptions.AMQPError, OSError):
            continue
        try:
            conn.channel().queue_delete(name)
            return True
        except (pika.exceptions.AMQPError, OSError):
            pass
        finally:
            try:
                if conn.is_open:
                    conn.close()
            except (pika.exceptions.AMQPError, OSError):
                pass
    return False


def probe(cl, timeout):
    """Declares `ha-probe` on A, waits for 2 synchronised mirrors (through A's API), deletes it."""
    t0 = time.monotonic()
    declare(cl, 0, PROBE_QUEUE, durable=False)
    q, waited = wait_synced(cl, PROBE_QUEUE, timeout, nodes=(0,))
    delete_queue(cl, PROBE_QUEUE)
    slaves, synced = mirrors(q)
    return {"ok": waited is not None, "seconds": waited if waited is not None else time.monotonic() - t0,
            "node": (q or {}).get("node"), "policy": (q or {}).get("policy"),
            "effective_policy_definition": (q or {}).get("effective_policy_definition"),
            "slave_nodes": slaves, "synchronised_slave_nodes": synced}


# --- M3/M4 ----------------------------------------------------------------------------------

class MirrorWatch(threading.Thread):
    """Polls node A's API during a warren-perf run: finds the run's queue, then its mirrors
    until both are synchronised (every 0.25 s), then once more near the window's end. (The
    queue's name is `queue`: a Thread's `name` is a string property, so `None` set there
    reads back as "None".)"""

    def __init__(self, cl, prefix, seconds):
        super().__init__(daemon=True)
        self.cl, self.prefix, self.seconds = cl, prefix, seconds
        self.done = threading.Event()
        self.queue = self.appeared = self.synced_at = None
        self.first = self.at_sync = self.end = self.last = None
        self.end_at = None
        self.samples = 0

    def sample(self):
        try:
            q = http_get(self.cl.http[0], queue_path(self.queue), timeout=3)
        except (urllib.error.URLError, OSError, ValueError):
            return None
        self.samples += 1
        self.last = q
        if self.first is None:
            self.first = q
        return q

    def run(self):
        t0 = time.monotonic()
        while not self.done.is_set() and self.synced_at is None:
            if self.queue is None:
                try:
                    for q in http_get(self.cl.http[0], "/api/queues/%2F", timeout=3):
                        if q.get("name", "").startswith(self.prefix + "-"):
                            self.queue, self.appeared = q["name"], time.monotonic() - t0
                            break
                except (urllib.error.URLError, OSError, ValueError):
                    pass
            if self.queue is not None:
                q = self.sample()
                if in_sync(q):
                    self.synced_at, self.at_sync = time.monotonic() - t0, q
                    break
            self.done.wait(0.25)
        if self.synced_at is None:
            return
        # One more look near the end of the window (warren-perf connects and declares first).
        if not self.done.wait(max(0.0, t0 + self.seconds - 0.5 - time.monotonic())):
            self.end = self.sample()
            self.end_at = time.monotonic() - t0

    def result(self):
        slaves, synced = mirrors(self.at_sync or self.last)
        end_slaves, end_synced = mirrors(self.end)
        return {
            "queue": self.queue,
            "queue_seen_after_s": self.appeared,
            "master": (self.first or {}).get("node"),
            "policy": (self.first or {}).get("policy"),
            "synchronised": self.synced_at is not None,
            "synchronised_after_s": self.synced_at,
            "slave_nodes": slaves,
            "synchronised_slave_nodes": synced,
            "end_checked_after_s": self.end_at,
            "end_slave_nodes": end_slaves,
            "end_synchronised_slave_nodes": end_synced,
            "end_synchronised": in_sync(self.end) if self.end is not None else None,
            "api_samples": self.samples,
        }


def measure_mirrored(cl, other, name, flags, seconds, run):
    """M3/M4 on one cluster: warren-perf's setup, producer and consumer all on node A."""
    prefix = f"ha-perf-{name.lower()}-{cl.name}-{run}"
    cmd = [os.path.join(RELEASE, "warren-perf"), "--uri", cl.uri(0), "--queue-prefix", prefix,
           "-z", str(seconds), "--json"] + flags
    watch = MirrorWatch(cl, prefix, seconds)
    cpu0, idle0, busy0, sys0 = cl.cpu(), other.cpu(), cluster.machine_busy(), cl.stime()
    t0 = time.time()
    watch.start()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 600,
                         preexec_fn=compare.raise_nofile)
    wall = time.time() - t0
    cpu = [b - a for a, b in zip(cpu0, cl.cpu())]
    idle = sum(b - a for a, b in zip(idle0, other.cpu()))
    busy = cluster.machine_busy() - busy0
    sys_s = cl.stime() - sys0
    watch.done.set()
    watch.join()
    cluster.check_alive(cl, f"during {name}")
    if out.returncode != 0:
        raise Failure(f"warren-perf failed on {LABEL[cl.name]} ({' '.join(cmd)}):\n{out.stderr.strip()[-3000:]}")
    found = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not found:
        raise Failure(f"warren-perf printed no summary on {LABEL[cl.name]}:\n{out.stderr.strip()[-3000:]}")
    res = json.loads(found[-1])
    msgs = res.get("consumed_total") or 0
    faults = {k: res.get(k, 0) for k in ("lost", "duplicated", "reordered", "invalid", "unconsumed", "nacked",
                                         "returned")}
    warnings = [line for line in out.stderr.splitlines() if "warning" in line.lower() or "error" in line.lower()]
    r = {
        "rate": res.get("consume_rate", 0),
        "publish_rate": res.get("publish_rate", 0),
        "consumed_total": msgs,
        "published": res.get("published", 0),
        "cpu_s": sum(cpu),
        "cpu_s_per_node": cpu,
        "cpu_us": sum(cpu) * 1e6 / msgs if msgs else 0,
        "wall_s": wall,
        "other_cluster_idle_cpu_s": idle,
        "machine_busy_s": busy,
        "sys_fraction": sys_s / sum(cpu) if sum(cpu) else 0,
        "tool_cpu_s": res.get("tool_cpu_seconds", 0),
        "latency_us": res.get("latency_us"),
        "tool_cpu_us": res.get("tool_cpu_us_per_msg", 0),
        "faults": faults,
        "warnings": warnings,
        "mirrors": watch.result(),
    }
    if r["mirrors"]["master"] != cl.nodes[0]:
        raise Failure(f"{name} on {LABEL[cl.name]}: the queue's master was seen on {r['mirrors']['master']!r}, "
                      f"not on node A ({cl.nodes[0]})")
    bad = {k: v for k, v in faults.items() if v}
    if bad or not msgs or warnings:
        raise Failure(f"{name} on {LABEL[cl.name]}: faults {bad}, consumed {msgs}, warnings {warnings}; "
                      f"summary {res}")
    return r


# --- F: clients -----------------------------------------------------------------------------

class Publisher(threading.Thread):
    """Publishes a persistent message with confirms every `interval` seconds through node
    `target` (a select connection: it never waits for a confirm before the next publish).
    A body is `<number> <monotonic time of the publish>`. Moves when `target` changes;
    reconnects (after 50 ms) when its connection drops, reopens its channel when closed."""

    def __init__(self, cl, queue, interval, target):
        super().__init__(daemon=True)
        self.cl, self.queue, self.interval = cl, queue, interval
        self.target = target
        self.node = None        # the node it publishes through (channel in confirm mode), or None
        self.stopping = threading.Event()
        self.seq = 0
        self.confirmed = set()
        self.nacked = 0
        self.unanswered = 0     # publishes whose channel or connection ended before their confirm
        self.connections = 0
        self.channel_closes = 0
        self.last_ack = 0.0
        self.errors = []
        self.ch = None
        self.tags = {}
        self.next_tag = 1
        self.leaving = None     # when it stopped publishing to leave its node
        self.props = pika.BasicProperties(delivery_mode=2)

    def run(self):
        while not self.stopping.is_set():
            node = self.target
            self.connections += 1
            conn = pika.SelectConnection(params(self.cl.amqp[node]),
                                         on_open_callback=lambda c, n=node: self._opened(c, n),
                                         on_open_error_callback=lambda c, e: c.ioloop.stop(),
                                         on_close_callback=lambda c, e: c.ioloop.stop())
            try:
                conn.ioloop.start()
            except Exception as e:  # noqa: BLE001  (a callback's error: count it, reconnect)
                self.errors.append(repr(e)[:300])
                try:
                    if conn.is_open:
                        conn.close()
                        conn.ioloop.start()
                except Exception:  # noqa: BLE001
                    pass
            self._lost_channel()
            if not self.stopping.is_set():
                time.sleep(0.05)

    def stop(self):
        self.stopping.set()
        self.join(timeout=15)

    def _opened(self, conn, node):
        self.leaving = None
        conn.channel(on_open_callback=lambda ch: self._on_channel(conn, ch, node))
        conn.ioloop.call_later(self.interval, lambda: self._tick(conn, node))

    def _on_channel(self, conn, ch, node):
        ch.add_on_close_callback(lambda c, reason: self._on_channel_closed(conn, node))
        ch.confirm_delivery(self._on_confirm, callback=lambda frame: self._selected(ch, node))

    def _selected(self, ch, node):
        self.ch, self.tags, self.next_tag, self.node = ch, {}, 1, node

    def _lost_channel(self):
        self.unanswered += len(self.tags)
        self.tags, self.ch, self.node = {}, None, None

    def _on_channel_closed(self, conn, node):
        self._lost_channel()
        if conn.is_open and not self.stopping.is_set():
            self.channel_closes += 1

            def reopen():
                if conn.is_open:
                    conn.channel(on_open_callback=lambda ch: self._on_channel(conn, ch, node))
            conn.ioloop.call_later(0.05, reopen)

    def _tick(self, conn, node):
        if not conn.is_open:
            return
        if self.stopping.is_set() or self.target != node:
            # Leaving: no more publishes; close once the outstanding ones are answered (<= 2 s).
            now = time.monotonic()
            self.leaving = self.leaving or now
            if not self.tags or now - self.leaving > 2:
                conn.close()
            else:
                conn.ioloop.call_later(self.interval, lambda: self._tick(conn, node))
            return
        ch = self.ch
        if ch is not None and ch.is_open:
            ch.basic_publish("", self.queue, f"{self.seq} {time.monotonic():.6f}".encode(), self.props)
            self.tags[self.next_tag] = self.seq
            self.next_tag += 1
            self.seq += 1
        conn.ioloop.call_later(self.interval, lambda: self._tick(conn, node))

    def _on_confirm(self, frame):
        m = frame.method
        tags = [t for t in self.tags if t <= m.delivery_tag] if m.multiple else [m.delivery_tag]
        ack = isinstance(m, pika.spec.Basic.Ack)
        for t in tags:
            s = self.tags.pop(t, None)
            if s is None:
                continue
            if ack:
                self.confirmed.add(s)
                self.last_ack = time.monotonic()
            else:
                self.nacked += 1


class Consumer(threading.Thread):
    """Consumes (manual acks, prefetch 50) through node `target` on a blocking connection;
    records each delivery as (monotonic time, number, publish time, redelivered, node).
    Cancelled by the broker (basic.cancel) or refused (the channel closed): consumes again on
    a new channel after 20 ms. Its connection dropped: connects again (to `target`)."""

    def __init__(self, cl, queue, target):
        super().__init__(daemon=True)
        self.cl, self.queue, self.target = cl, queue, target
        self.node = None
        self.consuming = False
        self.stopping = threading.Event()
        self.deliveries = []
        self.cancels = 0
        self.refused = 0
        self.channel_closes = 0
        self.connections = 0
        self.drops = 0
        self.errors = []

    def run(self):
        while not self.stopping.is_set():
            node = self.target
            try:
                conn = pika.BlockingConnection(params(self.cl.amqp[node]))
            except (pika.exceptions.AMQPError, OSError) as e:
                self.errors.append(f"connect to {self.cl.nodes[node]}: {e!r}"[:300])
                time.sleep(0.05)
                continue
            self.connections += 1
            try:
                self._session(conn, node)
            except (pika.exceptions.AMQPError, OSError) as e:
                self.drops += 1
                self.errors.append(f"on {self.cl.nodes[node]}: {e!r}"[:300])
            finally:
                self.consuming, self.node = False, None
                try:
                    if conn.is_open:
                        conn.close()
                except Exception:  # noqa: BLE001
                    pass
            if not self.stopping.is_set() and self.target == node:
                time.sleep(0.05)

    def stop(self):
        self.stopping.set()
        self.join(timeout=15)

    def _session(self, conn, node):
        while not self.stopping.is_set() and self.target == node:
            ch = conn.channel()
            ch.basic_qos(prefetch_count=CONSUMER_PREFETCH)
            cancelled = []
            ch.add_on_cancel_callback(cancelled.append)
            try:
                ch.basic_consume(self.queue, lambda c, m, p, b: self._deliver(c, m, b, node))
            except pika.exceptions.ChannelClosedByBroker:
                self.refused += 1
                time.sleep(RECONSUME_PAUSE)
                continue
            self.node, self.consuming = node, True
            while not self.stopping.is_set() and self.target == node and not cancelled and ch.is_open:
                conn.process_data_events(time_limit=0.02)
            self.consuming = False
            if cancelled:
                self.cancels += 1
            elif not ch.is_open:
                self.channel_closes += 1
            if ch.is_open:
                try:
                    ch.close()
                except pika.exceptions.AMQPError:
                    pass
            if cancelled or self.target == node:
                time.sleep(RECONSUME_PAUSE)

    def _deliver(self, ch, method, body, node):
        t = time.monotonic()
        seq, published = body.split()
        self.deliveries.append((t, int(seq), float(published), bool(method.redelivered), node))
        ch.basic_ack(method.delivery_tag)


# --- F: killing and restarting nodes --------------------------------------------------------

def beam_pid(port):
    """The RabbitMQ node's beam.smp pid (compare.rabbitmq_pid: from the node's pid file),
    checked to be a live beam.smp of that node."""
    pid = compare.rabbitmq_pid(port)
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read().split(b"\0")
    except OSError:
        raise Failure(f"RabbitMQ node on {port}: pid {pid} (from its pid file) is not running")
    if b"beam.smp" not in cmd or f"RABBITMQ_NODENAME=ref{port}@localhost".encode() not in env:
        raise Failure(f"RabbitMQ node on {port}: pid {pid} is not that node's beam.smp")
    return pid


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def kill_node(cl, i):
    """SIGKILL to node i's process. Returns (monotonic time just before the kill, pid)."""
    if cl.name == "warren":
        p = cl.procs[i]
        t = time.monotonic()
        p.kill()
        p.wait(timeout=30)
        return t, p.pid
    pid = beam_pid(cl.amqp[i])
    t = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 30
    while not gone(pid):
        if time.time() > deadline:
            raise Failure(f"{cl.nodes[i]} (pid {pid}) still runs 30 s after SIGKILL")
        time.sleep(0.005)
    return t, pid


def restart_node(cl, i, timeout=120):
    """Starts killed node i again on its data; returns when the cluster has its 3 nodes."""
    t0 = time.monotonic()
    if cl.name == "warren":
        p = cl.spawn(i, "a")
        cl.procs[i], cl.pids[i] = p, p.pid
        last = None
        while True:
            if p.poll() is not None:
                raise Failure(f"{cl.nodes[i]} exited ({p.returncode}) while restarting")
            try:
                st = [http_get(port, "/api/cluster") for port in cl.http]
                last = st
                if all(len(s.get("running_nodes") or []) == 3 for s in st):
                    break
            except (urllib.error.URLError, OSError, ValueError) as e:
                last = str(e)
            if time.monotonic() - t0 > timeout:
                raise Failure(f"{cl.nodes[i]} did not rejoin within {timeout} s; last status {last}")
            time.sleep(0.2)
    else:
        cl.ctl("start", cl.amqp[i])  # returns once `rabbitmqctl await_startup` succeeds
        cl.pids[i] = beam_pid(cl.amqp[i])
        while True:
            try:
                running = sorted(n["name"] for n in http_get(cl.http[i], "/api/nodes") if n.get("running"))
                if running == sorted(cl.nodes):
                    break
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() - t0 > timeout:
                raise Failure(f"{cl.nodes[i]} did not rejoin within {timeout} s")
            time.sleep(0.2)
    return time.monotonic() - t0


def move_clients(pub, con, p_node, c_node, timeout):
    """Points the clients at their nodes; waits until a message published from now on has
    been confirmed to the publisher and delivered to the consumer there."""
    pub.target, con.target = p_node, c_node
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        last = con.deliveries[-1] if con.deliveries else None
        if (pub.node == p_node and con.node == c_node and con.consuming and pub.last_ack > t0
                and last and last[2] > t0 and last[4] == c_node):
            return time.monotonic() - t0
        time.sleep(0.05)
    return None


def measure_failover(cl, clusters, args, say):
    """F on one cluster; returns its record (an `error` in it when it stopped early)."""
    out = {"kills": [], "error": None, "queue": FAILOVER_QUEUE}
    declare(cl, 0, FAILOVER_QUEUE, durable=True)
    q, waited = wait_synced(cl, FAILOVER_QUEUE, args.sync_timeout)
    out["initial"] = {"synced_after_s": waited, "state": brief(q)}
    if waited is None:
        out["error"] = f"the queue never got 2 synchronised mirrors: {brief(q)}"
        delete_queue(cl, FAILOVER_QUEUE)
        return out
    if q.get("node") != cl.nodes[0]:
        out["error"] = f"the queue's master is {q.get('node')}, not node A"
        delete_queue(cl, FAILOVER_QUEUE)
        return out
    pub = Publisher(cl, FAILOVER_QUEUE, PUBLISH_INTERVAL, 1)
    con = Consumer(cl, FAILOVER_QUEUE, 2)
    pub.start()
    con.start()
    # Whose API to ask: a node just restarted may still be catching up (and show an old master).
    api_nodes = (0, 1, 2)
    try:
        for k in range(args.kills):
            q, sync_wait = wait_synced(cl, FAILOVER_QUEUE, args.sync_timeout, api_nodes)
            if sync_wait is None:
                out["error"] = (f"before kill {k + 1}: both mirrors not synchronised within {args.sync_timeout} s: "
                                f"{brief(q)}")
                break
            m = cl.nodes.index(q["node"])
            p_node, c_node = [i for i in range(3) if i != m]
            moved = move_clients(pub, con, p_node, c_node, 60)
            if moved is None:
                out["error"] = (f"before kill {k + 1}: the clients did not publish and consume through "
                                f"{cl.nodes[p_node]} / {cl.nodes[c_node]} within 60 s "
                                f"(publisher on {pub.node}, consumer on {con.node}; last errors "
                                f"{pub.errors[-2:]} {con.errors[-2:]})")
                break
            before = cluster.wait_quiet(clusters, args.quiet_below, args.quiet_wait)
            time.sleep(0.5)
            c0 = {"cancels": con.cancels, "refused": con.refused, "consumer_connections": con.connections,
                  "consumer_channel_closes": con.channel_closes,
                  "nacked": pub.nacked, "unanswered": pub.unanswered, "publisher_connections": pub.connections,
                  "publisher_channel_closes": pub.channel_closes}
            idx = len(con.deliveries)
            t_kill, pid = kill_node(cl, m)
            api_nodes = (p_node, c_node)
            first = first_any = promoted = new_master = first_node = None
            deadline = t_kill + args.failover_timeout
            next_poll = 0.0
            while time.monotonic() < deadline:
                while idx < len(con.deliveries):
                    t, _, published, redelivered, node = con.deliveries[idx]
                    idx += 1
                    if t <= t_kill:
                        continue
                    if first_any is None:
                        first_any = t - t_kill
                    if first is None and (published > t_kill or redelivered):
                        first, first_node = t - t_kill, node
                if promoted is None and time.monotonic() >= next_poll:
                    nq = get_queue(cl, FAILOVER_QUEUE, (p_node, c_node), timeout=2)
                    if nq and nq.get("node") not in (None, cl.nodes[m]):
                        promoted, new_master = time.monotonic() - t_kill, nq.get("node")
                    next_poll = time.monotonic() + 0.05
                if first is not None and (promoted is not None or time.monotonic() - t_kill > first + 10):
                    break  # (the new master not named by the API 10 s after the first delivery: give up on that)
                time.sleep(0.005)
            time.sleep(0.3)  # what the clients saw right after, for the counts below
            counts = {"cancels": con.cancels, "refused": con.refused, "consumer_connections": con.connections,
                      "consumer_channel_closes": con.channel_closes,
                      "nacked": pub.nacked, "unanswered": pub.unanswered,
                      "publisher_connections": pub.connections, "publisher_channel_closes": pub.channel_closes}
            rec = {"kill": k + 1, "killed": cl.nodes[m], "pid": pid, "publisher_on": cl.nodes[p_node],
                   "consumer_on": cl.nodes[c_node], "sync_wait_s": sync_wait, "clients_moved_s": moved,
                   "others_before_cores": before, "failover_s": first, "first_any_delivery_s": first_any,
                   "first_delivery_on": cl.nodes[first_node] if first_node is not None else None,
                   "promotion_seen_s": promoted, "new_master": new_master,
                   "during": {key: counts[key] - c0[key] for key in counts}}
            try:
                rec["restart_s"] = restart_node(cl, m)
            except (Failure, RuntimeError, subprocess.TimeoutExpired) as e:
                rec["restart_s"] = None
                out["error"] = f"kill {k + 1}: {e}"
            out["kills"].append(rec)
            fo = f"{first * 1000:.0f} ms" if first is not None else f"none within {args.failover_timeout} s"
            pr = f"{promoted * 1000:.0f} ms" if promoted is not None else "not seen"
            rs = f"{rec['restart_s']:.1f} s" if rec["restart_s"] is not None else "FAILED"
            say(f"F {cl.name:8} kill {k + 1:2}: killed {cl.nodes[m]} (pid {pid}); first delivery after {fo} "
                f"(on {rec['first_delivery_on']}), new master {new_master} seen after {pr}; during: "
                f"{rec['during']['cancels']} cancel(s), {rec['during']['refused']} refused consume(s), "
                f"{rec['during']['nacked']} nack(s), {rec['during']['unanswered']} unanswered; waited "
                f"{sync_wait:.1f} s for sync before; restart {rs}")
            if first is None:
                out["error"] = out["error"] or (f"kill {k + 1}: no delivery within {args.failover_timeout} s of "
                                                f"killing {cl.nodes[m]}")
            if out["error"]:
                break
        if not out["error"]:
            q, waited = wait_synced(cl, FAILOVER_QUEUE, args.sync_timeout, api_nodes)
            out["final"] = {"synced_after_s": waited, "state": brief(q)}
    finally:
        pub.stop()
        # Everything confirmed should come through (after the last kill, nothing is killed).
        confirmed = set(pub.confirmed)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            seen = {d[1] for d in list(con.deliveries)}
            if confirmed <= seen:
                break
            time.sleep(0.2)
        con.stop()
        seen = [d[1] for d in con.deliveries]
        out["totals"] = {
            "published": pub.seq, "confirmed": len(confirmed), "nacked": pub.nacked,
            "unanswered": pub.unanswered, "deliveries": len(seen), "distinct_delivered": len(set(seen)),
            "redelivered": sum(1 for d in con.deliveries if d[3]),
            "confirmed_never_delivered": len(confirmed - set(seen)),
            "publisher_connections": pub.connections, "consumer_connections": con.connections,
            "cancels": con.cancels, "refused": con.refused,
            "publisher_errors": pub.errors[-5:], "consumer_errors": con.errors[-5:],
        }
        if not delete_queue(cl, FAILOVER_QUEUE):
            out["totals"]["queue_not_deleted"] = True
    return out


# --- report ---------------------------------------------------------------------------------

def med(runs, key):
    return cluster.med(runs, key)


def ms(v):
    return f"{v * 1000:,.0f} ms" if v is not None else "-"


def pct(vals, q):
    """The q-quantile (nearest rank) of a sorted list."""
    return vals[min(len(vals) - 1, max(0, int(round(q * (len(vals) - 1)))))]


def mirror_cell(runs):
    m = [x.get("mirrors") or {} for x in runs]
    ok = [x for x in m if x.get("synchronised")]
    cell = f"{len(ok)} of {len(m)} runs"
    if ok:
        cell += f", first seen {statistics.median(x['synchronised_after_s'] for x in ok):.1f} s after start (median)"
    ends = [x for x in m if x.get("end_synchronised") is not None]
    if ends:
        cell += f"; still both at the window's end in {sum(1 for x in ends if x['end_synchronised'])} of {len(ends)}"
    missing = [x for x in m if not x.get("synchronised")]
    if missing:
        cell += ("; **not seen synchronised** in the others (last seen: "
                 + "; ".join(f"slave_nodes {x.get('slave_nodes')}, synchronised {x.get('synchronised_slave_nodes')}"
                             for x in missing) + ")")
    return cell


def advantage_time(w, r):
    """Warren's advantage in a time (less is better)."""
    if not w or not r:
        return "-"
    return f"**{r / w:.2f}x** faster" if r >= w else f"**{w / r:.2f}x** slower"


def write_report(results, path_md):
    run = results.get("_run", {})
    w, r = run.get("warren", {}), run.get("rabbitmq", {})
    probes = results.get("_probe", {})
    lines = [
        "# Mirrored queues (ha-mode all): Warren cluster vs RabbitMQ 3.10 cluster, side by side", "",
        f"Run {run.get('finished', '?')} on {compare.machine()}, by `{run.get('command', 'bench/mirrored.py')}` "
        + (f"({run.get('runs', '?')} runs of {run.get('seconds', '?')} s per traffic scenario and broker, "
           "alternating Warren, RabbitMQ, Warren, RabbitMQ ...; medians with (min–max)"
           if any(k in results for k in ("M3", "M4")) else "(")
        + (("; " if any(k in results for k in ("M3", "M4")) else "")
           + f"{run.get('kills', '?')} kills per broker for F" if "F" in results else "") + ").", "",
        f"- Warren: 3 nodes ({', '.join(w.get('nodes', []))}), one process each, all disc nodes, fresh data "
        f"directories; AMQP ports {', '.join(map(str, w.get('amqp', [])))}; the metadata (Raft) leader was "
        f"{w.get('leader', '?')} at the start.",
        f"- RabbitMQ {r.get('version', '3.10')}: 3 nodes ({', '.join(r.get('nodes', []))}), all disc, fresh "
        f"(`reference-rabbitmq reset/start/join`); AMQP ports {', '.join(map(str, r.get('amqp', [])))}.",
        f"- Mirroring: on each cluster the policy `{POLICY_NAME}` = `{json.dumps(run.get('policy', POLICY))}` was "
        "set through node A's management API (`PUT /api/policies/%2F/" + POLICY_NAME + "`) before anything "
        "else; it matches every queue used here (`ha-perf-...` from warren-perf's `--queue-prefix`, "
        f"`{FAILOVER_QUEUE}`, and the probe `{PROBE_QUEUE}`). No `ha-sync-mode` (manual, the default).",
    ]
    for b in BROKERS:
        p = probes.get(b)
        if p:
            state = ("both synchronised" if p.get("ok") else "**NOT both synchronised**")
            lines.append(f"- Policy check on {LABEL[b]}: a probe queue `{PROBE_QUEUE}` declared on node A showed, "
                         f"through A's API after {p.get('seconds', 0):.1f} s, master {p.get('node')}, policy "
                         f"{p.get('policy')!r}, `slave_nodes` {p.get('slave_nodes')}, `synchronised_slave_nodes` "
                         f"{p.get('synchronised_slave_nodes')}: {state}.")
    lines += [
        "- Nothing is pinned: the 6 broker processes (both clusters stay up throughout; the idle one uses a "
        "little CPU, noted below) and the load tool share the machine's "
        f"{os.cpu_count()} cores, so rates are noisy; CPU per message is the steadier figure.",
        "- Broker CPU per message: utime+stime (`/proc/PID/stat`) of the three nodes of the cluster under test, "
        "summed, over the whole warren-perf run (connect, declare, window, drain, cleanup) divided by the messages "
        "consumed (warren-perf's `consumed_total`, the drain after the window included).",
        "- Mirrors during M3/M4: node A's API (`/api/queues/%2F/<queue>`) was polled every 0.25 s from the "
        "queue's declaration until it showed 2 `slave_nodes`, both in `synchronised_slave_nodes`, then once "
        "0.5 s before the window's end. RabbitMQ's API shows a queue's mirrors from the statistics the queue "
        "emits every 5 s (`collect_statistics_interval`), so its \"first seen\" time is late by up to 5 s; "
        "Warren places a queue's mirrors through its replicated log before it answers the queue's declare, "
        "so every message of a run goes through a mirrored queue. The queue's `node` (its master) was "
        "node A in every run. Those few API requests are in node A's CPU.", "",
    ]
    for name, desc, flags in SCENARIOS:
        if name not in results:
            continue
        wr, rr = results[name].get("warren"), results[name].get("rabbitmq")
        if not wr or not rr:
            continue
        lines += [f"## {name}: {desc}", "",
                  f"`warren-perf --uri A --queue-prefix ha-perf-{name.lower()}-<broker>-<run> "
                  f"-z {run.get('seconds', '?')} {' '.join(flags)}` (setup, producer and consumer all on A)", "",
                  "| | Warren | RabbitMQ | Warren's advantage |", "|---|---|---|---|"]
        wc, rc = med(wr, "cpu_us")[0], med(rr, "cpu_us")[0]
        wm, rm = med(wr, "rate")[0], med(rr, "rate")[0]
        lines.append(f"| consume rate | {cluster.cell(wr, 'rate', cluster.fmt_rate, 'msg/s')} | "
                     f"{cluster.cell(rr, 'rate', cluster.fmt_rate, 'msg/s')} | "
                     f"{f'**{wm / rm:.2f}x** more' if rm else '-'} |")
        lines.append(f"| broker CPU per message (3 nodes) | {cluster.cell(wr, 'cpu_us', lambda v: f'{v:.1f}', 'µs')} | "
                     f"{cluster.cell(rr, 'cpu_us', lambda v: f'{v:.1f}', 'µs')} | "
                     f"{f'**{rc / wc:.2f}x** less' if wc else '-'} |")
        for i, node in enumerate("ABC"):
            pw = statistics.median(x["cpu_s_per_node"][i] * 1e6 / x["consumed_total"] for x in wr)
            pr = statistics.median(x["cpu_s_per_node"][i] * 1e6 / x["consumed_total"] for x in rr)
            role = "master; producer and consumer" if node == "A" else "mirror"
            lines.append(f"| of which node {node} ({role}) | {pw:.1f} µs | {pr:.1f} µs | "
                         f"{f'{pr / pw:.2f}x less' if pw else '-'} |")
        lines.append(f"| share of that CPU in the kernel (stime) | {med(wr, 'sys_fraction')[0] * 100:.0f}% | "
                     f"{med(rr, 'sys_fraction')[0] * 100:.0f}% | |")
        lat = [statistics.median(x["latency_us"]["p50"] for x in runs if x.get("latency_us"))
               if any(x.get("latency_us") for x in runs) else None for runs in (wr, rr)]
        if None not in lat:
            lines.append(f"| latency p50 (publish → delivery) | {lat[0] / 1000:.1f} ms | {lat[1] / 1000:.1f} ms | |")
        lines.append(f"| messages consumed per run (median) | {med(wr, 'consumed_total')[0]:,.0f} | "
                     f"{med(rr, 'consumed_total')[0]:,.0f} | |")
        lines.append(f"| both mirrors synchronised (node A's API) | {mirror_cell(wr)} | {mirror_cell(rr)} | |")
        lines.append("")
    f_res = results.get("F")
    if f_res:
        lines += [f"## F: {FAILOVER[1]}", "",
                  f"A durable queue `{FAILOVER_QUEUE}` declared on node A (so its master starts on A; the policy "
                  "mirrors it on B and C). A publisher (pika, select connection, one persistent message with "
                  f"confirms every {PUBLISH_INTERVAL * 1000:.0f} ms, not waiting for confirms) and a consumer "
                  f"(pika, blocking connection, manual acks, prefetch {CONSUMER_PREFETCH}) run on the two nodes "
                  "that do not hold the master (publisher on the first, consumer on the second of A, B, C; first "
                  "B and C); before each kill they move there if the master has moved, and must have had a "
                  "message published, confirmed and delivered there. Each kill: wait until the queue shows 2 "
                  "mirrors, both synchronised (API), the rest of the machine quiet, 0.5 s, then SIGKILL to the "
                  "master's node (its `node` in `/api/queues/%2F/" + FAILOVER_QUEUE + "`): Warren's process; "
                  "RabbitMQ's `beam.smp` (pid from the node's pid file under /tmp/reference-rabbitmq, checked to "
                  "be that node's beam.smp). **Failover time**: from just before the kill to the first delivery "
                  "to the consumer of a message published after the kill, or marked redelivered (a delivery of "
                  "an older message right after the kill may have left the old master before it died). "
                  "A consumer cancelled by the broker (basic.cancel) or refused consumes again on its node "
                  f"after {RECONSUME_PAUSE * 1000:.0f} ms. Then the killed node is restarted on its data "
                  "(Warren: the same command line; RabbitMQ: `reference-rabbitmq start PORT`) and the next kill "
                  "waits for both mirrors to be synchronised again.", ""]
        wf, rf = f_res.get("warren") or {}, f_res.get("rabbitmq") or {}

        def times(fr, key):
            return sorted(k[key] for k in fr.get("kills", []) if k.get(key) is not None)

        def qs(v):
            return f"{ms(statistics.median(v))} / {ms(v[-1])}" if v else "-"
        wt, rt = times(wf, "failover_s"), times(rf, "failover_s")
        lines += ["| | Warren | RabbitMQ | Warren's advantage |", "|---|---|---|---|",
                  f"| kills measured (of {run.get('kills', '?')}) | {len(wt)} | {len(rt)} | |",
                  f"| **failover: kill → first delivery, p50** | {ms(statistics.median(wt)) if wt else '-'} | "
                  f"{ms(statistics.median(rt)) if rt else '-'} | "
                  f"{advantage_time(statistics.median(wt), statistics.median(rt)) if wt and rt else '-'} |",
                  f"| **failover: max** | {ms(wt[-1]) if wt else '-'} | {ms(rt[-1]) if rt else '-'} | "
                  f"{advantage_time(wt[-1], rt[-1]) if wt and rt else '-'} |",
                  f"| failover p90 | {ms(pct(wt, 0.9)) if wt else '-'} | {ms(pct(rt, 0.9)) if rt else '-'} | |",
                  f"| kill → first delivery of anything (p50 / max) | {qs(times(wf, 'first_any_delivery_s'))} | "
                  f"{qs(times(rf, 'first_any_delivery_s'))} | |",
                  f"| kill → a surviving node's API names the new master (p50 / max; polled every 50 ms) | "
                  f"{qs(times(wf, 'promotion_seen_s'))} | {qs(times(rf, 'promotion_seen_s'))} | |"]

        def during(fr, key):
            return sum(k["during"][key] for k in fr.get("kills", []))
        for key, label in (("cancels", "consumer cancelled by the broker (basic.cancel), over all kills"),
                           ("refused", "consumes refused while failing over"),
                           ("consumer_connections", "consumer reconnections"),
                           ("nacked", "publishes nacked"),
                           ("unanswered", "publishes never answered (their channel or connection ended)")):
            lines.append(f"| {label} | {during(wf, key)} | {during(rf, key)} | |")
        lines += [f"| restart of the killed node until it is back in the cluster (p50 / max) | "
                  f"{qs(times(wf, 'restart_s'))} | {qs(times(rf, 'restart_s'))} | |",
                  f"| wait for both mirrors synchronised before a kill (p50 / max) | "
                  f"{qs(times(wf, 'sync_wait_s'))} | {qs(times(rf, 'sync_wait_s'))} | |"]
        tw, tr = wf.get("totals") or {}, rf.get("totals") or {}
        for key, label in (("published", "messages published in F"), ("confirmed", "of which confirmed"),
                           ("confirmed_never_delivered", "confirmed but never delivered (30 s after the last "
                                                         "publish)"),
                           ("redelivered", "deliveries marked redelivered"),
                           ("deliveries", "deliveries in all")):
            lines.append(f"| {label} | {tw.get(key, '-')} | {tr.get(key, '-')} | |")
        lines.append("")
        for b, fr in (("warren", wf), ("rabbitmq", rf)):
            if not fr:
                continue
            killed = {}
            for k in fr.get("kills", []):
                killed[k["killed"]] = killed.get(k["killed"], 0) + 1
            lines.append(f"{LABEL[b]}: masters killed: {', '.join(f'{n} {c}x' for n, c in sorted(killed.items())) or 'none'}; "
                         f"first delivery on "
                         f"{', '.join(sorted({k['first_delivery_on'] for k in fr.get('kills', []) if k.get('first_delivery_on')})) or '-'}"
                         + (f"; before the first kill: {fr['initial']['state']}" if fr.get("initial") else "")
                         + (f"; after the last: {fr['final']['state']}" if fr.get("final") else "") + ".")
            if fr.get("error"):
                lines.append(f"**{LABEL[b]}'s F stopped early: {fr['error']}**")
            lines.append("")
    ms_runs = [(n, b, x) for n, _, _ in SCENARIOS if n in results for b in BROKERS for x in results[n].get(b, [])]
    others = [(x["machine_busy_s"] - x["cpu_s"] - x["other_cluster_idle_cpu_s"] - x["tool_cpu_s"]) / x["wall_s"]
              for _, _, x in ms_runs]
    if others:
        lines += [f"Everything else on the machine (the machine's busy time from `/proc/stat` less both clusters "
                  f"and warren-perf's CPU in its window; so an upper bound) used a median "
                  f"{statistics.median(others) * 100:.0f}% of a core (max {max(others) * 100:.0f}%) during M3/M4 "
                  "runs.", ""]
    before = [x.get("others_before_cores") for _, _, x in ms_runs if x.get("others_before_cores") is not None]
    before += [k.get("others_before_cores") for b in BROKERS for k in ((f_res or {}).get(b) or {}).get("kills", [])
               if k.get("others_before_cores") is not None]
    if before:
        lines += [f"Before each run and each kill the script waited (up to {run.get('quiet_wait', '?')} s) for the "
                  f"rest of the machine to use under {run.get('quiet_below', '?')} cores; what it used in the "
                  f"second before: median {statistics.median(before):.2f}, max {max(before):.2f} cores (during F "
                  "this includes the script's own publisher and consumer).", ""]
    idle = {b: [x["other_cluster_idle_cpu_s"] / x["wall_s"] for n, bb, x in ms_runs if bb == b] for b in BROKERS}
    if idle["warren"] and idle["rabbitmq"]:
        lines += [f"While Warren ran M3/M4, the idle RabbitMQ cluster used {statistics.median(idle['warren']) * 100:.0f}% "
                  f"of a core (median); while RabbitMQ ran, the idle Warren cluster used "
                  f"{statistics.median(idle['rabbitmq']) * 100:.0f}%.", ""]
    if ms_runs:
        faults = [f"{n}/{b}: {x['faults']}" for n, b, x in ms_runs if any(x["faults"].values())]
        lines += [f"M3/M4: lost, duplicated, reordered, nacked or returned messages, or deliveries left unconsumed: "
                  f"{'none' if not faults else '; '.join(faults)}.", ""]
    problems = results.get("_warren_log_problems")
    if problems is not None:
        lines += [f"WARN or ERROR lines from Warren's own code in the three nodes' logs over the whole run: "
                  f"{len(problems) or 'none'}" + (" (the first 50 in the output below; F's kills make some)."
                                                  if problems else "."), ""]
    if results.get("_failure"):
        lines += [f"**The run stopped early: {results['_failure']}**", ""]
    log = results.get("_log")
    if log:
        lines += ["<details><summary>The run's output</summary>", "", "```", *log, "```", "", "</details>", ""]
    notes = ""
    if os.path.exists(path_md):
        with open(path_md) as f:
            old = f.read()
        if NOTES_MARKER in old:
            notes = old.split(NOTES_MARKER, 1)[1].strip()
    lines += [NOTES_MARKER, "", notes] if notes else [NOTES_MARKER]
    with open(path_md, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")


# --- main -----------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="runs of M3 and M4 per broker")
    ap.add_argument("--seconds", type=int, default=10, help="warren-perf's window in M3 and M4")
    ap.add_argument("--kills", type=int, default=20, help="F: kills of the master's node per broker")
    ap.add_argument("--only", help="comma-separated scenario names (M3,M4,F)")
    ap.add_argument("--failover-timeout", type=float, default=60,
                    help="F: seconds after a kill to wait for a delivery before giving up on that broker")
    ap.add_argument("--sync-timeout", type=float, default=180,
                    help="F: seconds to wait for both mirrors to be synchronised before a kill")
    ap.add_argument("--warren-port", type=int, default=5711,
                    help="node A's AMQP port; B and C use the next ones, HTTP +10000, cluster links +20000")
    ap.add_argument("--rabbitmq-ports", default="5692,5693,5694")
    ap.add_argument("--quiet-below", type=float, default=0.3,
                    help="before each run and kill, wait until the rest of the machine uses fewer cores than this")
    ap.add_argument("--quiet-wait", type=float, default=120, help="... for at most this many seconds")
    ap.add_argument("--keep-rabbitmq", action="store_true", help="leave the RabbitMQ nodes running at the end")
    ap.add_argument("--results", default=os.path.join(BENCH, "mirrored.json"))
    ap.add_argument("--report", default=os.path.join(BENCH, "mirrored.md"))
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from the stored results")
    args = ap.parse_args()
    if args.report_only:
        with open(args.results) as f:
            write_report(json.load(f), args.report)
        print(f"wrote {args.report}")
        return 0
    wanted = set(args.only.split(",")) if args.only else {"M3", "M4", "F"}
    unknown = wanted - {n for n, _, _ in SCENARIOS} - {"F"}
    if unknown:
        sys.exit(f"unknown scenario(s) {sorted(unknown)}: M3, M4, F")
    if pika is None:
        sys.exit("python3 cannot import pika (pip install pika)")
    for exe in ("warren", "warren-perf"):
        if not os.path.exists(os.path.join(RELEASE, exe)):
            sys.exit(f"missing {RELEASE}/{exe}: cargo build --release --workspace --all-targets")
    sys.setswitchinterval(0.001)  # F's client threads timestamp deliveries: let them run promptly

    log = []

    def say(line):
        print(line, flush=True)
        log.append(line)

    warren = cluster.WarrenCluster(args.warren_port)
    rabbit = cluster.RabbitCluster([int(p) for p in args.rabbitmq_ports.split(",")])
    clusters = {"warren": warren, "rabbitmq": rabbit}
    other = {"warren": rabbit, "rabbitmq": warren}
    results = {}
    failure = None
    try:
        say("starting the RabbitMQ cluster ...")
        rabbit.start()
        say(f"RabbitMQ {rabbit.version}: {', '.join(rabbit.nodes)} (pids {rabbit.pids})")
        say("starting the Warren cluster ...")
        warren.start()
        leader = http_get(warren.http[0], "/api/cluster").get("leader")
        say(f"Warren: {', '.join(warren.nodes)} (pids {warren.pids}), metadata leader {leader}")
        results["_run"] = {
            "runs": args.runs, "seconds": args.seconds, "kills": args.kills,
            "quiet_below": args.quiet_below, "quiet_wait": args.quiet_wait,
            "failover_timeout": args.failover_timeout, "policy": POLICY, "policy_name": POLICY_NAME,
            "command": "python3 bench/mirrored.py " + " ".join(sys.argv[1:]),
            "warren": {"nodes": warren.nodes, "amqp": warren.amqp, "leader": leader},
            "rabbitmq": {"nodes": rabbit.nodes, "amqp": rabbit.amqp, "version": rabbit.version},
        }
        results["_probe"] = {}
        for b in BROKERS:
            status = set_policy(clusters[b])
            p = probe(clusters[b], 60)
            results["_probe"][b] = p
            say(f"policy {POLICY_NAME} on {b} (HTTP {status}); probe queue on A: master {p['node']}, policy "
                f"{p['policy']!r}, slave_nodes {p['slave_nodes']}, synchronised {p['synchronised_slave_nodes']} "
                f"after {p['seconds']:.1f} s" + ("" if p["ok"] else "  <-- NOT both synchronised"))
        for name, desc, flags in SCENARIOS:
            if name not in wanted:
                continue
            results[name] = {b: [] for b in BROKERS}
            for i in range(args.runs):
                for b in BROKERS:
                    before = cluster.wait_quiet(list(clusters.values()), args.quiet_below, args.quiet_wait)
                    r = measure_mirrored(clusters[b], other[b], name, flags, args.seconds, i + 1)
                    r["others_before_cores"] = before
                    results[name][b].append(r)
                    mi = r["mirrors"]
                    sync = (f"both mirrors synchronised after {mi['synchronised_after_s']:.1f} s"
                            if mi["synchronised"] else
                            f"mirrors NOT seen synchronised (last: {mi['slave_nodes']} / {mi['synchronised_slave_nodes']})")
                    if mi.get("end_synchronised") is False:
                        sync += f", NOT at the end ({mi['end_slave_nodes']} / {mi['end_synchronised_slave_nodes']})"
                    say(f"{name} run {i + 1} {b:8}: consume {r['rate']:9.0f} msg/s, {r['consumed_total']} consumed, "
                        f"broker cpu {r['cpu_us']:6.1f} us/msg (A/B/C {'/'.join(f'{c:.2f}' for c in r['cpu_s_per_node'])}"
                        f" s), master {mi['master']}, {sync}")
        if "F" in wanted:
            results["F"] = {}
            for b in BROKERS:
                say(f"F on {b}: {args.kills} kills ...")
                fr = measure_failover(clusters[b], list(clusters.values()), args, say)
                results["F"][b] = fr
                t = sorted(k["failover_s"] for k in fr["kills"] if k["failover_s"] is not None)
                say(f"F {b:8}: failover p50 {ms(statistics.median(t)) if t else '-'}, max {ms(t[-1]) if t else '-'} "
                    f"({len(t)} kills); totals {fr.get('totals')}" + (f"; STOPPED: {fr['error']}" if fr["error"] else ""))
    except (Failure, RuntimeError) as e:  # RuntimeError: reference-rabbitmq or a pid look-up failed
        failure = e
    finally:
        if warren.procs:
            problems = warren.problems()
            results["_warren_log_problems"] = problems
            say(f"Warren nodes' logs: {len(problems)} WARN/ERROR line(s) from warren's own code")
            for line in problems[:50]:
                say(f"  {line[:400]}")
            if failure is not None:
                kept = warren.keep_logs()
                say(f"FAILED: {failure}")
                say(f"Warren nodes' logs kept in {kept}")
                print(warren.logs(), flush=True)
            warren.stop()
        if not args.keep_rabbitmq:
            rabbit.stop()
    if failure is not None:
        results["_failure"] = str(failure)
        results["_log"] = log
        with open(args.results, "w") as f:
            json.dump(results, f, indent=1)
        print(f"stored what was measured, and the failure, in {args.results}; {args.report} left as it was")
        return 1
    results["_run"]["finished"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    results["_log"] = log
    with open(args.results, "w") as f:
        json.dump(results, f, indent=1)
    write_report(results, args.report)
    print(f"wrote {args.report} and {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
