#!/usr/bin/env python3
"""Cycles of FFA's Hopper kernels under ncu: an A/B in SM cycles, which the power cap's clock
changes move far less than time (bench/NOTES.md v38: at 8k-32k the H200's clock follows its
power, and single shapes move by 3-7 % between bench processes). ncu runs with
--clock-control none: the workplace's rule is to leave the card's clocks alone (the device
README's METHOD.md), so the clocks are whatever the card runs, and cycles, not time, are the
measure.

  python3 bench/cycles.py --tag base [--shapes "full,8192,16:16,128;causal,8192,16:16,128"]
  python3 bench/cycles.py --compare base var1 [var2 ...]

The first form runs ncu once per shape on bench/profile_ffa.py (one forward, one backward) and
writes $OUT/cycles_<tag>.json after each shape: per shape and pass the elapsed cycles (the
busiest SM's) and duration (ns) summed over the pass's kernels (the main kernel, and where it
runs the merge of cut tiles' pieces: ffa_fwd_split_merge / ffa_bwd_cut_merge), or the error. The
second prints each tag's cycles against the first's (> 1: fewer cycles, faster).
"""
import argparse
import csv
import io
import json
import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SHAPES = ("full,8192,16:16,128;causal,8192,16:16,128;full,32768,64:8,128;"
                  "full,8192,16:16,64;causal,8192,16:16,256;varlen_causal,8192,64:8,128")
METRICS = "sm__cycles_elapsed.max,gpu__time_duration.sum"
# Each pass's kernels: the main one and the merge of cut tiles' pieces.
PASS_KERNELS = {"fwd": ("ffa_fwd_sm90", "ffa_fwd_split_merge"),
                "bwd": ("ffa_bwd_ws", "ffa_bwd_cut_merge")}
KERNELS = "regex:" + "|".join(k for ks in PASS_KERNELS.values() for k in ks)


def parse(text):
    """{"fwd": {metric: sum over the pass's kernels}, "bwd": {...}} from ncu's CSV (after the
    program's own output; values may carry thousands separators)."""
    text = text[text.find('"ID"'):] if '"ID"' in text else ""
    out = {}
    for row in csv.DictReader(io.StringIO(text)):
        name = row.get("Kernel Name", "")
        which = next((p for p, ks in PASS_KERNELS.items() if any(k in name for k in ks)), None)
        if which is None:
            continue
        try:
            value = float(row.get("Metric Value", "").replace(",", ""))
        except ValueError:
            continue
        metrics = out.setdefault(which, {})
        metrics[row["Metric Name"]] = metrics.get(row["Metric Name"], 0.0) + value
    return out


def measure(shape, timeout_s=120):
    """parse() of one shape (case,S,hq:hkv,head_dim), or {"error": ...}. The profiled process
    runs in a session of its own, killed whole on a timeout (no child left on the GPU)."""
    case, s, heads, d = shape.split(",")
    cmd = ["ncu", "--clock-control", "none", "--print-units", "base", "--csv", "--kernel-name",
           KERNELS, "--metrics", METRICS, sys.executable, os.path.join(HERE, "profile_ffa.py"),
           case, s, "1", heads, d]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"error": f"timeout after {timeout_s} s"}
    out = parse(stdout)
    if not out:
        return {"error": f"no FFA kernel measured (ncu rc {proc.returncode}): "
                         + (stderr or stdout)[-1500:]}
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
        # The later tags' cells are speeds against the first: its cycles / theirs (> 1: fewer).
        head = " | ".join(f"{t} fwd speed | {t} bwd speed" for t in args.compare[1:])
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
    os.makedirs(args.out, exist_ok=True)
    for shape in args.shapes.split(";"):
        res[shape] = r = measure(shape)
        if "error" in r:
            print(f"{args.tag} {shape}: {r['error']}", flush=True)
        else:
            cyc = {p: r[p].get("sm__cycles_elapsed.max", 0) / 1e6 for p in r}
            print(f"{args.tag} {shape}: " +
                  ", ".join(f"{p} {c:.3f} Mcycles" for p, c in cyc.items()), flush=True)
        with open(os.path.join(args.out, f"cycles_{args.tag}.json"), "w") as f:
            json.dump(res, f, indent=1)  # after every shape: a later failure keeps these


if __name__ == "__main__":
    main()
