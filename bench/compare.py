#!/usr/bin/env python3
"""Side by side: FFA's rates in several bench_ffa.py runs (variants of one device session).

  python3 bench/compare.py BASE.json VARIANT.json [MORE.json ...] [--impl ffa]

One row per (case, S, q:kv heads, head dim) present in BASE: forward and backward TFLOP/s of
each run, and each variant's ratio to BASE (> 1: the variant is faster). Rows a variant lacks
print '-'. Runs are compared as measured: put the baseline in the same device call as the
variants (bench/NOTES.md, METHOD).
"""
import argparse
import json
import os


def rows(path, impl):
    with open(path) as f:
        results = json.load(f)["results"]
    out = {}
    for r in results:
        if r.get("impl") != impl or "error" in r:
            continue
        d = r.get("d", 128)
        dv = r.get("dv", d)  # MLA: v's head dim apart
        key = (r["case"], r["S"], f'{r.get("hq", 16)}:{r.get("hkv", 16)}', (d, dv))
        out[key] = (r.get("fwd_tflops"), r.get("bwd_tflops"))
    return out


def fmt(x, nd=0):
    return "-" if x is None else f"{x:.{nd}f}"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def table(paths, impl):
    runs = [rows(p, impl) for p in paths]
    names = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    head = ["case", "S", "heads", "d"]
    for n in names:
        head += [f"{n} fwd", f"{n} bwd"]
    for n in names[1:]:
        head += [f"{n}/{names[0]} fwd", f"{n}/{names[0]} bwd"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in sorted(runs[0]):
        d, dv = key[3]
        cells = [key[0], str(key[1]), key[2], str(d) if d == dv else f"{d}/{dv}"]
        for run in runs:
            f, b = run.get(key, (None, None))
            cells += [fmt(f), fmt(b)]
        base_f, base_b = runs[0][key]
        for run in runs[1:]:
            f, b = run.get(key, (None, None))
            cells += [fmt(ratio(f, base_f), 2), fmt(ratio(b, base_b), 2)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json", nargs="+", help="bench_ffa.py JSON files, the baseline first")
    ap.add_argument("--impl", default="ffa")
    args = ap.parse_args()
    print(table(args.json, args.impl))


if __name__ == "__main__":
    main()
