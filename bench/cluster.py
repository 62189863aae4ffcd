#!/usr/bin/env python3
"""Side-by-side cluster benchmark: a 3-node Warren cluster against a 3-node RabbitMQ 3.10
cluster (nodes A, B, C of each), with warren-perf and perf/examples/declare_rate.rs.

  X1  remote queue: the queue lives on node B (declared through B), a producer publishes on
      node A (16 B, confirms with <= 1000 outstanding), a consumer consumes on node C (manual
      acks, prefetch 1000). Consume rate, and broker CPU per message: utime+stime of all
      three broker processes over the run (from /proc/PID/stat) divided by the messages
      consumed (warren-perf's consumed_total, the drain after the window included).
  X4  as X1 with persistent 1 KiB messages to a durable queue.
  D1  metadata rate: one client on node A declares COUNT durable queues and binds each to
      amq.direct, one round trip per method; queues (each a declare and a bind) per second.
      `--clients N`: N connections share the queues, each one round trip at a time.

Each scenario runs against each broker in turn (Warren, RabbitMQ, Warren, RabbitMQ ...),
`--runs` times each; medians with min and max. Nothing is pinned: the six broker processes
and the load tool share the machine's cores. Writes bench/cluster.md (the part after the
notes marker is kept by hand) and bench/cluster.json (raw numbers).

  python3 bench/cluster.py --runs 3 --seconds 8
"""
import argparse
import base64
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
import compare  # noqa: E402  (the single-node benchmark: its helpers)

ROOT = compare.ROOT
RELEASE = compare.RELEASE
REFERENCE = os.environ.get("REFERENCE_RABBITMQ", os.path.join(os.path.dirname(ROOT), "shared", "tools",
                                                              "reference-rabbitmq"))
ANSI = re.compile(r"\x1b\[[0-9;]*m")
NOTES_MARKER = "<!-- Everything below this line is kept by hand when bench/cluster.py rewrites the file. -->"

# name, description, warren-perf flags
SCENARIOS = [
    ("X1", "queue on B, producer on A, consumer on C: 16 B, confirms (<=1000 outstanding), manual ack, "
           "prefetch 1000", ["-x", "1", "-y", "1", "-s", "16", "-c", "1000", "-q", "1000"]),
    ("X4", "as X1, persistent 1 KiB to a durable queue",
     ["-x", "1", "-y", "1", "-s", "1024", "-c", "1000", "-q", "1000", "-f"]),
]
DECLARE = ("D1", "durable queues declared and bound to amq.direct through node A, one round trip per method")
BROKERS = ("warren", "rabbitmq")
LABEL = {"warren": "Warren", "rabbitmq": "RabbitMQ"}


def uri(port):
    return f"amqp://guest:guest@127.0.0.1:{port}/%2f"


def http_get(port, path, timeout=5):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


class Cluster:
    """Three nodes A, B, C: their AMQP and HTTP ports, processes and node names."""
    name = ""

    def __init__(self, amqp_ports, http_ports):
        self.amqp, self.http = list(amqp_ports), list(http_ports)
        self.pids, self.nodes = [], []

    def uri(self, i):
        return uri(self.amqp[i])

    def cpu(self):
        return [compare.cpu_seconds(p) for p in self.pids]

    def stime(self):
        """System (kernel) CPU seconds of the three nodes, summed."""
        total = 0
        for p in self.pids:
            with open(f"/proc/{p}/stat") as f:
                total += int(f.read().rsplit(")", 1)[1].split()[12])
        return total / compare.TICK

    def alive(self):
        return []

    def queue_node(self, prefix):
        """The node the queue whose name starts with `prefix` lives on, as node A's management
        API reports it (None: no such queue yet). warren-perf adds a random suffix to the name."""
        try:
            for q in http_get(self.http[0], "/api/queues/%2f"):
                if q.get("name", "").startswith(prefix):
                    return q.get("node")
        except (urllib.error.URLError, OSError, ValueError):
            pass
        return None

    def has_queue(self, i, name):
        try:
            http_get(self.http[i], f"/api/queues/%2f/{urllib.parse.quote(name, safe='')}")
            return True
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return False
            raise


class WarrenCluster(Cluster):
    name = "warren"

    def __init__(self, base_port, cookie="bench-cluster-cookie"):
        super().__init__([base_port + i for i in range(3)], [base_port + 10000 + i for i in range(3)])
        self.link = [base_port + 20000 + i for i in range(3)]
        self.procs, self.dirs = [], []
        self.nodes = [f"warren-{i + 1}@localhost" for i in range(3)]
        self.cookie = cookie

    def spawn(self, i, mode):
        """Runs node i on its folder (config and data there), logging to its `log` (opened
        with `mode`: "w" to start afresh, "a" for a restart)."""
        d = self.dirs[i]
        with open(os.path.join(d, "log"), mode) as log:
            return subprocess.Popen([os.path.join(RELEASE, "warren"), "--config", os.path.join(d, "warren.toml"),
                                     "--data-dir", os.path.join(d, "data"),
                                     "--amqp-listen", f"127.0.0.1:{self.amqp[i]}",
                                     "--http-listen", f"127.0.0.1:{self.http[i]}"],
                                    stdout=log, stderr=subprocess.STDOUT, preexec_fn=compare.raise_nofile)

    def start(self, timeout=60):
        peers = ", ".join(f'"127.0.0.1:{p}"' for p in self.link)
        for i in range(3):
            d = tempfile.mkdtemp(prefix=f"warren-cluster-bench-{i + 1}-")
            conf = os.path.join(d, "warren.toml")
            with open(conf, "w") as f:
                f.write(f'node_name = "{self.nodes[i]}"\n[cluster]\nlisten = "127.0.0.1:{self.link[i]}"\n'
                        f'cookie = "{self.cookie}"\npeers = [{peers}]\nnode_type = "disc"\n')
            self.dirs.append(d)
            p = self.spawn(i, "w")
            self.procs.append(p)
            self.pids.append(p.pid)
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            dead = self.alive()
            if dead:
                raise RuntimeError(f"Warren node(s) exited while forming the cluster: {dead}")
            try:
                st = [http_get(p, "/api/cluster") for p in self.http]
                last = st
                if all(len(s.get("running_nodes") or []) == 3 and s.get("leader") for s in st):
                    return
            except (urllib.error.URLError, OSError, ValueError) as e:
                last = str(e)
            time.sleep(0.5)
        raise RuntimeError(f"the Warren cluster did not form within {timeout} s; last status: {last}")

    def alive(self):
        """Names of nodes whose process has exited (empty when all run)."""
        return [f"{self.nodes[i]} (exit {p.returncode})" for i, p in enumerate(self.procs) if p.poll() is not None]

    def logs(self, tail=4000):
        out = []
        for n, d in zip(self.nodes, self.dirs):
            try:
                with open(os.path.join(d, "log")) as f:
                    out.append(f"--- {n} ({d}/log), last {tail} chars:\n{f.read()[-tail:]}")
            except OSError as e:
                out.append(f"--- {n}: {e}")
        return "\n".join(out)

    def problems(self):
        """WARN and ERROR lines of Warren's own code (not openraft's) in the nodes' logs."""
        out = []
        for n, d in zip(self.nodes, self.dirs):
            try:
                with open(os.path.join(d, "log"), errors="replace") as f:
                    for line in f:
                        plain = ANSI.sub("", line).strip()
                        parts = plain.split(None, 3)
                        if len(parts) >= 3 and parts[1] in ("WARN", "ERROR") and "openraft::" not in plain[:300]:
                            out.append(f"{n}: {plain}")
            except OSError as e:
                out.append(f"{n}: cannot read the log: {e}")
        return out

    def keep_logs(self):
        """Copies the nodes' logs to a folder that outlives the run; returns it."""
        keep = tempfile.mkdtemp(prefix="warren-cluster-bench-logs-")
        for n, d in zip(self.nodes, self.dirs):
            try:
                shutil.copy(os.path.join(d, "log"), os.path.join(keep, f"{n.split('@')[0]}.log"))
            except OSError:
                pass
        return keep

    def stop(self):
        # One at a time (SIGTERM, wait); a node that had died shows its log's end.
        for p, d in zip(self.procs, self.dirs):
            compare.stop_warren(p, d)
        self.procs, self.dirs, self.pids = [], [], []


class RabbitCluster(Cluster):
    name = "rabbitmq"

    def __init__(self, ports):
        super().__init__(ports, [p + 10000 for p in ports])
        self.nodes = [f"ref{p}@localhost" for p in ports]

    def ctl(self, *args):
        out = subprocess.run([REFERENCE, *map(str, args)], capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(f"reference-rabbitmq {' '.join(map(str, args))} failed: "
                               f"{(out.stdout + out.stderr).strip()[-1000:]}")
        return out.stdout

    def start(self):
        # Fresh nodes: reset (stop, delete the data), start, and join B and C to A.
        for p in self.amqp:
            self.ctl("reset", p)
        for p in self.amqp:
            self.ctl("start", p)
        for p in self.amqp[1:]:
            self.ctl("join", p, self.amqp[0], "disc")
        st = http_get(self.http[0], "/api/nodes")
        running = sorted(n["name"] for n in st if n.get("running"))
        if running != sorted(self.nodes):
            raise RuntimeError(f"the RabbitMQ cluster did not form: running nodes {running}")
        self.pids = [compare.rabbitmq_pid(p) for p in self.amqp]
        self.version = http_get(self.http[0], "/api/overview").get("rabbitmq_version", "?")

    def stop(self):
        for p in self.amqp:
            self.ctl("stop", p)


class Failure(Exception):
    """Something went wrong in a broker (lost messages, an error, a crash): stop and report."""


def machine_busy():
    """Seconds of CPU the whole machine has spent busy (all cores, from /proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / compare.TICK  # all but idle and iowait (guest is in user)


def wait_quiet(clusters, limit, max_wait):
    """Waits (up to `max_wait` seconds) until the rest of the machine (other than the two
    clusters) uses less than `limit` cores over a second; returns what it used last."""
    deadline = time.time() + max_wait
    while True:
        b0, c0, t0 = machine_busy(), sum(sum(c.cpu()) for c in clusters), time.time()
        time.sleep(1.0)
        others = (machine_busy() - b0 - (sum(sum(c.cpu()) for c in clusters) - c0)) / (time.time() - t0)
        if others < limit or time.time() >= deadline:
            return others


def check_alive(cluster, when):
    dead = cluster.alive()
    if dead:
        raise Failure(f"{LABEL[cluster.name]} node(s) exited {when}: {', '.join(dead)}")


def watch_queue(cluster, name, found, stop):
    while not stop.is_set():
        node = cluster.queue_node(name)
        if node:
            found.append(node)
            return
        stop.wait(0.3)


def measure_remote(cluster, other, name, flags, seconds, run):
    """X1/X4 on one cluster: setup (the queue's declaration) on B, producer on A, consumer on C."""
    prefix = f"cluster-bench-{name.lower()}-{cluster.name}-{run}"
    cmd = [os.path.join(RELEASE, "warren-perf"), "--uri", cluster.uri(0), "--setup-uri", cluster.uri(1),
           "--consumer-uri", cluster.uri(2), "--queue-prefix", prefix, "-z", str(seconds), "--json"] + flags
    found, stop = [], threading.Event()
    watcher = threading.Thread(target=watch_queue, args=(cluster, prefix, found, stop), daemon=True)
    cpu0, idle0, busy0, sys0 = cluster.cpu(), other.cpu(), machine_busy(), cluster.stime()
    t0 = time.time()
    watcher.start()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 600,
                         preexec_fn=compare.raise_nofile)
    wall = time.time() - t0
    cpu = [b - a for a, b in zip(cpu0, cluster.cpu())]
    idle = sum(b - a for a, b in zip(idle0, other.cpu()))
    busy = machine_busy() - busy0
    sys_s = cluster.stime() - sys0
    stop.set()
    watcher.join()
    check_alive(cluster, f"during {name}")
    if out.returncode != 0:
        raise Failure(f"warren-perf failed on {LABEL[cluster.name]} ({' '.join(cmd)}):\n{out.stderr.strip()[-3000:]}")
    found_json = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not found_json:
        raise Failure(f"warren-perf printed no summary on {LABEL[cluster.name]}:\n{out.stderr.strip()[-3000:]}")
    res = json.loads(found_json[-1])
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
        "queue_node": found[0] if found else None,
        "latency_us": res.get("latency_us"),
        "tool_cpu_us": res.get("tool_cpu_us_per_msg", 0),
        "faults": faults,
        "warnings": warnings,
    }
    if r["queue_node"] != cluster.nodes[1]:
        raise Failure(f"{name} on {LABEL[cluster.name]}: the queue was seen on {r['queue_node']!r}, "
                      f"not on node B ({cluster.nodes[1]})")
    bad = {k: v for k, v in faults.items() if v}
    if bad or not msgs or warnings:
        raise Failure(f"{name} on {LABEL[cluster.name]}: faults {bad}, consumed {msgs}, warnings {warnings}; "
                      f"summary {res}")
    return r


def measure_declare(cluster, other, count, clients=1):
    """D1 on one cluster: perf/examples/declare_rate.rs against node A (`clients` connections)."""
    exe = os.path.join(RELEASE, "examples", "declare_rate")
    cpu0, idle0, sys0, busy0, t0 = cluster.cpu(), other.cpu(), cluster.stime(), machine_busy(), time.time()
    p = subprocess.Popen([exe, cluster.uri(0), str(count), str(min(1000, count)), str(clients)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    blocks, total, cpu, seen_on_c = [], None, None, None
    for line in p.stdout:
        line = line.strip()
        if line.startswith("queues="):
            blocks.append(float(line.split("rate=")[1].rstrip("/s")))
        elif line.startswith("total="):
            total = float(line.split("rate=")[1].rstrip("/s"))
            # The declarations' CPU only (the deletions that follow are not timed).
            cpu = [b - a for a, b in zip(cpu0, cluster.cpu())]
            idle = sum(b - a for a, b in zip(idle0, other.cpu()))
            sys_s, busy, wall = cluster.stime() - sys0, machine_busy() - busy0, time.time() - t0
            # The last queue declared, as node C sees it (the tool deletes it last).
            seen_on_c = cluster.has_queue(2, f"declare-rate-{p.pid}-{count - 1:06d}")
    err = p.stderr.read()
    p.wait(timeout=600)
    check_alive(cluster, "during D1")
    if p.returncode != 0 or total is None:
        raise Failure(f"declare_rate failed on {LABEL[cluster.name]} (exit {p.returncode}):\n{err.strip()[-3000:]}")
    if not seen_on_c:
        raise Failure(f"D1 on {LABEL[cluster.name]}: node C ({cluster.nodes[2]}) does not have the last queue "
                      f"declared on node A")
    return {
        "rate": total,
        "first_block_rate": blocks[0] if blocks else None,
        "last_block_rate": blocks[-1] if blocks else None,
        "block_rates": blocks,
        "cpu_s": sum(cpu),
        "cpu_s_per_node": cpu,
        "cpu_us": sum(cpu) * 1e6 / count,
        "other_cluster_idle_cpu_s": idle,
        "sys_fraction": sys_s / sum(cpu) if sum(cpu) else 0,
        "wall_s": wall,
        "cluster_cores_busy": sum(cpu) / wall,
        "machine_cores_busy": busy / wall,
        "seen_on_c": seen_on_c,
    }


def med(runs, key):
    vals = [r[key] for r in runs]
    return statistics.median(vals), min(vals), max(vals)


def fmt_rate(v):
    return f"{v / 1000:.1f}k" if v >= 10000 else f"{v:,.0f}"


def cell(runs, key, f, unit):
    m, lo, hi = med(runs, key)
    return f"{f(m)} {unit} ({f(lo)}–{f(hi)})"


def write_report(results, path_md):
    run = results.get("_run", {})
    w, r = run.get("warren", {}), run.get("rabbitmq", {})
    lines = [
        "# Warren cluster vs RabbitMQ 3.10 cluster: side-by-side benchmark", "",
        f"Run {run.get('finished', '?')} on {compare.machine()}, by `{run.get('command', 'bench/cluster.py')}` "
        f"({run.get('runs', '?')} runs of {run.get('seconds', '?')} s per traffic scenario and broker, alternating "
        "Warren, RabbitMQ, Warren, RabbitMQ ...; medians with (min–max)).", "",
        f"- Warren: 3 nodes ({', '.join(w.get('nodes', []))}), one process each, all disc nodes, fresh data "
        f"directories; AMQP ports {', '.join(map(str, w.get('amqp', [])))}; the metadata (Raft) leader was "
        f"{w.get('leader', '?')}.",
        f"- RabbitMQ {r.get('version', '3.10')}: 3 nodes ({', '.join(r.get('nodes', []))}), all disc, fresh "
        f"(`reference-rabbitmq reset/start/join`); AMQP ports {', '.join(map(str, r.get('amqp', [])))}. "
        "Classic queues (no mirroring policy), as Warren's.",
        "- Nothing is pinned: the 6 broker processes (both clusters stay up throughout; the idle one uses a "
        "little CPU, noted below) and the load tool share the machine's "
        f"{os.cpu_count()} cores, so rates are noisy; CPU per message is the steadier figure.",
        "- Broker CPU per message: utime+stime (`/proc/PID/stat`) of the three nodes of the cluster under test, "
        "summed, over the whole warren-perf run (connect, window, drain, cleanup) divided by the messages "
        "consumed (warren-perf's `consumed_total`, the drain after the window included). "
        "For D1, over the declarations (not the deletions that follow) divided by the queues.",
        "- Where each X queue lived was checked during each run through node A's management API "
        "(`/api/queues/%2f` → the queue's `node`): node B every time.", "",
    ]
    for name, desc, flags in SCENARIOS:
        if name not in results:
            continue
        wr, rr = results[name]["warren"], results[name]["rabbitmq"]
        if not wr or not rr:
            continue
        lines += [f"## {name}: {desc}", "",
                  f"`warren-perf --uri A --setup-uri B --consumer-uri C -z {run.get('seconds', '?')} "
                  f"{' '.join(flags)}`", "",
                  "| | Warren | RabbitMQ | Warren's advantage |", "|---|---|---|---|"]
        wc, rc = med(wr, "cpu_us")[0], med(rr, "cpu_us")[0]
        wm, rm = med(wr, "rate")[0], med(rr, "rate")[0]
        lines.append(f"| consume rate | {cell(wr, 'rate', fmt_rate, 'msg/s')} | {cell(rr, 'rate', fmt_rate, 'msg/s')} | "
                     f"{wm / rm:.2f}x |")
        lines.append(f"| broker CPU per message (3 nodes) | {cell(wr, 'cpu_us', lambda v: f'{v:.1f}', 'µs')} | "
                     f"{cell(rr, 'cpu_us', lambda v: f'{v:.1f}', 'µs')} | **{rc / wc:.2f}x** less |")
        for i, node in enumerate("ABC"):
            pw = statistics.median(x["cpu_s_per_node"][i] * 1e6 / x["consumed_total"] for x in wr)
            pr = statistics.median(x["cpu_s_per_node"][i] * 1e6 / x["consumed_total"] for x in rr)
            role = {"A": "producer's node", "B": "queue's node", "C": "consumer's node"}[node]
            lines.append(f"| of which node {node} ({role}) | {pw:.1f} µs | {pr:.1f} µs | "
                         f"{f'{pr / pw:.2f}x' if pw else '-'} |")
        lines.append(f"| share of that CPU in the kernel (stime) | {med(wr, 'sys_fraction')[0] * 100:.0f}% | "
                     f"{med(rr, 'sys_fraction')[0] * 100:.0f}% | |")
        lat = lambda runs: statistics.median(x["latency_us"]["p50"] for x in runs if x.get("latency_us"))  # noqa
        lines.append(f"| latency p50 (publish → delivery) | {lat(wr) / 1000:.1f} ms | {lat(rr) / 1000:.1f} ms | |")
        lines.append(f"| messages consumed per run (median) | {med(wr, 'consumed_total')[0]:,.0f} | "
                     f"{med(rr, 'consumed_total')[0]:,.0f} | |")
        lines.append("")
    if DECLARE[0] in results:
        wr, rr = results["D1"]["warren"], results["D1"]["rabbitmq"]
        if wr and rr:
            count = run.get("count", "?")
            wm, rm = med(wr, "rate")[0], med(rr, "rate")[0]
            wc, rc = med(wr, "cpu_us")[0], med(rr, "cpu_us")[0]
            clients = run.get("clients", 1)
            by = "" if clients == 1 else f", {clients} clients (connections) sharing them"
            lines += [f"## D1: {count:,} {DECLARE[1]}{by}", "",
                      f"`target/release/examples/declare_rate amqp://...@A {count} 1000"
                      + ("" if clients == 1 else f" {clients}") + "` (perf/examples/declare_rate.rs; "
                      "one queue = a queue.declare (durable) and a queue.bind, each waiting for its reply)", "",
                      "| | Warren | RabbitMQ | Warren's advantage |", "|---|---|---|---|",
                      f"| queues declared+bound per second | {cell(wr, 'rate', lambda v: f'{v:,.0f}', '/s')} | "
                      f"{cell(rr, 'rate', lambda v: f'{v:,.0f}', '/s')} | **{wm / rm:.2f}x** |",
                      f"| (methods per second: declares + binds) | {2 * wm:,.0f}/s | {2 * rm:,.0f}/s | |",
                      f"| rate over the first 1,000 queues | {med(wr, 'first_block_rate')[0]:,.0f}/s | "
                      f"{med(rr, 'first_block_rate')[0]:,.0f}/s | |",
                      f"| rate over the last 1,000 queues | {med(wr, 'last_block_rate')[0]:,.0f}/s | "
                      f"{med(rr, 'last_block_rate')[0]:,.0f}/s | |",
                      f"| broker CPU per queue (3 nodes) | {cell(wr, 'cpu_us', lambda v: f'{v:,.0f}', 'µs')} | "
                      f"{cell(rr, 'cpu_us', lambda v: f'{v:,.0f}', 'µs')} | {rc / wc:.2f}x less |",
                      f"| share of that CPU in the kernel (stime) | {med(wr, 'sys_fraction')[0] * 100:.0f}% | "
                      f"{med(rr, 'sys_fraction')[0] * 100:.0f}% | |",
                      f"| cores busy: the cluster / the whole machine (of {os.cpu_count()}) | "
                      f"{med(wr, 'cluster_cores_busy')[0]:.2f} / {med(wr, 'machine_cores_busy')[0]:.2f} | "
                      f"{med(rr, 'cluster_cores_busy')[0]:.2f} / {med(rr, 'machine_cores_busy')[0]:.2f} | |",
                      "", "Node C had the last queue declared through A, on both clusters, in every run.", ""]
    idle = {b: [x["other_cluster_idle_cpu_s"] / x["wall_s"] for n, _, _ in SCENARIOS if n in results
                for x in results[n][b]] for b in BROKERS}
    others = [(x["machine_busy_s"] - x["cpu_s"] - x["other_cluster_idle_cpu_s"] - x["tool_cpu_s"]) / x["wall_s"]
              for n, _, _ in SCENARIOS if n in results for b in BROKERS for x in results[n][b]]
    if others:
        lines += [f"Everything else on the machine (the machine's busy time from `/proc/stat` less both clusters "
                  f"and warren-perf's CPU in its window; so an upper bound) used a median {statistics.median(others) * 100:.0f}% of a core "
                  f"(max {max(others) * 100:.0f}%) during X1/X4 runs.", ""]
    before = [x.get("others_before_cores") for n in list(results) if not n.startswith("_")
              for b in BROKERS for x in results[n][b] if x.get("others_before_cores") is not None]
    if before:
        lines += [f"Before each run the script waited (up to {run.get('quiet_wait', '?')} s) for the rest of the "
                  f"machine to use under {run.get('quiet_below', '?')} cores; what it used in the second before "
                  f"each run: median {statistics.median(before):.2f}, max {max(before):.2f} cores.", ""]
    if idle["warren"] and idle["rabbitmq"]:
        lines += [f"While Warren ran X1/X4, the idle RabbitMQ cluster used {statistics.median(idle['warren']) * 100:.0f}% "
                  f"of a core (median); while RabbitMQ ran, the idle Warren cluster used "
                  f"{statistics.median(idle['rabbitmq']) * 100:.0f}%.", ""]
    measured = [n for n, _, _ in SCENARIOS if n in results]
    faults = [f"{n}/{b} run {i + 1}: {x['faults']}" for n in measured for b in BROKERS
              for i, x in enumerate(results[n][b]) if any(v for k, v in x["faults"].items())]
    lines += [f"Lost, duplicated, reordered, nacked or returned messages, or deliveries left unconsumed: "
              f"{'none' if not faults else '; '.join(faults)}.", ""]
    problems = results.get("_warren_log_problems")
    if problems is not None:
        lines += [f"WARN or ERROR lines from Warren's own code in the three nodes' logs over the whole run: "
                  f"{len(problems) or 'none'}" + (" (listed in the output below)." if problems else "."), ""]
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10, help="warren-perf's window in X1 and X4")
    ap.add_argument("--count", type=int, default=10000, help="queues declared in D1")
    ap.add_argument("--clients", type=int, default=1, help="D1's connections, sharing the queues")
    ap.add_argument("--only", help="comma-separated scenario names (X1,X4,D1)")
    ap.add_argument("--warren-port", type=int, default=5711,
                    help="node A's AMQP port; B and C use the next ones, HTTP +10000, cluster links +20000")
    ap.add_argument("--rabbitmq-ports", default="5692,5693,5694")
    ap.add_argument("--quiet-below", type=float, default=0.3,
                    help="before each run, wait until the rest of the machine uses fewer cores than this")
    ap.add_argument("--quiet-wait", type=float, default=120, help="... for at most this many seconds")
    ap.add_argument("--keep-rabbitmq", action="store_true", help="leave the RabbitMQ nodes running at the end")
    ap.add_argument("--results", default=os.path.join(BENCH, "cluster.json"))
    ap.add_argument("--report", default=os.path.join(BENCH, "cluster.md"))
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from the stored results")
    args = ap.parse_args()
    if args.report_only:
        with open(args.results) as f:
            write_report(json.load(f), args.report)
        print(f"wrote {args.report}")
        return 0
    wanted = set(args.only.split(",")) if args.only else {"X1", "X4", "D1"}
    for exe in ("warren", "warren-perf", "examples/declare_rate"):
        if not os.path.exists(os.path.join(RELEASE, exe)):
            sys.exit(f"missing {RELEASE}/{exe}: cargo build --release --workspace --all-targets")

    log = []

    def say(line):
        print(line, flush=True)
        log.append(line)

    warren = WarrenCluster(args.warren_port)
    rabbit = RabbitCluster([int(p) for p in args.rabbitmq_ports.split(",")])
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
        say(f"Warren: {', '.join(warren.nodes)} (pids {warren.pids}), metadata leader "
            f"{http_get(warren.http[0], '/api/cluster').get('leader')}")
        results["_run"] = {
            "runs": args.runs, "seconds": args.seconds, "count": args.count, "clients": args.clients,
            "quiet_below": args.quiet_below, "quiet_wait": args.quiet_wait,
            "command": "python3 bench/cluster.py " + " ".join(sys.argv[1:]),
            "warren": {"nodes": warren.nodes, "amqp": warren.amqp,
                       "leader": http_get(warren.http[0], "/api/cluster").get("leader")},
            "rabbitmq": {"nodes": rabbit.nodes, "amqp": rabbit.amqp, "version": rabbit.version},
        }
        for name, desc, flags in SCENARIOS:
            if name not in wanted:
                continue
            results[name] = {b: [] for b in BROKERS}
            for i in range(args.runs):
                for b in BROKERS:
                    before = wait_quiet(list(clusters.values()), args.quiet_below, args.quiet_wait)
                    r = measure_remote(clusters[b], other[b], name, flags, args.seconds, i + 1)
                    r["others_before_cores"] = before
                    results[name][b].append(r)
                    say(f"{name} run {i + 1} {b:8}: consume {r['rate']:9.0f} msg/s, {r['consumed_total']} consumed, "
                        f"broker cpu {r['cpu_us']:6.1f} us/msg (A/B/C {'/'.join(f'{c:.2f}' for c in r['cpu_s_per_node'])}"
                        f" s), queue on {r['queue_node']}")
        if "D1" in wanted:
            results["D1"] = {b: [] for b in BROKERS}
            for i in range(args.runs):
                for b in BROKERS:
                    before = wait_quiet(list(clusters.values()), args.quiet_below, args.quiet_wait)
                    r = measure_declare(clusters[b], other[b], args.count, args.clients)
                    r["others_before_cores"] = before
                    results["D1"][b].append(r)
                    say(f"D1 run {i + 1} {b:8}: {r['rate']:6.0f} queues/s (first block: {r['first_block_rate']:.0f}/s, "
                        f"last block: {r['last_block_rate']:.0f}/s), broker cpu {r['cpu_us']:.0f} us/queue "
                        f"({r['sys_fraction'] * 100:.0f}% sys), cores busy: cluster {r['cluster_cores_busy']:.2f}, "
                        f"machine {r['machine_cores_busy']:.2f}")
    except Failure as e:
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
