#!/usr/bin/env python3
"""Cycles of FFA's Hopper kernels under ncu's locked clocks: an A/B that the power cap cannot
move (bench/NOTES.md v38: at 8k-32k the H200's clock follows its power, and single shapes move
by 3-7 % between bench processes; cycles at a locked clock move by well under 1 %).

  python3 bench/cycles.py --tag base [--shapes "full,8192,16:16,128;causal,8192,16:16,128"]
  python3 bench/cycles.py --compare base var1 [var2 ...]

The first form runs ncu once per shape on bench/profile_ffa.py (one forward, one backward) and
writes $OUT/cycles_<tag>.json: per shape the forward's and the backward's elapsed cycles (the
busiest SM's) and duration. The second prints each tag's cycles against the first's (> 1: fewer
cycles, faster).
"""
import argparse
import csv
import io
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SHAPES = ("full,8192,16:16,128;causal,8192,16:16,128;full,32768,64:8,128;"
                  "full,8192,16:16,64;causal,8192,16:16,256;varlen_causal,8192,64:8,128")
METRICS = "sm__cycles_elapsed.max,gpu__time_duration.sum"


def measure(shape):
    """{"fwd": {metric: value}, "bwd": {...}} of one shape (case,S,hq:hkv,head_dim)."""
    case, s, heads, d = shape.split(",")
    cmd = ["ncu", "--csv", "--kernel-name", "regex:ffa_fwd_sm90|ffa_bwd_ws", "--launch-count", "2",
           "--metrics", METRICS, sys.executable, os.path.join(HERE, "profile_ffa.py"), case, s, "1",
           heads, d]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    # ncu prints the program's output and its own lines first; the CSV starts at its header.
    text = run.stdout[run.stdout.find('"ID"'):] if '"ID"' in run.stdout else ""
    out = {}
    for row in csv.DictReader(io.StringIO(text)):
        name = row.get("Kernel Name", "")
        which = "fwd" if "ffa_fwd_sm90" in name else "bwd" if "ffa_bwd_ws" in name else None
        if which is None:
            continue
        value = row.get("Metric Value", "").replace(",", "")
        try:
            out.setdefault(which, {})[row["Metric Name"]] = float(value)
        except ValueError:
            pass
    if not out:
        sys.exit(f"cycles.py: no FFA kernel measured for {shape} (ncu rc {run.returncode}):\n"
                 + (run.stderr or run.stdout)[-2000:])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tag")
    ap.add_argument("--shapes", default=os.environ.get("CYC_SHAPES", DEFAULT_SHAPES))
    ap.add_argument("--compare", nargs="+", metavar="TAG")
    ap.add_argument("--out", default=os.environ.get("OUT", "out"))
    args = ap.parse_args()
    if args.compare:
        runs = [json.load(open(os.path.join(args.out, f"cycles_{t}.json"))) for t in args.compare]
        head = " | ".join(f"{t} fwd | {t} bwd" for t in args.compare[1:])
        print(f"| shape | {args.compare[0]} fwd Mcyc | {args.compare[0]} bwd Mcyc | {head} |")
        print("|---" * (3 + 2 * (len(runs) - 1)) + "|")
        for shape, base in runs[0].items():
            cells = []
            for r in runs[1:]:
                for p in ("fwd", "bwd"):
                    b = base.get(p, {}).get("sm__cycles_elapsed.max")
                    v = r.get(shape, {}).get(p, {}).get("sm__cycles_elapsed.max")
                    cells.append(f"{b / v:.3f}" if b and v else "-")
            mc = [f"{base.get(p, {}).get('sm__cycles_elapsed.max', 0) / 1e6:.2f}" for p in ("fwd", "bwd")]
            print(f"| {shape} | {mc[0]} | {mc[1]} | " + " | ".join(cells) + " |")
        return
    if not args.tag:
        ap.error("--tag or --compare")
    res = {}
    for shape in args.shapes.split(";"):
        res[shape] = measure(shape)
        cyc = {p: res[shape][p].get("sm__cycles_elapsed.max", 0) / 1e6 for p in res[shape]}
        print(f"{args.tag} {shape}: " + ", ".join(f"{p} {c:.3f} Mcycles" for p, c in cyc.items()),
              flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"cycles_{args.tag}.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
