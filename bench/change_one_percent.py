#!/usr/bin/env python3
"""Change 1% of the files of a benchmark tree (deterministic for a given round)."""
import os
import random
import sys

root, round_no = sys.argv[1], int(sys.argv[2])
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
rng = random.Random(round_no)
for path in rng.sample(files, max(1, len(files) // 100)):
    # An edit in place (past any file header), as an application saving a record would do.
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(size // 2)
        f.write(f" changed in round {round_no} ".encode())
