#!/usr/bin/env python3
"""Side-by-side TLS benchmark of Warren and the reference RabbitMQ 3.10 (bench/compare.py's
helpers, pinning and CPU accounting), every connection over TLS:

  S1  1 producer -> 1 consumer, 16 B, no confirms, auto-ack (throughput, broker CPU/msg)
  S3  16 B, confirms (<=1000 outstanding), manual ack, prefetch 1000 (same figures)
  H1  TLS connections opened and closed per second, 8 in flight (perf/examples/
      connection_churn.rs: TCP connect, full TLS handshake without resumption, AMQP
      handshake, connection.close), and broker CPU per connection
  H0  H1 over plain TCP, for scale (what the TLS handshake adds)

Both brokers get the same certificate (ECDSA P-256, made here with the openssl CLI), TLS 1.2
and 1.3 allowed, no client certificates (verify_none); the client (warren-perf, rustls)
offers X25519 first, as OpenSSL and Erlang do, and reports what it negotiated. Warren gets
an [amqp.tls] listener from a config file. The reference node (reference-rabbitmq, as
compare.py uses) gets an SSL listener at run time through `rabbitmqctl eval`:
rabbit_networking:start_ssl_listener/4 with the ssl_options set in the rabbit application
(what the node does at boot for `listeners.ssl.*` and `ssl_options.*`); it shows in
/api/overview as an amqp/ssl listener, and the script stops it at the end.

Writes bench/tls.md (and the raw figures to bench/tls.json). Needs the release binaries:
    cargo build --release -p warren -p warren-perf --example connection_churn
    python3 bench/tls.py --runs 3 --seconds 5
"""
import argparse
import datetime
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ of compare.py in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import (RELEASE, ROOT, SCENARIOS, cpu_seconds, fmt, machine, measure, pin,  # noqa: E402
                     rabbitmq_pid, raise_nofile, ratio, start_warren, stop_warren, summary)

REFERENCE = os.path.join(os.path.dirname(ROOT), "shared", "tools", "reference-rabbitmq")
THROUGHPUT = [s for s in SCENARIOS if s[0] in ("S1", "S3")]
CHURN = [
    ("H1", "TLS connections opened and closed, 8 in flight", True),
    ("H0", "as H1 over plain TCP (for scale)", False),
]
CONCURRENCY = 8


def make_certs(d):
    """CA, and a server certificate for localhost and 127.0.0.1 (README's recipe)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for args in (
        ["req", "-x509", *ec, "-days", "2", "-subj", "/CN=bench CA", "-keyout", "ca.key", "-out", "ca.crt"],
        ["req", *ec, "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", "server.key", "-out", "server.csr"],
        ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-days", "2", "-copy_extensions", "copy", "-out", "server.crt"],
    ):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    # RabbitMQ runs as the rabbitmq user: it must read them.
    os.chmod(d, 0o755)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)
    return {k: os.path.join(d, f) for k, f in (("ca", "ca.crt"), ("cert", "server.crt"), ("key", "server.key"))}


def ctl(port, *args):
    out = subprocess.run([REFERENCE, "ctl", str(port), *args], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"reference-rabbitmq ctl {port} {' '.join(args)}: {out.stderr.strip()[-500:]}")
    return out.stdout.strip()


def erl_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rabbitmq_tls_listener(port, tls_port, certs):
    """Starts an SSL listener on the running reference node, as `listeners.ssl.1` would."""
    opts = (f"[{{certfile,{erl_str(certs['cert'])}}},{{keyfile,{erl_str(certs['key'])}}},"
            f"{{cacertfile,{erl_str(certs['ca'])}}},{{verify,verify_none}},{{fail_if_no_peer_cert,false}},"
            "{versions,['tlsv1.3','tlsv1.2']}]")
    out = ctl(port, "eval",
              f"application:set_env(rabbit, ssl_options, {opts}), "
              f"rabbit_networking:start_ssl_listener({{\"127.0.0.1\", {tls_port}}}, rabbit_networking:ensure_ssl(), 10, 1).")
    if out.splitlines()[-1:] != ["ok"]:
        raise RuntimeError(f"starting RabbitMQ's SSL listener on {tls_port}: {out}")


def rabbitmq_stop_tls_listener(port, tls_port):
    ctl(port, "eval", f"rabbit_networking:stop_tcp_listener({{\"127.0.0.1\", {tls_port}}}).")
    ctl(port, "eval", "application:set_env(rabbit, ssl_options, []).")


def warren_config(d, tls_port, certs):
    path = os.path.join(d, "warren.toml")
    with open(path, "w") as f:
        f.write(f"[amqp.tls]\nlisten = \"127.0.0.1:{tls_port}\"\ncertfile = {json.dumps(certs['cert'])}\n"
                f"keyfile = {json.dumps(certs['key'])}\nversions = [\"tlsv1.2\", \"tlsv1.3\"]\n")
    return path


def wait_tls(port, ca, limit=20.0):
    """Waits until 127.0.0.1:port completes a TLS handshake (Python's ssl, trusting `ca`)."""
    ctx = ssl.create_default_context(cafile=ca)
    end = time.time() + limit
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s, \
                    ctx.wrap_socket(s, server_hostname="localhost"):
                return
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.2)


def measure_churn(pid, uri, seconds):
    exe = os.path.join(RELEASE, "examples", "connection_churn")
    cpu0 = cpu_seconds(pid)
    out = subprocess.run(["taskset", "-c", "1", exe, uri, str(seconds), str(CONCURRENCY)],
                         capture_output=True, text=True, timeout=seconds + 120, preexec_fn=raise_nofile)
    cpu = cpu_seconds(pid) - cpu0
    if out.returncode != 0:
        raise RuntimeError(f"connection_churn failed: {out.stderr.strip()[-500:]} {out.stdout.strip()[-300:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return {"rate": r["rate"], "cpu_us": cpu * 1e6 / r["connections"] if r["connections"] else 0,
            "tls": r["tls"], "lost": 0}


def report(results, args):
    """Writes bench/tls.md and bench/tls.json from the results (and the run's arguments)."""
    sessions = {b: sorted({x["tls"] for x in results["H1"][b]}) for b in ("rabbitmq", "warren")} if "H1" in results else {}
    lines = [
        "# Warren vs RabbitMQ 3.10 over TLS", "",
        f"Run {results['_finished']} on {machine()}, by `python3 bench/tls.py --runs {args['runs']} "
        f"--seconds {args['seconds']}`; {args['runs']} runs of {args['seconds']} s per scenario and broker, alternating "
        "brokers (A B A B); medians with [min-max]. Broker pinned to core 0, load tool (warren-perf, "
        "rustls client) to core 1. Ratios are Warren's advantage (Warren/RabbitMQ for rates, "
        "RabbitMQ/Warren for CPU). Broker CPU is utime+stime of the broker process over the run, per "
        "message consumed (S1, S3) or per connection opened and closed (H0, H1).", "",
        "Same server certificate for both (ECDSA P-256), no client certificates; the client offers X25519 "
        "first (as OpenSSL and Erlang do); negotiated (H1): "
        + ", ".join(f"{b} {' / '.join(v)}" for b, v in sessions.items()) + ". RabbitMQ's listener is added "
        "to the reference node at run time (`rabbit_networking:start_ssl_listener/4` through "
        "`rabbitmqctl eval`, with `ssl_options` set as the config file would); Warren's comes from "
        "`[amqp.tls]`. Every H1 connection is a full handshake (the client keeps no sessions).", "",
        "| scenario | what | metric | RabbitMQ | Warren | ratio | broker CPU RabbitMQ | Warren | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, desc, unit in [(n, d, "msg") for n, d, _, _ in THROUGHPUT] + [(n, d, "conn") for n, d, _ in CHURN]:
        if name not in results:
            continue
        r, w = results[name]["rabbitmq"], results[name]["warren"]
        (rm, rlo, rhi), (wm, wlo, whi) = summary(r, "rate"), summary(w, "rate")
        (rc, _, _), (wc, _, _) = summary(r, "cpu_us"), summary(w, "cpu_us")
        if unit == "msg":
            rate = lambda v: fmt("rate", v)  # noqa: E731
        else:
            rate = lambda v: f"{v:.0f} conn/s"  # noqa: E731
        lines.append(f"| {name} | {desc} | {unit}/s | {rate(rm)} [{rate(rlo)}-{rate(rhi)}] | "
                     f"{rate(wm)} [{rate(wlo)}-{rate(whi)}] | {ratio('rate', rm, wm)} | "
                     f"{fmt('cpu_us', rc)}/{unit} | {fmt('cpu_us', wc)}/{unit} | {ratio('cpu_us', rc, wc)} |")
    lost = [f"{n}/{b}" for n in results if not n.startswith("_") for b in ("rabbitmq", "warren")
            for x in results[n][b] if x.get("lost")]
    lines += ["", f"Lost, duplicated or reordered messages: {'none' if not lost else ', '.join(lost)}."]
    for name in ("H1", "H0"):
        if name in results:
            busy = {b: summary(results[name][b], "rate")[0] * summary(results[name][b], "cpu_us")[0] / 1e4
                    for b in ("rabbitmq", "warren")}
            lines.append(f"{name}: the broker's core was busy {busy['rabbitmq']:.0f}% (RabbitMQ) and "
                         f"{busy['warren']:.0f}% (Warren) of the time; well under 100%, the load tool (one core, "
                         "8 connections in flight) bounds the rate, not the broker: compare CPU per connection.")
    if "_load" in results:
        before, after = results["_load"]
        lines.append(f"Load average (1 min) on the machine: {before:.2f} before the run, {after:.2f} after it "
                     f"(other work shares these {os.cpu_count()} cores: read the ratios, not the absolute figures).")
    with open(os.path.join(ROOT, "bench", "tls.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(ROOT, "bench", "tls.json"), "w") as f:
        json.dump(results, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--warren-port", type=int, default=5770, help="plain AMQP; TLS on the next port")
    ap.add_argument("--rabbitmq-port", type=int, default=5682, help="the reference node (started if needed)")
    ap.add_argument("--rabbitmq-tls-port", type=int, default=5772)
    ap.add_argument("--report-only", action="store_true", help="rewrite bench/tls.md from bench/tls.json")
    args = ap.parse_args()
    if args.report_only:
        with open(os.path.join(ROOT, "bench", "tls.json")) as f:
            results = json.load(f)
        report(results, results["_args"])
        print("wrote bench/tls.md")
        return
    for exe in ("warren", "warren-perf", "examples/connection_churn"):
        if not os.path.exists(os.path.join(RELEASE, exe)):
            sys.exit(f"{RELEASE}/{exe} is missing: "
                     "cargo build --release -p warren -p warren-perf --example connection_churn")
    subprocess.run([REFERENCE, "start", str(args.rabbitmq_port)], check=True, stdout=subprocess.DEVNULL)
    d = tempfile.mkdtemp(prefix="warren-tls-bench-")
    certs = make_certs(d)
    wtls = args.warren_port + 1
    rabbitmq_tls_listener(args.rabbitmq_port, args.rabbitmq_tls_port, certs)
    warren, data = start_warren(args.warren_port, ["--config", warren_config(d, wtls, certs)])
    rabbit = rabbitmq_pid(args.rabbitmq_port)
    try:
        tls_uri = "amqps://guest:guest@localhost:{}/%2f?cacertfile=" + certs["ca"]
        brokers = {
            "rabbitmq": (rabbit, tls_uri.format(args.rabbitmq_tls_port),
                         f"amqp://guest:guest@127.0.0.1:{args.rabbitmq_port}/%2f"),
            "warren": (warren.pid, tls_uri.format(wtls), f"amqp://guest:guest@127.0.0.1:{args.warren_port}/%2f"),
        }
        wait_tls(args.rabbitmq_tls_port, certs["ca"])
        wait_tls(wtls, certs["ca"])
        pin(rabbit, "0")
        results = {"_args": {"runs": args.runs, "seconds": args.seconds}, "_load": [os.getloadavg()[0]]}
        for name, _, flags, _ in THROUGHPUT:
            results[name] = {"rabbitmq": [], "warren": []}
            for i in range(args.runs):
                for b, (pid, uri, _) in brokers.items():
                    r = measure(pid, uri, flags, args.seconds)
                    results[name][b].append(r)
                    print(f"{name} run {i + 1} {b}: {fmt('rate', r['rate'])}, broker cpu {r['cpu_us']:.2f} us/msg",
                          flush=True)
        for name, _, tls in CHURN:
            results[name] = {"rabbitmq": [], "warren": []}
            for i in range(args.runs):
                for b, (pid, tls_u, plain_u) in brokers.items():
                    r = measure_churn(pid, tls_u if tls else plain_u, args.seconds)
                    results[name][b].append(r)
                    print(f"{name} run {i + 1} {b}: {r['rate']:.0f} conn/s, broker cpu {r['cpu_us']:.0f} us/conn"
                          f" ({r['tls']})", flush=True)
        results["_finished"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        results["_load"].append(os.getloadavg()[0])
        report(results, results["_args"])
        print("wrote bench/tls.md")
    finally:
        pin(rabbit, "0-" + str(os.cpu_count() - 1))
        rabbitmq_stop_tls_listener(args.rabbitmq_port, args.rabbitmq_tls_port)
        stop_warren(warren, data)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
