#!/usr/bin/env python3
"""Summarise `go test -json` output, or compare two: gotest_json.py A.json [B.json]"""
import json, sys

def load(p):
    res = {}
    for line in open(p):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("Test") and e["Action"] in ("pass", "fail", "skip"):
            res[e["Test"]] = e["Action"]
    return res

rs = [load(p) for p in sys.argv[1:]]
for p, r in zip(sys.argv[1:], rs):
    c = {k: sum(1 for v in r.values() if v == k) for k in ("pass", "fail", "skip")}
    print(f"{p}: passed={c['pass']} failed={c['fail']} skipped={c['skip']}")
if len(rs) == 2:
    for t in sorted(set(rs[0]) | set(rs[1])):
        a, b = rs[0].get(t, "missing"), rs[1].get(t, "missing")
        if a != b:
            print(f"{a:>8} -> {b:<8} {t}")
