#!/usr/bin/env python3
"""Proof, with strace, that Warren confirms a persistent message only after an fsync covers it.

Scenario S4 (warren-perf -x 1 -y 1 -s 1024 -c 1000 -q 1000 -f: persistent 1 KiB messages to a
durable queue, publisher confirms), rate-limited so strace's overhead does not matter.

How: Warren runs under `strace -f -ttt -T -yy -xx`, which logs every write, fsync and socket
send with its thread, entry time, duration, the file or TCP endpoint behind the fd, and the
bytes written. From that log the script
  * rebuilds the journal (`messages/*.seg`) from the bytes written to it. Each record is
    `[u32 len][u32 crc][payload]` (src/store/segment.rs). The payload holds the envelope, the
    exchange, the routing key, the properties and the body (src/store/record.rs). The body's
    bytes 8..16 are warren-perf's `producer << 48 | seq` (perf/src/body.rs). So each
    message's record is tied to the write() that put it in the file, and to when that write
    returned;
  * takes each fsync/fdatasync of that file and when it returned (`<unfinished ...>` and
    `<... resumed>` halves from different threads are joined);
  * decodes the AMQP frames the broker sent on each client socket and finds the confirms:
    basic.ack, class 60 method 80 (a nack, 60/120, is counted but makes no promise).
A message is durable once an fsync of its file has returned, and that fsync must have
started after the write holding the record returned. Publish seq s has delivery tag s + 1:
warren-perf numbers from 0 on one channel, and confirm tags count from 1. The check: every
ack of tag N (with `multiple`, of every tag not acked yet up to N) is sent after message
N - 1 was durable. "Sent" means the socket write started. All times are the tracer's, and
the tracer sees an fsync return before that thread can go on to send the confirm. So a
correct broker cannot fail the check, and it passes no confirm that could outrun its fsync.
To show the check has teeth, it is run again on deliberately wrong data (no fsyncs, fsyncs
5 ms late, each tag made to need the next message). Each of those runs must find violations.
/proc/PID/io of the broker before and after the run is printed as supporting evidence.

`--transient` is a negative control on the real broker: without -f nothing is journalled
and confirms go out at once, so every confirm must be reported as a violation (exit 1).

Usage: python3 bench/fsync_proof.py [--warren PATH] [--perf PATH] [--seconds N] [--rate N]
"""
import argparse, bisect, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRACED = "write,writev,pwrite64,pwritev,sendto,sendmsg,fsync,fdatasync,sync_file_range"
LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
CALL = re.compile(r"^(\w+)\((\d+)<(.*?)>(?=[,) ])")
RET = re.compile(r"\)\s+=\s+(-?\d+)[^<]*<(\d+\.\d+)>\s*$")
STR = re.compile(r'"((?:\\x[0-9a-f]{2})*)"')
HEX = re.compile(r"\\x([0-9a-f]{2})")
INF = float("inf")


def syscalls(path):
    """Yields (name, fd path, entry time, return time, return value, bytes) per finished call."""
    pending = {}
    with open(path) as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            tid, ts, rest = m.group(1), float(m.group(2)), m.group(3).rstrip()
            if rest.startswith("<... "):  # the second half of a call interrupted in the log
                if tid not in pending:
                    continue
                start, head = pending.pop(tid)
                text, end = head + rest.split("resumed>", 1)[1], ts
            elif rest.endswith("<unfinished ...>"):
                pending[tid] = (ts, rest[: -len("<unfinished ...>")])
                continue
            else:
                start, text, end = ts, rest, 0.0
            c, r = CALL.match(text), RET.search(text)
            if not c or not r:
                continue
            end = max(end, start + float(r.group(2)))
            fdpath = HEX.sub(lambda h: chr(int(h.group(1), 16)), c.group(3))
            data = b"".join(bytes.fromhex(s.replace("\\x", "")) for s in STR.findall(text[c.end():r.start()]))
            yield c.group(1), fdpath, start, end, int(r.group(1)), data


def decode_record(p):
    """(seq, size breakdown) of a message record's payload (src/store/record.rs), else None."""
    if len(p) < 29 or p[0] != 1:
        return None
    pos = 29 + 8 * int.from_bytes(p[27:29], "big")
    ex = p[pos]; rk = p[pos + 1 + ex]
    plen = int.from_bytes(p[pos + 2 + ex + rk: pos + 6 + ex + rk], "big")
    body = p[pos + 6 + ex + rk + plen:]
    parts = dict(frame_header=8, envelope=pos, exchange=1 + ex, routing_key=1 + rk,
                 properties=4 + plen, body=len(body))
    return int.from_bytes(body[8:16], "big") & ((1 << 48) - 1), parts


def parse(trace, data_dir, port):
    jbuf, streams, records, syncs, confirms = {}, {}, {}, {}, []
    st = dict(journal_bytes=0, journal_writes=0, ack_bytes=0, nacks=0, fsyncs=0, example=None)
    for name, fdp, start, end, ret, data in syscalls(trace):
        if name in ("fsync", "fdatasync"):
            if fdp.startswith(data_dir) and fdp.endswith(".seg") and ret == 0:
                syncs.setdefault(fdp, []).append((start, end)); st["fsyncs"] += 1
            continue
        if name == "sync_file_range" or ret <= 0:
            continue
        if len(data) < ret:
            sys.exit(f"strace truncated a {name} to {fdp}: raise -s")
        data = data[:ret]
        if fdp.startswith(data_dir) and fdp.endswith(".ack"):
            st["ack_bytes"] += ret
        elif fdp.startswith(data_dir) and fdp.endswith(".seg"):
            st["journal_bytes"] += ret; st["journal_writes"] += 1
            buf = jbuf.setdefault(fdp, bytearray()); buf += data
            while len(buf) >= 8 and len(buf) >= 8 + int.from_bytes(buf[:4], "big"):
                n = int.from_bytes(buf[:4], "big")
                rec = decode_record(bytes(buf[8:8 + n]))
                if rec:
                    records.setdefault(rec[0], (fdp, end)); st["example"] = st["example"] or rec[1]
                del buf[:8 + n]
        elif fdp.startswith("TCP:[") and f":{port}->" in fdp:
            s = streams.setdefault(fdp, [bytearray(), start]); old = len(s[0]); s[0] += data
            pos = 0
            while len(s[0]) - pos >= 8:
                size = int.from_bytes(s[0][pos + 3:pos + 7], "big")
                if len(s[0]) - pos < size + 8:
                    break
                if s[0][pos + 7 + size] != 0xCE:
                    sys.exit(f"lost AMQP framing on {fdp}")
                f, t = bytes(s[0][pos:pos + 8 + size]), (s[1] if pos < old else start)
                if f[0] == 1 and f[7:11] == b"\x00\x3c\x00\x50":  # basic.ack 60/80
                    ch, tag = int.from_bytes(f[1:3], "big"), int.from_bytes(f[11:19], "big")
                    confirms.append((t, fdp, ch, tag, bool(f[19] & 1)))
                elif f[0] == 1 and f[7:11] == b"\x00\x3c\x00\x78":  # basic.nack 60/120
                    st["nacks"] += 1
                pos += 8 + size
            del s[0][:pos]
            if pos >= old:  # what is left began in this write
                s[1] = start
    return records, syncs, confirms, st


def check(records, syncs, confirms, fsync_delay=0.0, tag_shift=0, drop_fsyncs=False):
    """Returns (tags checked, violations, [durable-to-confirm gaps], {fsync: messages})."""
    durable, covering = {}, {}
    for path, lst in syncs.items():
        if drop_fsyncs:
            continue
        lst = sorted(lst)
        starts = [s for s, _ in lst]
        best, suffix = (INF, None), [None] * len(lst)
        for i in range(len(lst) - 1, -1, -1):  # earliest return among fsyncs entered from i on
            best = min(best, (lst[i][1] + fsync_delay, i)); suffix[i] = best
        for seq, (p, wend) in records.items():
            i = bisect.bisect_left(starts, wend)
            if p == path and i < len(lst):
                durable[seq] = suffix[i][0]
                covering[(path, suffix[i][1])] = covering.get((path, suffix[i][1]), 0) + 1
    acked, checked, bad, gaps = {}, 0, [], []
    for t, sock, ch, tag, multiple in sorted(confirms):
        last = acked.get((sock, ch), 0)
        for n in range(last + 1 if multiple else tag, tag + 1):
            checked += 1
            d = durable.get(n - 1 + tag_shift, INF)
            if d >= t:
                bad.append((n, t, d))
            else:
                gaps.append(t - d)
        acked[(sock, ch)] = max(last, tag)
    return checked, bad, gaps, covering


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_io(pid):
    with open(f"/proc/{pid}/io") as f:
        return {k: int(v) for k, v in (l.split(":") for l in f)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warren", default=os.path.join(ROOT, "target/release/warren"))
    ap.add_argument("--perf", default=os.path.join(ROOT, "target/release/warren-perf"))
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--rate", type=int, default=2000, help="publish rate limit, msg/s")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (trace, data)")
    ap.add_argument("--transient", action="store_true",
                    help="negative control: drop -f, so confirms need no fsync; expect violations")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="warren-fsync-")
    data_dir, trace = os.path.join(tmp, "data"), os.path.join(tmp, "strace.log")
    port, http = free_port(), free_port()
    tracer = subprocess.Popen(
        ["strace", "-f", "-ttt", "-T", "-yy", "-xx", "-s", "1048576", "-o", trace, "-e", "trace=" + TRACED,
         a.warren, "--data-dir", data_dir, "--amqp-listen", f"127.0.0.1:{port}", "--http-listen", "127.0.0.1:0",
         "--http-listen", f"127.0.0.1:{http}"],
        stdout=open(os.path.join(tmp, "warren.log"), "w"), stderr=subprocess.STDOUT)
    pid = None
    try:
        for _ in range(200):
            try:
                kids = open(f"/proc/{tracer.pid}/task/{tracer.pid}/children").read().split()
                pid = pid or (int(kids[0]) if kids else None)
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            sys.exit("warren did not start")
        io0 = proc_io(pid)
        flags = ["-x", "1", "-y", "1", "-s", "1024", "-c", "1000", "-q", "1000"] + ["-f"] * (
            not a.transient) + ["-r", str(a.rate), "-z", str(a.seconds)]
        out = subprocess.run([a.perf, "--uri", f"amqp://guest:guest@127.0.0.1:{port}/%2f", "--json"]
                             + flags, capture_output=True, text=True, timeout=a.seconds + 120)
        if out.returncode != 0:
            sys.exit(f"warren-perf failed: {out.stderr[-500:]}")
        perf = json.loads([l for l in out.stdout.splitlines() if l.startswith("{")][-1])
        io1 = proc_io(pid)
    finally:
        if pid:
            os.kill(pid, signal.SIGINT)
        try:
            tracer.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(pid, signal.SIGKILL); tracer.wait()
    records, syncs, confirms, st = parse(trace, data_dir, port)
    checked, bad, gaps, covering = check(records, syncs, confirms)
    print(f"warren-perf {' '.join(flags)}: published {perf['published']}, "
          f"confirmed {perf['confirmed']}, consumed {perf['consumed']}, nacked {perf['nacked']}")
    ex = st["example"] or {}
    print(f"journal: {st['journal_bytes']} bytes in {st['journal_writes']} writes, {len(records)} message "
          f"records of {sum(ex.values())} bytes each ({' + '.join(f'{k} {v}' for k, v in ex.items())}); "
          f"ack files: {st['ack_bytes']} bytes")
    print(f"fsyncs of the journal: {st['fsyncs']}; {len(records)} records became durable in "
          f"{len(covering)} of them: {len(records) / max(1, len(covering)):.1f} messages per fsync "
          f"(group commit)")
    gaps.sort()
    print(f"confirms: {len(confirms)} basic.ack frames for {checked} delivery tags, {st['nacks']} nacks; "
          f"fsync return -> confirm send: median {1e6 * gaps[len(gaps) // 2] if gaps else 0:.0f} us, "
          f"min {1e6 * gaps[0] if gaps else 0:.0f} us")
    d = {k: io1[k] - io0[k] for k in ("syscw", "write_bytes", "cancelled_write_bytes")}
    print(f"/proc/{pid}/io during the run: syscw +{d['syscw']}, write_bytes +{d['write_bytes']} "
          f"(journal + ack bytes written: {st['journal_bytes'] + st['ack_bytes']}; write_bytes counts a "
          f"4 KiB page each time it is dirtied again after an fsync cleaned it)")
    ok = True
    for label, kw in [("no fsyncs at all", dict(drop_fsyncs=True)),
                      ("each fsync returning 5 ms later", dict(fsync_delay=0.005)),
                      ("each tag N needing message N+1", dict(tag_shift=1))]:
        n = len(check(records, syncs, confirms, **kw)[1])
        print(f"checker sanity, {label}: {n} violations (must be > 0)")
        ok &= n > 0
    if checked == 0 or checked < perf["confirmed"]:
        print(f"FAIL: {checked} tags in the trace but warren-perf saw {perf['confirmed']} confirms"); ok = False
    for n, t, dt in bad[:10]:
        print(f"VIOLATION: tag {n} confirmed at {t:.6f}, durable " + (f"at {dt:.6f}" if dt < INF else "never"))
    print(f"violations: {len(bad)}")
    if a.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if ok and not bad else 1)


if __name__ == "__main__":
    main()
