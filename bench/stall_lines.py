"""Where a kernel's warps wait, per instruction: reads the CSV of
  ncu --import REP --page source --csv --print-source sass
(ncu's warp-state sampling per SASS instruction) and prints the instructions with the most
samples, each with its share of all samples and its largest stall reasons, then the totals per
instruction kind (the opcode's first word).

  python3 bench/stall_lines.py src.csv [top]
"""
import csv
import sys
from collections import Counter


def number(x):
    try:
        return float(str(x).replace(",", ""))
    except ValueError:
        return 0.0


def read_source_rows(path):
    """The rows (dicts by column name) of an ncu source-page CSV, or None (said why)."""
    with open(path, newline="") as f:
        lines = f.read().splitlines()
    # ncu prints a few lines (process and kernel names) before the table: start at the header.
    start = next((i for i, l in enumerate(lines) if "Source" in l and "Address" in l), None)
    if start is None:
        print("no table header in", path, "; first lines:", *lines[:5], sep="\n")
        return None
    return list(csv.DictReader(lines[start:]))


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    rows = read_source_rows(path)
    if not rows:
        return
    cols = list(rows[0].keys())
    sampled = [c for c in cols if "Sampling" in c]
    if not sampled:  # another ncu version's names: show them, to adapt this script
        print("no sampling column; columns:", cols)
        return
    total_col = next((c for c in sampled if "All" in c), sampled[0])
    # Per-reason sample columns, where this ncu version has them (names start with "stall_").
    reasons = [c for c in cols if c.lower().startswith("stall_")]
    total = sum(number(r[total_col]) for r in rows) or 1.0
    print(f"{len(rows)} instructions, {total:.0f} samples; columns: {total_col}; "
          f"{len(reasons)} reason columns")
    ranked = sorted(rows, key=lambda r: -number(r[total_col]))
    for r in ranked[:top]:
        n = number(r[total_col])
        why = sorted(((number(r[c]), c) for c in reasons), reverse=True)[:3]
        why = " ".join(f"{c.replace('stall_', '')}={v / n:.0%}" for v, c in why if v > 0) if n else ""
        print(f"{n / total:6.2%}  {r.get('Address', ''):>8}  {r['Source'][:70]:70}  {why}")
    kinds = Counter()
    for r in rows:
        op = r["Source"].split()
        op = [w for w in op if not w.startswith("@")]
        kinds[op[0].split(".")[0] if op else "?"] += number(r[total_col])
    print("\nsamples per opcode:")
    for k, v in kinds.most_common(15):
        print(f"{v / total:6.2%}  {k}")


if __name__ == "__main__":
    main()
