#!/usr/bin/env python3
"""A/B: Warren builds on the same scenarios of compare.py, alternating (A B A B) in one run,
each on a fresh data dir, pinned as compare.py pins them. For checking a change for a
regression on this noisy machine: compare the medians, and trust the broker CPU per message
more than the rates.

    python3 bench/ab.py OLD_BINARY NEW_BINARY [MORE...] --only S1,S3 [--runs 3] [--seconds 6]
"""

import argparse
import os
import signal
import statistics
import subprocess
import tempfile
import time

import compare


def start(binary, port):
    data = tempfile.mkdtemp(prefix="warren-ab-")
    log = open(os.path.join(data, "log"), "w")
    proc = subprocess.Popen(
        ["taskset", "-c", "0", binary, "--data-dir", os.path.join(data, "data"),
         "--amqp-listen", f"127.0.0.1:{port}", "--http-listen", "127.0.0.1:0"],
        stdout=log, stderr=subprocess.STDOUT, preexec_fn=compare.raise_nofile)
    time.sleep(1.0)
    return proc


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("binaries", nargs="+", help="warren binaries, labelled A, B, C...")
    ap.add_argument("--only", required=True, help="comma-separated scenario names")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=6)
    args = ap.parse_args()
    wanted = args.only.split(",")
    labels = [chr(ord("A") + i) for i in range(len(args.binaries))]
    brokers = {k: (b, 5711 + i) for i, (k, b) in enumerate(zip(labels, args.binaries))}
    for k, (b, _) in brokers.items():
        print(f"{k}: {b}", flush=True)
    procs = {k: start(binary, port) for k, (binary, port) in brokers.items()}
    try:
        for name, _desc, flags, metric in compare.SCENARIOS:
            if name not in wanted:
                continue
            got = {k: [] for k in labels}
            for i in range(args.runs):
                # Each round starts with the next build, so none always runs first or last.
                for k in labels[i % len(labels):] + labels[:i % len(labels)]:
                    uri = f"amqp://guest:guest@127.0.0.1:{brokers[k][1]}/%2f"
                    r = compare.measure(procs[k].pid, uri, flags, args.seconds,
                                        name in compare.KEEP_AWAKE)
                    got[k].append(r)
                    print(f"{name} run {i + 1} {k}: {compare.fmt(metric, r[metric])}, "
                          f"broker cpu {r['cpu_us']:.2f} us/msg", flush=True)
            for k in labels:
                m = statistics.median(r[metric] for r in got[k])
                cpu = statistics.median(r["cpu_us"] for r in got[k])
                print(f"{name} median {k}: {compare.fmt(metric, m)}, broker cpu {cpu:.2f} us/msg",
                      flush=True)
    finally:
        for p in procs.values():
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)


if __name__ == "__main__":
    main()
