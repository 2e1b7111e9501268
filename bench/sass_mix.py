"""What a kernel executes, per SASS opcode: reads the CSV of
  ncu --import REP --page source --csv --print-source sass
(a report taken with --section SourceCounters) and prints the executed warp-level instructions
per opcode (the first word, predicate stripped), then every instruction of the memory and
synchronisation kinds that matter for a reduction design (RED, ATOM, UTMA*, UBLK*, STG, STS,
STSM, LDS, LDSM, SYNCS, BAR, MEMBAR, CCTL) with its own count, in program order.

  python3 bench/sass_mix.py src.csv
"""
import csv
import re
import sys
from collections import Counter

KINDS = ("RED", "ATOM", "UTMA", "UBLK", "STG", "STS", "STSM", "LDS", "LDSM", "SYNCS", "BAR",
         "MEMBAR", "CCTL", "FENCE", "ST.", "LDG")


def number(x):
    try:
        return float(str(x).replace(",", ""))
    except ValueError:
        return 0.0


def main():
    with open(sys.argv[1], newline="") as f:
        lines = f.read().splitlines()
    start = next((i for i, l in enumerate(lines) if "Source" in l and "Address" in l), None)
    if start is None:
        print("no table header; first lines:", *lines[:5], sep="\n")
        return
    rows = list(csv.DictReader(lines[start:]))
    cols = list(rows[0].keys())
    executed = next((c for c in cols if c.startswith("Instructions Executed")), None)
    if executed is None:
        print("no 'Instructions Executed' column; columns:", cols)
        return
    per_op = Counter()
    picked = []
    for r in rows:
        text = r.get("Source", "").strip()
        op = re.sub(r"^@!?U?P\w+\s+", "", text).split(" ")[0]
        n = number(r[executed])
        per_op[op.split(".")[0]] += n
        if n > 0 and any(op.startswith(k) for k in KINDS):
            picked.append((r.get("Address", ""), n, text))
    total = sum(per_op.values()) or 1.0
    print(f"{len(rows)} instructions, {total:.4g} executed (warp level)")
    for op, n in per_op.most_common(30):
        print(f"{100 * n / total:6.2f}%  {n:12.4g}  {op}")
    print("\nmemory / synchronisation instructions (address, executed, text):")
    for addr, n, text in picked:
        print(f"  {addr}  {n:12.4g}  {text[:110]}")


if __name__ == "__main__":
    main()
