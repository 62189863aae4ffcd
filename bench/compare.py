#!/usr/bin/env python3
"""Side-by-side benchmark of Warren and a reference RabbitMQ 3.10 with warren-perf.

Each scenario runs against each broker in turn (A B A B ...), `--runs` times each; medians
are reported with min and max. The broker is pinned to core 0 and the load tool to core 1.
Broker CPU per message comes from /proc/<pid>/stat (utime+stime over the run divided by the
messages consumed, or confirmed where nothing consumes); peak RSS is sampled from
/proc/<pid>/status every 50 ms during the run. Writes BENCHMARKS.md.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")
# Where cargo put the release binaries (CARGO_TARGET_DIR, as cargo reads it, else target/).
RELEASE = os.path.join(os.path.abspath(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")), "release")

# name, description, warren-perf flags, headline metric
SCENARIOS = [
    ("S1", "1 producer -> 1 consumer, 16 B, no confirms, auto-ack", ["-x", "1", "-y", "1", "-s", "16", "-a"], "rate"),
    ("S2", "as S1 with 1 KiB bodies", ["-x", "1", "-y", "1", "-s", "1024", "-a"], "rate"),
    ("S3", "16 B, confirms (<=1000 outstanding), manual ack, prefetch 1000", ["-x", "1", "-y", "1", "-s", "16", "-c", "1000", "-q", "1000"], "rate"),
    ("S4", "as S3, persistent 1 KiB to a durable queue", ["-x", "1", "-y", "1", "-s", "1024", "-c", "1000", "-q", "1000", "-f"], "rate"),
    ("S5", "fanout to 10 queues, 10 consumers, 16 B, auto-ack", ["-x", "1", "-y", "10", "-s", "16", "--queues", "10", "--fanout", "-a"], "rate"),
    ("L1", "latency at 10k msg/s with confirms, 16 B", ["-x", "1", "-y", "1", "-s", "16", "-c", "1000", "-q", "1000", "-r", "10000"], "p99"),
    ("L1w", "L1 with both cores kept awake (an idle-priority spinner on each)", ["-x", "1", "-y", "1", "-s", "16", "-c", "1000", "-q", "1000", "-r", "10000"], "p99"),
    ("P1", "publish only, confirms (<=1000 outstanding), 16 B", ["-x", "1", "-y", "0", "-s", "16", "-c", "1000"], "rate"),
    ("M1", "2 producers, 2 consumers, one queue, 16 B, auto-ack", ["-x", "2", "-y", "2", "-s", "16", "-a"], "rate"),
    ("M3", "backlog of 1M 16 B messages, then drained", ["-x", "1", "-y", "1", "-s", "16", "-a", "--pre-publish", "1000000"], "drain"),
    ("C1", "10,000 idle connections", ["--connections", "10000"], "conn_rss"),
]

# Scenarios run with a SCHED_IDLE busy loop on both cores: the CPUs never halt, so a wake-up
# does not wait for the hypervisor to resume an idle virtual CPU. The loops yield at once to
# any real work and are not part of either broker's CPU time.
KEEP_AWAKE = {"L1w"}


def keep_awake():
    return [subprocess.Popen(["chrt", "-i", "0", "taskset", "-c", cpu, "sh", "-c", "while :; do :; done"])
            for cpu in ("0", "1")]


def stop_warren(warren, data):
    """Stops a Warren started on `data` (showing its log's end if it had died) and
    removes the data dir."""
    if warren.poll() is not None:
        with open(os.path.join(data, "log")) as f:
            print(f"warren exited ({warren.returncode}); its log ends:\n{f.read()[-3000:]}")
    warren.send_signal(signal.SIGTERM)
    warren.wait(timeout=30)
    shutil.rmtree(data, ignore_errors=True)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, rss_bytes(pid), threading.Event()

    def run(self):
        while not self.stop.wait(0.05):
            try:
                self.peak = max(self.peak, rss_bytes(self.pid))
            except OSError:
                return


def pin(pid, cpus):
    subprocess.run(["taskset", "-a", "-c", "-p", cpus, str(pid)], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_warren(port, extra=()):
    """Warren pinned to core 0 on `port` (plus `extra` arguments, e.g. --config), a fresh data dir."""
    data = tempfile.mkdtemp(prefix="warren-bench-")
    log = open(os.path.join(data, "log"), "w")
    proc = subprocess.Popen(
        ["taskset", "-c", "0", os.path.join(RELEASE, "warren"),
         "--data-dir", os.path.join(data, "data"), "--amqp-listen", f"127.0.0.1:{port}", "--http-listen", "127.0.0.1:0",
         *extra],
        stdout=log, stderr=subprocess.STDOUT, preexec_fn=raise_nofile)
    time.sleep(1.0)
    return proc, data


def raise_nofile():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(65536, hard), hard))


def rabbitmq_pid(port):
    """The reference node's beam.smp: from its pid file, else by its node name."""
    base = os.environ.get("REFERENCE_RABBITMQ_DIR", "/tmp/reference-rabbitmq")
    try:
        with open(f"{base}/node-{port}/pid") as f:
            return int(f.read().strip())
    except OSError:
        pass
    node = f"RABBITMQ_NODENAME=ref{port}@localhost".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if b"beam.smp" in cmd and node in env:
            found.append(int(entry))
    if not found:
        raise RuntimeError(f"no running reference RabbitMQ node for port {port}")
    # rabbitmqctl runs a short-lived beam.smp with the same environment: the node is the
    # oldest one.
    return min(found, key=start_time)


def start_time(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def run_perf(uri, flags, seconds):
    cmd = ["taskset", "-c", "1", os.path.join(RELEASE, "warren-perf"),
           "--uri", uri, "-z", str(seconds), "--json"] + flags
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 600,
                         preexec_fn=raise_nofile)
    if out.returncode != 0:
        raise RuntimeError(f"warren-perf failed ({' '.join(flags)}): {out.stderr.strip()[-500:]}")
    found = [l for l in out.stdout.splitlines() if l.startswith("{")]
    # The idle-connections scenario prints no summary: only memory is measured.
    return json.loads(found[-1]) if found else {}


def measure(broker_pid, uri, flags, seconds, awake=False):
    spinners = keep_awake() if awake else []
    sampler = RssSampler(broker_pid)
    rss_before = rss_bytes(broker_pid)
    cpu0 = cpu_seconds(broker_pid)
    sampler.start()
    try:
        result = run_perf(uri, flags, seconds)
    finally:
        for p in spinners:
            p.kill()
            p.wait()
    sampler.stop.set()
    sampler.join()
    cpu = cpu_seconds(broker_pid) - cpu0
    # The CPU is the whole run's, drain after the window included: divide by every message
    # consumed, not only those inside the window (a broker that falls behind would otherwise
    # seem to spend its drain's CPU on the window's messages).
    msgs = result.get("consumed_total") or result.get("consumed") or result.get("confirmed") or result.get("published") or 0
    return {
        "rate": result.get("consume_rate") or result.get("confirm_rate") or result.get("publish_rate") or 0,
        "p99": (result.get("latency_us") or {}).get("p99", 0),
        "drain": result.get("drain_rate", result.get("consume_rate", 0)),
        "cpu_us": cpu * 1e6 / msgs if msgs else 0,
        "rss": sampler.peak,
        "conn_rss": (sampler.peak - rss_before) / 10000,
        "lost": result.get("lost", 0) + result.get("duplicated", 0) + result.get("reordered", 0),
        "tool_cpu_us": result.get("tool_cpu_us_per_msg", 0),
    }


# The machine's own latency floor for L1's traffic: perf/examples/relay_floor.rs forwards
# bytes between a producer and a consumer (no AMQP, no broker work), pinned like the brokers.
FLOORS = [
    ("L0", "L1's traffic through a bare byte relay (no broker)", False),
    ("L0w", "L0 with both cores kept awake, as L1w", True),
]
FLOOR_PORT = 5790


def measure_floor(seconds, awake):
    spinners = keep_awake() if awake else []
    exe = os.path.join(RELEASE, "examples/relay_floor")
    relay = subprocess.Popen(["taskset", "-c", "0", exe, "relay", f"127.0.0.1:{FLOOR_PORT}"],
                             stdout=subprocess.PIPE, text=True)
    try:
        relay.stdout.readline()  # "listening on ..."
        out = subprocess.run(["taskset", "-c", "1", exe, "client", f"127.0.0.1:{FLOOR_PORT}", "10000",
                              str(seconds)], capture_output=True, text=True, timeout=seconds + 60)
        if out.returncode != 0:
            raise RuntimeError(f"relay_floor failed: {out.stderr.strip()[-500:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        for p in spinners:
            p.kill()
            p.wait()
        relay.kill()
        relay.wait()


def fmt(metric, v):
    if metric in ("rate", "drain"):
        return f"{v / 1000:.1f}k msg/s"
    if metric == "p99":
        return f"{v / 1000:.2f} ms"
    if metric in ("rss", "conn_rss"):
        return f"{v / 1048576:.1f} MiB" if metric == "rss" else f"{v / 1024:.1f} KiB"
    if metric == "cpu_us":
        return f"{v:.2f} us"
    return str(v)


def summary(runs, key):
    vals = [r[key] for r in runs]
    return statistics.median(vals), min(vals), max(vals)


def ratio(metric, rabbit, warren):
    if not rabbit or not warren:
        return "-"
    better_high = metric in ("rate", "drain")
    return f"{(warren / rabbit if better_high else rabbit / warren):.2f}x"


def machine():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({model}), Linux {platform.release()}"


def write_report(results):
    run = results.get("_run", {"finished": "at an unknown time", "runs": "?", "seconds": "?"})
    lines = [
        "# Warren vs RabbitMQ 3.10: side-by-side benchmark", "",
        f"Run {run['finished']} on {machine()}, "
        f"by `bench/compare.sh` with warren-perf; {run['runs']} runs of {run['seconds']} s per scenario and broker, "
        "alternating brokers (A B A B); medians with [min-max]. Broker pinned to core 0, load tool to core 1. "
        "Ratios are Warren's advantage (higher is better for Warren). Broker CPU per message is "
        "utime+stime of the broker process over the run divided by messages consumed (confirmed where "
        "nothing consumes).", "",
        "| scenario | what | metric | RabbitMQ | Warren | ratio | broker CPU/msg RabbitMQ | Warren | ratio | peak RSS RabbitMQ | Warren |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, desc, _, metric in SCENARIOS:
        if name not in results:
            continue
        r, w = results[name]["rabbitmq"], results[name]["warren"]
        if not r or not w:
            continue
        (rm, rlo, rhi), (wm, wlo, whi) = summary(r, metric), summary(w, metric)
        (rc, _, _), (wc, _, _) = summary(r, "cpu_us"), summary(w, "cpu_us")
        (rr, _, _), (wr, _, _) = summary(r, "rss"), summary(w, "rss")
        cpu_cols = (fmt("cpu_us", rc), fmt("cpu_us", wc), ratio("cpu_us", rc, wc)) if metric in ("rate", "p99") else ("-", "-", "-")
        lines.append(
            f"| {name} | {desc} | {metric} | {fmt(metric, rm)} [{fmt(metric, rlo)}-{fmt(metric, rhi)}] | "
            f"{fmt(metric, wm)} [{fmt(metric, wlo)}-{fmt(metric, whi)}] | {ratio(metric, rm, wm)} | "
            f"{cpu_cols[0]} | {cpu_cols[1]} | {cpu_cols[2]} | {fmt('rss', rr)} | {fmt('rss', wr)} |")
    floor = results.get("floor", {})
    if floor:
        lines += ["", "Latency floor of this machine (the same pacing, pinning and message size as L1, "
                  "through `perf/examples/relay_floor.rs`, a relay that only forwards bytes):", "",
                  "| scenario | what | p50 | p99 | max |", "|---|---|---|---|---|"]
        for name, desc, _ in FLOORS:
            runs = floor.get(name)
            if not runs:
                continue
            cols = []
            for key in ("p50_ms", "p99_ms", "max_ms"):
                m, lo, hi = summary(runs, key)
                cols.append(f"{m:.2f} ms [{lo:.2f}-{hi:.2f}]")
            lines.append(f"| {name} | {desc} | {' | '.join(cols)} |")
    measured = [n for n, _, _, _ in SCENARIOS if n in results]
    errors = [f"{n}/{b}" for n in measured for b in ("rabbitmq", "warren") for x in results[n][b] if x["lost"]]
    tool = [x["tool_cpu_us"] for n in measured for b in ("rabbitmq", "warren") for x in results[n][b] if x["tool_cpu_us"]]
    lines += ["", f"Lost, duplicated or reordered messages: {'none' if not errors else ', '.join(errors)}."]
    if tool:
        lines.append(f"warren-perf's own CPU per message: median {statistics.median(tool):.2f} us.")
    # The analysis of the run (targets, gaps, profiles) is kept by hand in bench/analysis.md.
    notes = os.path.join(ROOT, "bench", "analysis.md")
    if os.path.exists(notes):
        with open(notes) as f:
            lines += ["", f.read().rstrip()]
    with open(os.path.join(ROOT, "BENCHMARKS.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def save(results, args):
    """Stores the results so far, stamped, and rewrites BENCHMARKS.md from them."""
    results["_run"] = {"finished": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                       "runs": args.runs, "seconds": args.seconds}
    write_report(results)
    with open(args.results, "w") as f:
        json.dump(results, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--only", help="comma-separated scenario names")
    ap.add_argument("--warren-port", type=int, default=5700)
    ap.add_argument("--rabbitmq-port", type=int, default=5682)
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite BENCHMARKS.md from the stored results (after editing bench/analysis.md)")
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results.json"),
                    help="raw results; with --only, earlier results of other scenarios are kept")
    args = ap.parse_args()
    wanted = set(args.only.split(",")) if args.only else None
    if args.report_only:
        with open(args.results) as f:
            write_report(json.load(f))
        print("wrote BENCHMARKS.md")
        return
    warren, data = start_warren(args.warren_port)
    brokers = {
        "rabbitmq": (rabbitmq_pid(args.rabbitmq_port), f"amqp://guest:guest@127.0.0.1:{args.rabbitmq_port}/%2f"),
        "warren": (warren.pid, f"amqp://guest:guest@127.0.0.1:{args.warren_port}/%2f"),
    }
    pin(brokers["rabbitmq"][0], "0")
    results = {}
    if args.only and os.path.exists(args.results):
        with open(args.results) as f:
            results = {k: v for k, v in json.load(f).items() if k not in wanted}
    try:
        for name, desc, flags, metric in SCENARIOS:
            if wanted and name not in wanted:
                continue
            results[name] = {"rabbitmq": [], "warren": []}
            for i in range(args.runs):
                for b in ("rabbitmq", "warren"):
                    pid, uri = brokers[b]
                    r = measure(pid, uri, flags, args.seconds, name in KEEP_AWAKE)
                    results[name][b].append(r)
                    print(f"{name} run {i + 1} {b}: {fmt(metric, r[metric])}, broker cpu {r['cpu_us']:.2f} us/msg, "
                          f"peak rss {fmt('rss', r['rss'])}", flush=True)
            save(results, args)
        for name, desc, awake in FLOORS:
            if wanted and name not in wanted:
                continue
            floor = results.setdefault("floor", {})
            floor[name] = []
            for i in range(args.runs):
                r = measure_floor(args.seconds, awake)
                floor[name].append(r)
                print(f"{name} run {i + 1}: p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms", flush=True)
            save(results, args)
    finally:
        stop_warren(warren, data)
    write_report(results)
    print("wrote BENCHMARKS.md")


if __name__ == "__main__":
    sys.exit(main())
