#!/usr/bin/env python3
"""Quick forward check + timing of FFA against cuDNN (SDPA) on one GPU, for kernel iteration.

For full / causal at each size, head layout and head dim: FFA forward vs SDPA's cuDNN backend
(same inputs; rel L2 of the outputs), TFLOP/s from exact cell counts. For the irregular masks
of cases.json: FFA's rate and its ratio to FFA's own full-mask rate at the same size.
Median of --reps batches of calls queued behind a GPU sleep (host launch cost hidden, as in
bench_ffa.py); fresh random inputs per case.
Writes $OUT/fwd_quick.json. Not the harness: bench/bench_ffa.py is (peers, RESULTS.md).
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, os.path.join(HERE, "..", "python"))
from gpu_timing import sleep_cycles_per_ms, time_batches  # noqa: E402
from magi_attention import flex_flash_attn_func  # noqa: E402

TYPES = {"full": 0, "causal": 1, "inv_causal": 2, "bi_causal": 3}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2048,8192,32768")
    ap.add_argument("--heads", default="16:16,64:8")
    ap.add_argument("--dims", default="128,64")
    ap.add_argument("--irregular", default="varlen_full,varlen_causal,swa_causal,varlen_block_causal",
                    help="masks of cases.json at 8k and 32k, hd 128; 'none' (or empty) for none")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--out", default=os.environ.get("OUT", "out"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    cases = json.load(open(os.path.join(HERE, "cases.json")))["cases"]
    dev = torch.device("cuda")
    rows = []
    cyc = sleep_cycles_per_ms()

    def case(name, S):
        if name in ("full", "causal"):  # any S (cases.json starts at 4k)
            cells = S * S if name == "full" else S * (S + 1) // 2
            return {"cells": cells, "slices": [[0, S, 0, S, name]]}
        return [c for c in cases if c["name"] == name and c["seqlen"] == S][0]

    def run(name, S, hq, hkv, d, peer):
        c = case(name, S)
        sl = c["slices"]
        q = torch.randn(S, hq, d, device=dev, dtype=torch.bfloat16)
        k = torch.randn(S, hkv, d, device=dev, dtype=torch.bfloat16)
        v = torch.randn(S, hkv, d, device=dev, dtype=torch.bfloat16)
        qr = torch.tensor([[x[0], x[1]] for x in sl], dtype=torch.int32, device=dev)
        kr = torch.tensor([[x[2], x[3]] for x in sl], dtype=torch.int32, device=dev)
        tm = torch.tensor([TYPES[x[4]] for x in sl], dtype=torch.int32, device=dev)
        flops = 4 * hq * d * c["cells"]
        with torch.no_grad():
            f = lambda: flex_flash_attn_func(q, k, v, qr, kr, tm)[0]  # noqa: E731
            ms = time_batches(f, cyc, 5.0, args.reps, 50)["ms"]
            r = {"case": name, "S": S, "hq": hq, "hkv": hkv, "d": d, "ffa_ms": ms,
                 "ffa_tflops": flops / ms / 1e9}
            if peer:
                from torch.nn.attention import SDPBackend, sdpa_kernel
                qt, kt, vt = (x.transpose(0, 1).unsqueeze(0) for x in (q, k, v))
                g = lambda: F.scaled_dot_product_attention(  # noqa: E731
                    qt, kt, vt, is_causal=name == "causal", enable_gqa=hq != hkv)
                with sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
                    pms = time_batches(g, cyc, 5.0, args.reps, 50)["ms"]
                    ref = g()[0].transpose(0, 1).float()
                out = f().float()
                r.update(cudnn_ms=pms, cudnn_tflops=flops / pms / 1e9, ratio=pms / ms,
                         rel_l2=((out - ref).norm() / ref.norm()).item())
        rows.append(r)
        print(f"{name:20s} S={S:6d} h={hq}:{hkv} d={d:3d}  ffa {r['ffa_tflops']:6.1f} TF/s"
              + (f"  cudnn {r['cudnn_tflops']:6.1f}  ratio {r['ratio']:.3f}  relL2 {r['rel_l2']:.1e}"
                 if peer else ""), flush=True)
        return r

    t0 = time.time()
    for S in [int(x) for x in args.sizes.split(",")]:
        for hh in args.heads.split(","):
            hq, hkv = (int(x) for x in hh.split(":"))
            for d in [int(x) for x in args.dims.split(",")]:
                if d == 64 and hh != args.heads.split(",")[0]:
                    continue  # hd 64: the first head layout only
                full = run("full", S, hq, hkv, d, True)
                run("causal", S, hq, hkv, d, True)
                if d == 128 and S >= 8192:
                    for name in [n for n in args.irregular.strip("'\"").split(",")
                                 if n and n != "none"]:
                        r = run(name, S, hq, hkv, d, False)
                        r["vs_own_full"] = r["ffa_tflops"] / full["ffa_tflops"]
                        print(f"{'':20s} -> {r['vs_own_full']:.3f} of own full", flush=True)
    json.dump({"device": torch.cuda.get_device_name(0), "rows": rows, "wall_s": time.time() - t0},
              open(os.path.join(args.out, "fwd_quick.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
