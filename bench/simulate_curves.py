"""Per-GPU TFLOP/s curves of `magi-attn simulate` over cp (model outputs, not measurements),
printed as the markdown tables of bench/SIMULATED.md.

  /usr/bin/python3 bench/simulate_curves.py [--cli build/default/magi-attn] [--cps 8,16,...]

Masks: varlen_causal as the CLI's preset (document lengths drawn from [S/16, S/4], so they grow
with S = 8192 * cp), and varlen_causal over documents drawn from one fixed distribution
(log-uniform in [512, 65536] tokens, each capped at S/4), written to a slice file. Every other
input is the CLI's default (H200 kernel rates, 8 GPUs per node, 8192 tokens per GPU, 64:8 heads,
hd 128, bf16, chunk 2048, degree 2).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = ("magi", "magi_hier", "ring", "ulysses", "all_gather")


def fixed_docs(total: int, seed: int = 0) -> list:
    rng = random.Random(seed)
    cap, out, pos = max(1, total // 4), [], 0
    while pos < total:
        n = min(cap, total - pos, int(math.exp(rng.uniform(math.log(512), math.log(65536)))))
        out.append([pos, pos + n, pos, pos + n, "causal"])
        pos += n
    return out


def run(cli: str, cp: int, extra: list) -> tuple[dict, float]:
    t0 = time.perf_counter()
    r = subprocess.run([cli, "simulate", "--cp", str(cp), "--json", "--ranks", "0", *extra],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout), time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cli", default=os.path.join(ROOT, "build", "default", "magi-attn"))
    p.add_argument("--cps", default="8,16,32,64,128,256,512,1024")
    a = p.parse_args()
    cps = [int(x) for x in a.cps.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for title, make in (("varlen_causal, preset documents ([S/16, S/4], grow with S)",
                             lambda cp: ["--mask", "varlen_causal"]),
                            ("varlen_causal, fixed documents (log-uniform 512..65536, cap S/4)",
                             None)):
            rows = {m: {} for m in METHODS}
            secs = {}
            for cp in cps:
                if make is None:
                    path = os.path.join(tmp, f"docs_{cp}.json")
                    total = 8192 * cp
                    json.dump({"seqlen": total, "slices": fixed_docs(total)}, open(path, "w"))
                    extra = ["--slices", path]
                else:
                    extra = make(cp)
                res, secs[cp] = run(a.cli, cp, extra)
                for m in res["methods"]:
                    rows[m["method"]][cp] = m
            print(f"\n### {title}\n")
            print("| method | pass | " + " | ".join(f"cp {cp}" for cp in cps) + " |")
            print("|---|---|" + "---:|" * len(cps))
            for m in METHODS:
                for pas in ("fwd", "bwd"):
                    cells = []
                    for cp in cps:
                        r = rows[m].get(cp)
                        if r is None:
                            cells.append("-")  # magi_hier needs several nodes
                        elif not r["feasible"]:
                            cells.append("n/a")
                        else:
                            cells.append(f"{r[pas + '_tflops']:.0f}")
                    print(f"| {m} | {pas} | " + " | ".join(cells) + " |")
            print("\nwall time of `magi-attn simulate` (plan + hierarchical plan + all methods), s: "
                  + ", ".join(f"cp {cp}: {secs[cp]:.2f}" for cp in cps))


if __name__ == "__main__":
    main()
