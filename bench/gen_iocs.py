#!/usr/bin/env python3
"""Writes N synthetic indicators as a CSV feed (type,value,description): a mix
of SHA-256, MD5, domains, IPv4 addresses and /24 networks, seeded, none of
them in the benchmark corpus (the cost measured is the lookups, not the
findings)."""
import argparse, random

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--count", type=int, default=10000)
p.add_argument("--seed", type=int, default=42)
a = p.parse_args()
r = random.Random(a.seed)
with open(a.out, "w") as f:
    f.write("type,value,description\n")
    for i in range(a.count):
        k = i % 5
        if k == 0:
            f.write(f"sha256,{r.getrandbits(256):064x},bench\n")
        elif k == 1:
            f.write(f"md5,{r.getrandbits(128):032x},bench\n")
        elif k == 2:
            f.write(f"domain,h{r.getrandbits(40):x}.bench-ioc.example,bench\n")
        elif k == 3:
            f.write(f"ip,198.{r.randrange(18, 20)}.{r.randrange(256)}.{r.randrange(256)},bench\n")
        else:
            f.write(f"cidr,100.{r.randrange(64, 128)}.{r.randrange(256)}.0/24,bench\n")
