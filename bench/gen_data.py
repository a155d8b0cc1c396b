#!/usr/bin/env python3
"""Reproducible benchmark data: many small text files plus large binary files (no downloads).

usage: gen_data.py DIR [TOTAL_MB]   (default 2100 MB)
Small files look like clinic notes/HL7 text (compressible); large files are half random
(like compressed DICOM/JPEG), half repetitive (like uncompressed images or dumps).
"""
import os
import random
import sys

root = sys.argv[1]
total_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 2100
rng = random.Random(20261125)
words = [b"patient", b"allergy", b"penicillin", b"BP", b"120/80", b"HbA1c", b"6.2", b"OBX", b"PID",
         b"\xe3\x82\xa2\xe3\x83\xac\xe3\x83\xab\xe3\x82\xae\xe3\x83\xbc", b"note", b"follow-up", b"|", b"^"]

small_files = 20000
small_bytes = 0
for i in range(small_files):
    d = os.path.join(root, "records", f"{i % 97:03d}", f"{i % 13:02d}")
    os.makedirs(d, exist_ok=True)
    n = rng.randint(200, 9000)
    parts = []
    size = 0
    while size < n:
        w = rng.choice(words)
        parts.append(w)
        size += len(w) + 1
    data = b" ".join(parts)
    with open(os.path.join(d, f"note-{i:06d}.txt"), "wb") as f:
        f.write(data)
    small_bytes += len(data)

large_total = total_mb * 1024 * 1024 - small_bytes
large_size = 48 * 1024 * 1024
count = max(1, large_total // large_size)
os.makedirs(os.path.join(root, "images"), exist_ok=True)
for i in range(count):
    half = large_size // 2
    block = rng.randbytes(4096)
    with open(os.path.join(root, "images", f"study-{i:03d}.dcm"), "wb") as f:
        # DICOM PS3.10: 128-byte preamble, "DICM", then the file meta group (0002,0000) UL.
        header = bytes(128) + b"DICM" + bytes([2, 0, 0, 0, ord("U"), ord("L"), 4, 0]) + (200).to_bytes(4, "little")
        f.write(header)
        f.write(rng.randbytes(half - len(header)))
        f.write(block * (half // 4096))
print(f"{small_files} small files ({small_bytes >> 20} MiB), {count} large files ({(count * large_size) >> 20} MiB) in {root}")
