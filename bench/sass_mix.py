"""What a kernel executes, per SASS opcode: reads the CSV of
  ncu --import REP --page source --csv --print-source sass
(a report taken with --section SourceCounters) and prints the executed warp-level instructions
per opcode (the first word, predicate stripped), the tensor-core work per wgmma shape (FLOPs
executed: compare with the problem's to see recomputation), then every instruction of the
memory and synchronisation kinds that matter for a reduction design (RED, ATOM, UTMA*, UBLK*,
STG, STS, STSM, LDS, LDSM, SYNCS, BAR, MEMBAR, CCTL) with its own count, in program order.
With the report's warp-state sampling, also the share of samples per stall reason (totals only).

  python3 bench/sass_mix.py src.csv [--no-lines]
"""
import re
import sys
from collections import Counter

from stall_lines import number, read_source_rows

KINDS = ("RED", "ATOM", "UTMA", "UBLK", "STG", "STS", "STSM", "LDS", "LDSM", "SYNCS", "BAR",
         "MEMBAR", "CCTL", "FENCE", "ST.", "LDG")


def main():
    rows = read_source_rows(sys.argv[1])
    if not rows:
        return
    cols = list(rows[0].keys())
    executed = next((c for c in cols if c.startswith("Instructions Executed")), None)
    if executed is None:
        print("no 'Instructions Executed' column; columns:", cols)
        return
    per_op = Counter()
    shapes = Counter()  # HGMMA MxNxK -> warp-level executions
    picked = []
    for r in rows:
        text = r.get("Source", "").strip()
        op = re.sub(r"^@!?U?P\w+\s+", "", text).split(" ")[0]
        n = number(r[executed])
        per_op[op.split(".")[0]] += n
        shape = re.match(r"HGMMA\.(\d+)x(\d+)x(\d+)", op)
        if shape:
            shapes[shape.groups()] += n
        if n > 0 and any(op.startswith(k) for k in KINDS):
            picked.append((r.get("Address", ""), n, text))
    total = sum(per_op.values()) or 1.0
    print(f"{len(rows)} instructions, {total:.4g} executed (warp level)")
    for op, n in per_op.most_common(30):
        print(f"{100 * n / total:6.2f}%  {n:12.4g}  {op}")
    if shapes:
        # A warpgroup's MxNxK product is issued by its four warps: 2 M N K / 4 FLOPs per warp.
        flops = sum(n * 2 * int(m) * int(nn) * int(k) / 4 for (m, nn, k), n in shapes.items())
        print(f"\ntensor-core work: {flops:.4g} FLOPs executed")
        for (m, nn, k), n in sorted(shapes.items()):
            print(f"  HGMMA {m}x{nn}x{k}: {n:12.4g} warp-level")
    stalls = Counter()
    for c in cols:
        if c.startswith("stall_") and "Not Issued" not in c:
            stalls[c[len("stall_"):]] = sum(number(r[c]) for r in rows)
    samples = sum(stalls.values())
    if samples:
        print(f"\nwarp-state samples: {samples:.0f}")
        print("  " + ", ".join(f"{k} {100 * n / samples:.1f}%" for k, n in stalls.most_common(9)))
    if "--no-lines" in sys.argv:
        return
    print("\nmemory / synchronisation instructions (address, executed, text):")
    for addr, n, text in picked:
        print(f"  {addr}  {n:12.4g}  {text[:110]}")


if __name__ == "__main__":
    main()
