#!/usr/bin/env python3
"""Compare two JUnit XML reports (reference RabbitMQ vs Warren) test by test.

    junit_diff.py rabbitmq.xml warren.xml

Prints counts for each report and every test whose outcome differs.
"""
import sys
import xml.etree.ElementTree as ET


def outcomes(path):
    """name -> (outcome, message); the name is the innermost <testsuite> name, classname and
    test name, with a #n suffix when the same name occurs twice (node's junit reporter nests
    suites and, for a cancelled file, leaves an <undefined> element open around the rest)."""
    res = {}

    def walk(el, prefix):
        for child in el:
            if child.tag == "testcase":
                base = (prefix[-1] if prefix else "") + "::" + f"{child.get('classname', '')}::{child.get('name')}"
                name, n = base, 1
                while name in res:
                    n += 1
                    name = f"{base}#{n}"
                kind, msg = "passed", ""
                for sub in child:
                    if sub.tag in ("failure", "error", "skipped"):
                        kind = {"failure": "failed", "error": "error", "skipped": "skipped"}[sub.tag]
                        lines = (sub.get("message") or sub.text or "").strip().splitlines()
                        msg = lines[0][:200] if lines else ""
                        break
                res[name] = (kind, msg)
            elif child.tag not in ("properties", "property", "system-out", "system-err"):
                # <testsuite>, and node's reporter writes <undefined> for a cancelled suite
                walk(child, prefix + [child.get("name", "")])

    root = ET.parse(path).getroot()
    walk(root if root.tag == "testsuites" else [root], [])
    return res


def counts(res):
    c = {}
    for kind, _ in res.values():
        c[kind] = c.get(kind, 0) + 1
    return ", ".join(f"{k}={c.get(k, 0)}" for k in ("passed", "failed", "error", "skipped"))


a, b = outcomes(sys.argv[1]), outcomes(sys.argv[2])
print("reference:", counts(a))
print("warren:   ", counts(b))
for name in sorted(set(a) | set(b)):
    ka = a.get(name, ("missing", ""))
    kb = b.get(name, ("missing", ""))
    if ka[0] != kb[0]:
        print(f"{ka[0]:>8} -> {kb[0]:<8} {name}\n      warren: {kb[1]}\n      rabbit: {ka[1]}")
