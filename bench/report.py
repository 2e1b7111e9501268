#!/usr/bin/env python3
"""bench_ffa JSON -> bench/RESULTS.md (table, ratios) and a PNG chart.

  python3 bench/report.py OUT/bench_ffa.json [--quick OUT/fwd_quick.json] [--md bench/RESULTS.md]
                          [--png bench/results.png]
"""
import argparse
import json
import os

CASES = ["full", "causal", "varlen_full", "varlen_causal", "swa_causal", "varlen_block_causal"]
PEERS = ["sdpa_flash", "sdpa_cudnn", "fa2_varlen", "flex"]


def fmt(x, nd=0):
    return "-" if x is None else f"{x:.{nd}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json", nargs="+")
    ap.add_argument("--md", default=os.path.join(os.path.dirname(__file__), "RESULTS.md"))
    ap.add_argument("--png", default=os.path.join(os.path.dirname(__file__), "results.png"))
    ap.add_argument("--quick", help="fwd_quick.py JSON of the same run: forward vs cuDNN table")
    args = ap.parse_args()
    R = None
    commits = set()
    warmups = set()  # bench_ffa.py --warmup-s of each process (None: a run from before it)
    for path in args.json:
        with open(path) as f:
            r = json.load(f)
        commits.add(r["env"]["commit"])
        warmups.add(r["env"].get("warmup_s"))
        if R is None:
            R = r
        else:
            R["results"] += r["results"]
    def shape(r):  # (S, q heads, kv heads, head dim, v's head dim); older runs: 16:16, hd 128
        d = r.get("d", 128)
        return (r["S"], r.get("hq", 16), r.get("hkv", 16), d, r.get("dv", d))

    def hd(S):  # the head dim of a shape: "128", MLA's "192/128"
        return f"{S[3]}" if S[3] == S[4] else f"{S[3]}/{S[4]}"

    res = {(r["case"], shape(r), r["impl"]): r for r in R["results"] if "error" not in r}
    errs = [r for r in R["results"] if "error" in r]
    sizes = sorted({shape(r) for r in R["results"]})
    env = R["env"]
    if len(commits) > 1:
        raise SystemExit(f"report.py: the runs name different commits {sorted(commits)}")
    runs = ("One process, one run" if len(args.json) == 1 else
            f"{len(args.json)} processes run one after the other (peers always in FFA's process)")
    L = []
    L.append("# FFA (CUDA) vs peers\n")
    L.append("FFA runs its Hopper kernels (wgmma, sm_90a) on this device; the portable mma.sync "
             "kernels (sm_80+) are selected on other GPUs or with `MAGI_FFA_PORTABLE=1`.\n")
    L.append(f"Device: {env['device']}; torch {env['torch']}, cuDNN {env['cudnn']}; "
             f"date {env['date']}; commit `{env['commit']}`. {runs} "
             "(`bench/bench_ffa.py`), bf16, batch 1; masks of `bench/cases.json` (full and causal "
             "also at other sizes and head dims); each section names S, q:kv heads and head_dim.\n")
    impls_seen = sorted({r["impl"] for r in R["results"]})
    L.append("This run covers: " + "; ".join(
        f"S {S[0]} heads {S[1]}:{S[2]} hd {hd(S)}" for S in sizes) +
        f"; implementations {', '.join(impls_seen)}.\n")
    L.append("TFLOP/s from exact cell counts: fwd = 4·H·D·cells, bwd = 2.5×fwd, fwd+bwd = 3.5×fwd "
             "(v's head dim Dv apart, `192/128`: fwd = 2·H·cells·(D + Dv), bwd = "
             "2·H·cells·(3·D + 2·Dv)); bwd time = (fwd+bwd) − fwd. Median of 7 batches of back-to-back calls timed with CUDA "
             "events behind a GPU sleep (host overhead hidden; host time below). `ratio` = FFA "
             "rate / peer rate (> 1: FFA faster).\n")
    if warmups != {None}:
        L.append("Before its first case each process ran bf16 matmuls for " +
                 " / ".join(f"{w or 0:g} s" for w in sorted(warmups, key=lambda w: w or 0)) +
                 ", so that the first case is timed on a GPU as warm as the later ones.\n")
    # The GPU's clock and power after each implementation's timing (bench_ffa.py: gpu_after):
    # at 8k-32k the H200 runs at its power cap with its clock lowered (bench/NOTES.md v38).
    clocked = any("sm_clock_mhz" in r.get("gpu_after", {}) for r in R["results"])
    if clocked:
        L.append("`SM MHz / W`: the GPU's SM clock and board power just after the implementation's "
                 "timing; below 1980 MHz the GPU had lowered its clock (at 8k-32k to hold its 700 W "
                 "power limit, bench/NOTES.md v38).\n")

    def gpu(r):
        g = r.get("gpu_after", {})
        if not clocked:
            return ""
        return (f" {g['sm_clock_mhz']:.0f} / {g.get('power_w', 0):.0f} |"
                if "sm_clock_mhz" in g else " - |")

    for S in sizes:
        L.append(f"\n## S = {S[0]}, heads {S[1]}:{S[2]}, head_dim {hd(S)}\n")
        L.append("| case | impl | fwd ms | fwd TF/s | bwd TF/s | fwd+bwd TF/s | FFA/peer fwd | FFA/peer bwd | FFA/peer f+b |"
                 + (" SM MHz / W |" if clocked else ""))
        L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if clocked else ""))
        for c in CASES:
            f = res.get((c, S, "ffa"))
            if f is None:
                continue
            L.append(f"| {c} | **ffa** | {fmt(f['fwd_ms'], 3)} | {fmt(f['fwd_tflops'])} | "
                     f"{fmt(f.get('bwd_tflops'))} | {fmt(f['fwdbwd_tflops'])} | | | |" + gpu(f))
            for p in PEERS:
                r = res.get((c, S, p))
                if r is None:
                    continue
                def ratio(key):
                    a, b = f.get(key), r.get(key)
                    return f"{a / b:.2f}" if a and b else "-"
                L.append(f"| {c} | {p} | {fmt(r['fwd_ms'], 3)} | {fmt(r['fwd_tflops'])} | "
                         f"{fmt(r.get('bwd_tflops'))} | {fmt(r['fwdbwd_tflops'])} | "
                         f"{ratio('fwd_tflops')} | {ratio('bwd_tflops')} | {ratio('fwdbwd_tflops')} |"
                         + gpu(r))
    # own full-mask rate
    L.append("\n## Irregular masks against FFA's own full-mask rate\n")
    L.append("| S | case | fwd | bwd | fwd+bwd |")
    L.append("|---:|---|---:|---:|---:|")
    for S in sizes:
        full = res.get(("full", S, "ffa"))
        if not full:
            continue
        for c in CASES[1:]:
            f = res.get((c, S, "ffa"))
            if not f:
                continue
            L.append(f"| {S[0]} ({S[1]}:{S[2]}, d {hd(S)}) | {c} | {f['fwd_tflops'] / full['fwd_tflops']:.2f} | "
                     f"{(f.get('bwd_tflops') or 0) / (full.get('bwd_tflops') or 1):.2f} | "
                     f"{f['fwdbwd_tflops'] / full['fwdbwd_tflops']:.2f} |")
    det = [(S, c) for S in sizes for c in CASES
           if (c, S, "ffa_det") in res and (c, S, "ffa") in res]
    if det:
        L.append("\n## Deterministic backward against the default\n")
        L.append("Same process: `ffa_det` is FFA with `deterministic=True` (bit-identical "
                 "gradients); `ratio` = its backward rate / the default's.\n")
        L.append("| S | case | default bwd TF/s | deterministic bwd TF/s | ratio |")
        L.append("|---:|---|---:|---:|---:|")
        for S, c in det:
            a, b = res[(c, S, "ffa")].get("bwd_tflops"), res[(c, S, "ffa_det")].get("bwd_tflops")
            L.append(f"| {S[0]} ({S[1]}:{S[2]}, d {hd(S)}) | {c} | {fmt(a)} | {fmt(b)} | "
                     f"{f'{b / a:.2f}' if a and b else '-'} |")
    if args.quick:
        with open(args.quick) as f:
            q = json.load(f)
        L.append("\n## Forward against cuDNN: sizes, head layouts, head dims (`bench/fwd_quick.py`)\n")
        L.append("Same run. FFA forward and SDPA's cuDNN backend on the same inputs (no autograd), "
                 "median of batches behind a GPU sleep; `ratio` = FFA / cuDNN; `own full` = the "
                 "irregular mask's rate / FFA's full-mask rate at the same S and heads.\n")
        L.append("| case | S | heads | d | FFA TF/s | cuDNN TF/s | ratio | own full |")
        L.append("|---|---:|---|---:|---:|---:|---:|---:|")
        for r in q["rows"]:
            L.append(f"| {r['case']} | {r['S']} | {r['hq']}:{r['hkv']} | {r['d']} | "
                     f"{r['ffa_tflops']:.0f} | {fmt(r.get('cudnn_tflops'))} | "
                     f"{fmt(r.get('ratio'), 2)} | {fmt(r.get('vs_own_full'), 2)} |")
    L.append("\n## Host time per cached FFA call\n")
    py_calls = ("median of 5 rounds of 4 calls" if env.get("py_host_rounds")
                else "20 calls timed together")
    L.append("C++: `ffa_forward` entry (validation, plan-cache lookup, launch), median of 5 "
             "rounds of 4 calls timed in C++. Python: `flex_flash_attn_func` under "
             f"`no_grad`, {py_calls}.\n")
    L.append("| S | case | C++ µs/call | Python µs/call |")
    L.append("|---:|---|---:|---:|")
    for S in sizes:
        for c in CASES:
            f = res.get((c, S, "ffa"))
            if f and "cpp_host_us_per_cached_call" in f:
                L.append(f"| {S[0]} ({S[1]}:{S[2]}, d {hd(S)}) | {c} | "
                         f"{f['cpp_host_us_per_cached_call']:.1f} | "
                         f"{f['py_host_us_per_cached_call']:.1f} |")
    if errs or R.get("notes"):
        L.append("\n## Errors and notes\n")
        for r in errs:
            L.append(f"- {r['case']} {shape(r)} {r['impl']}: `{r['error'][:300]}`")
        for n in R.get("notes", []):
            L.append(f"- {n}")
    with open(args.md, "w") as f:
        f.write("\n".join(L) + "\n")
    print("wrote", args.md)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        impls = ["ffa"] + PEERS
        fig, axes = plt.subplots(len(sizes), 2, figsize=(14, 3.2 * len(sizes)), squeeze=False)
        for i, S in enumerate(sizes):
            for j, key in enumerate(["fwd_tflops", "bwd_tflops"]):
                ax = axes[i][j]
                w = 0.16
                for k, im in enumerate(impls):
                    ys = [(res.get((c, S, im)) or {}).get(key) or 0 for c in CASES]
                    ax.bar([x + (k - 2) * w for x in range(len(CASES))], ys, w, label=im)
                ax.set_xticks(range(len(CASES)))
                ax.set_xticklabels([c.replace("varlen_", "vl_") for c in CASES], fontsize=8)
                ax.set_title(f"S={S[0]} {S[1]}:{S[2]} d{hd(S)} {key.split('_')[0]} TFLOP/s")
                if i == 0 and j == 0:
                    ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.png, dpi=90)
        print("wrote", args.png)
    except Exception as ex:  # noqa: BLE001
        print("no chart:", ex)


if __name__ == "__main__":
    main()
