#!/usr/bin/env python3
"""Reproducible many-small-files data: an SS-MIX2-like storage of HL7 v2.5 messages (no downloads).

usage: gen_small.py DIR [FILES]   (default 200,000 files, ~4 KiB each, ~790 MB)
Layout as SS-MIX2 standard storage: <3-digit>/<3-digit>/<patient id>/<date>/<data type>/<file>.
"""
import os
import random
import sys

root = sys.argv[1]
files = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
rng = random.Random(20261201)
segments = [b"PID|||%d^^^^PI||YAMADA^TARO||19580312|M", b"PV1||O|01^^^^^C", b"OBX|%d|NM|3094-0^BUN||%d|mg/dL",
            b"OBX|%d|NM|2160-0^Creatinine||1.%d|mg/dL", b"ORC|NW|%d", b"AL1|1|DA|%d^penicillin",
            b"NTE|1||\x1b$B%d\x1b(B follow-up", b"RXE||%d^amlodipine^HOT|5||mg"]
total = 0
for i in range(files):
    pid = 10_000_000 + i // 8
    d = os.path.join(root, f"{pid % 1000:03d}", f"{pid // 1000 % 1000:03d}", str(pid), f"2026{1 + i % 12:02d}{1 + i % 28:02d}", "OMP-01")
    os.makedirs(d, exist_ok=True)
    target = rng.randint(1500, 6800)
    parts = [b"MSH|^~\\&|HIS|CLINIC|||202612011200||OMP^O09|%d|P|2.5" % i]
    size = len(parts[0])
    while size < target:
        seg = rng.choice(segments)
        seg = seg % tuple(rng.randint(1, 999999) for _ in range(seg.count(b"%d")))
        parts.append(seg)
        size += len(seg) + 1
    data = b"\r".join(parts) + b"\r"
    with open(os.path.join(d, f"{pid}_OMP-01_{i:08d}_1.hl7"), "wb") as f:
        f.write(data)
    total += len(data)
print(f"{files} small files ({total >> 20} MiB) in {root}")
