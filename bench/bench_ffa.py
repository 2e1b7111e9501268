#!/usr/bin/env python3
"""FFA vs peers on the cases of bench/cases.json (copied from ../shared/bench), one process.

Peers (as in ../shared/bench/peers.py): torch SDPA with the FLASH (FA2) and cuDNN backends on
full / causal; FlexAttention (torch.compile'd, block mask built once per case); FA2 varlen
through torch.ops.aten._flash_attention_forward/backward where it applies (full, causal,
varlen_full, varlen_causal, swa_causal via a left window).

TFLOP/s from exact cell counts: fwd = 2 * Hq * cells * (D + Dv) (S = Q K^T, O = P V), bwd = 2 * Hq
* cells * (3 D + 2 Dv) (S again, dP, dV, dK, dQ): with Dv = D 2.5 x fwd, fwd+bwd 3.5 x fwd;
bwd time = (fwd+bwd time) - (fwd time). Times are medians over batches of back-to-back calls
timed with CUDA events behind a GPU sleep (host overhead hidden; host time reported apart).

Writes $OUT/bench_ffa.json (after every measurement); bench/report.py makes RESULTS.md + PNG.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import traceback

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, os.path.join(HERE, "..", "python"))

from gpu_timing import sleep_cycles_per_ms, time_batches, warm_up  # noqa: E402
from magi_attention import _C, flex_flash_attn_func  # noqa: E402
from magi_attention.functional import flex_flash_attn as ffa_mod  # noqa: E402

TYPES = {"full": 0, "causal": 1, "inv_causal": 2, "bi_causal": 3}
IMPLS = ["ffa", "sdpa_flash", "sdpa_cudnn", "fa2_varlen", "flex"]
# Not in the default list: "ffa_sink", FFA with 4 attention-sink logits (layout sh) that
# require grad, "ffa_max_logits", FFA with return_max_logits=True, "ffa_det", FFA with
# deterministic=True, and "ffa_softcap", FFA with softcap=30: their overheads against "ffa" in
# the same run (the sink and softcap change the output by design, so no rel_l2 for them).
EXTRA_IMPLS = ["ffa_sink", "ffa_max_logits", "ffa_det", "ffa_softcap"]
OURS = ("ffa", *EXTRA_IMPLS)


def log(*a):
    print(*a, flush=True)


def gpu_state():
    """SM clock (MHz), temperature (C) and power draw (W) now, where torch can read them (pynvml).
    At 8k-32k the H200 runs at its 700 W cap and lowers its clocks (1500-1900 MHz against 1980,
    bench/NOTES.md v38): a kernel's rate there depends on its power draw as well as its cycles.
    NOTE: so each implementation is timed in batches of its own (gpu_timing.py), never
    interleaved with another's: a batch would start at the clocks the other's power left."""
    out = {}
    for key, fn in (("sm_clock_mhz", "clock_rate"), ("temp_c", "temperature"),
                    ("power_w", "power_draw")):
        try:
            v = getattr(torch.cuda, fn)()
            out[key] = v / 1000 if key == "power_w" else v  # power_draw: milliwatts
        except Exception:  # noqa: BLE001
            pass
    return out


def rising_scores(q, k, rise):
    """Adds one direction u to q (amplitude a) and to k (amplitude b_j growing with the key j),
    so that every score q_i . k_j / sqrt(D) gains about `rise` log2 units every 128 keys (each
    row's slope scaled by 1 + z_i / a, z_i ~ N(0, 1), a = 4: every row rises). In place."""
    S, _, D = q.shape
    u = torch.randn(D, device=q.device, dtype=torch.float32)
    u /= u.norm()
    a = 4.0
    b = torch.arange(S, device=q.device, dtype=torch.float32) * (
        rise * D**0.5 / (128 * 1.4426950408889634 * a))
    q += (a * u).to(q.dtype)
    k += (b[:, None, None] * u).to(k.dtype)


def row_intervals(slices, s):
    """Per query row one key interval [lo, hi) (true for every case in cases.json)."""
    import numpy as np
    lo = np.full(s, s, dtype=np.int64)
    hi = np.zeros(s, dtype=np.int64)
    for qs, qe, ks, ke, t in slices:
        t = TYPES[t]
        i = np.arange(qs, qe)
        a = np.full(qe - qs, ks)
        b = np.full(qe - qs, ke)
        if t in (1, 3):
            b = np.minimum(b, ks + (i - qs) + (ke - ks) - (qe - qs) + 1)
        if t in (2, 3):
            a = np.maximum(a, ks + (i - qs))
        ok = b > a
        lo[i[ok]] = np.minimum(lo[i[ok]], a[ok])
        hi[i[ok]] = np.maximum(hi[i[ok]], b[ok])
    return lo, hi


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="4096,8192,16384,32768")
    ap.add_argument("--heads", default="16:16", help="q:kv head counts, comma-separated")
    ap.add_argument("--dims", default="128",
                    help="head dims, D or D:Dv (MLA's 192:128: v's head dim apart); other than "
                         "128: full/causal only")
    ap.add_argument("--cases", default="full,causal,varlen_full,varlen_causal,swa_causal,varlen_block_causal")
    ap.add_argument("--impls", default=",".join(IMPLS))
    ap.add_argument("--budget-s", type=float, default=520.0)
    ap.add_argument("--warmup-s", type=float, default=3.0,
                    help="seconds of matmuls before the first case (gpu_timing.warm_up)")
    ap.add_argument("--out", default=os.environ.get("OUT", "out"))
    ap.add_argument("--tag", default="bench_ffa")
    ap.add_argument("--inputs", default="randn",
                    help="randn (default), or rising:X: scores that rise by X log2 units every 128 "
                         "keys along each row (rising_scores), so the forward's softmax moves its "
                         "rows' reference every few key tiles (bench/NOTES.md v66)")
    args = ap.parse_args()
    rise = None
    if args.inputs != "randn":
        kind, _, x = args.inputs.partition(":")
        try:
            rise = float(x)
        except ValueError:
            pass
        if kind != "rising" or rise is None or not rise > 0:
            ap.error(f"--inputs: {args.inputs!r} is neither randn nor rising:<X > 0>")
    T0 = time.time()
    left = lambda: args.budget_s - (time.time() - T0)  # noqa: E731
    os.makedirs(args.out, exist_ok=True)
    json_path = os.path.join(args.out, f"{args.tag}.json")

    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    for name in ("cache_size_limit", "recompile_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, 256)
    flex_c = torch.compile(flex_attention, dynamic=False)
    fa_fwd = torch.ops.aten._flash_attention_forward
    fa_bwd = torch.ops.aten._flash_attention_backward
    dev = torch.device("cuda")

    def git_commit():
        try:
            return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                  text=True, cwd=HERE, timeout=10).stdout.strip()
        except Exception:  # noqa: BLE001
            return ""

    R = {"env": {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
                 "cudnn": torch.backends.cudnn.version(),
                 "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                 "commit": os.environ.get("MAGI_COMMIT") or git_commit(),
                 "warmup_s": args.warmup_s, "py_host_rounds": "median of 5 rounds of 4",
                 "inputs": args.inputs},
         "results": [], "host": [], "notes": []}

    def save():
        with open(json_path + ".tmp", "w") as f:
            json.dump(R, f, indent=1)
        os.replace(json_path + ".tmp", json_path)

    # ---- timing (as peers.py: events around batches of k calls behind a GPU sleep) ----
    CYC = sleep_cycles_per_ms()
    warm_up(args.warmup_s)

    fresh = [True]

    def bench(fn):
        # The process's first measurement is taken twice and the first dropped: FFA's 2k
        # forward timed first read up to 12 % slow with batches 30 % apart, after the warm-up
        # and the settle calls alike; taken again it read as when timed after cuDNN (H100,
        # bench/NOTES.md v48).
        if fresh[0]:
            fresh[0] = False
            time_batches(fn, CYC)
        return time_batches(fn, CYC)

    cases = json.load(open(os.path.join(HERE, "cases.json")))["cases"]
    sizes = [int(x) for x in args.sizes.split(",")]
    names = args.cases.split(",")
    impls = args.impls.split(",")
    unknown = [i for i in impls if i not in IMPLS + EXTRA_IMPLS]
    if unknown:
        ap.error(f"--impls: unknown {', '.join(unknown)} (known: {', '.join(IMPLS + EXTRA_IMPLS)})")

    def case_list(S, dims):
        """cases.json at S (hd 128), and full / causal at any S or head dims (D, Dv)."""
        out = []
        for name in names:
            if name in ("full", "causal"):
                cells = S * S if name == "full" else S * (S + 1) // 2
                out.append({"name": name, "cells": cells, "slices": [[0, S, 0, S, name]]})
            elif dims == (128, 128):
                out += [c for c in cases if c["seqlen"] == S and c["name"] == name]
        return out

    layouts = [tuple(int(x) for x in h.split(":")) for h in args.heads.split(",")]
    def head_dims(x):  # "D" or "D:Dv" -> (D, Dv)
        d, _, dv = x.partition(":")
        return int(d), int(dv or d)

    dims = [head_dims(x) for x in args.dims.split(",")]
    for S, (H, HKV), (D, DV), c in [(S, hh, dd, c) for S in sizes for hh in layouts for dd in dims
                                    for c in case_list(S, dd)]:
        name = c["name"]
        cells = c["cells"]
        F_fwd = 2 * H * cells * (D + DV)
        F_bwd = 2 * H * cells * (3 * D + 2 * DV)
        slices = c["slices"]
        log(f"\n=== {name} S={S} heads={H}:{HKV} d={D} dv={DV} cells={cells} slices={len(slices)}"
            f" (left {left():.0f}s)")
        torch.manual_seed(S + len(name))
        q = torch.randn(S, H, D, device=dev, dtype=torch.bfloat16, requires_grad=True)
        k = torch.randn(S, HKV, D, device=dev, dtype=torch.bfloat16, requires_grad=True)
        v = torch.randn(S, HKV, DV, device=dev, dtype=torch.bfloat16, requires_grad=True)
        dout = torch.randn(S, H, DV, device=dev, dtype=torch.bfloat16)
        if rise is not None:
            with torch.no_grad():
                rising_scores(q, k, rise)
        gqa = H != HKV
        qr = torch.tensor([[a, b] for a, b, *_ in slices], dtype=torch.int32, device=dev)
        kr = torch.tensor([[x[2], x[3]] for x in slices], dtype=torch.int32, device=dev)
        tm = torch.tensor([TYPES[x[4]] for x in slices], dtype=torch.int32, device=dev)
        lo, hi = row_intervals(slices, S)
        ref_out = None

        def zero():
            for t in (q, k, v):
                t.grad = None

        for impl in impls:
            if left() < (40 if impl == "flex" else 10):
                R["notes"].append(f"skipped for time: {name} S={S} {impl}")
                print(f"  {impl:<11} skipped: {left():.0f} s of --budget-s left", flush=True)
                continue
            if impl in ("sdpa_flash", "sdpa_cudnn") and name not in ("full", "causal"):
                continue
            if impl == "fa2_varlen" and name == "varlen_block_causal":
                continue
            res = {"case": name, "S": S, "impl": impl, "cells": cells, "fwd_flops": F_fwd,
                   "hq": H, "hkv": HKV, "d": D}
            if DV != D:
                res["dv"] = DV
            try:
                if impl in OURS:
                    sink = (torch.zeros(4, H, device=dev, requires_grad=True)
                            if impl == "ffa_sink" else None)
                    maxl = impl == "ffa_max_logits"
                    det = impl == "ffa_det"
                    cap = 30.0 if impl == "ffa_softcap" else 0.0

                    def f(sink=sink, maxl=maxl, det=det, cap=cap):
                        return flex_flash_attn_func(q, k, v, qr, kr, tm, sink=sink, softcap=cap,
                                                    return_max_logits=maxl, deterministic=det)[0]
                elif impl in ("sdpa_flash", "sdpa_cudnn"):
                    be = SDPBackend.FLASH_ATTENTION if impl == "sdpa_flash" else SDPBackend.CUDNN_ATTENTION
                    causal = name == "causal"
                    qt, kt, vt = (x.detach().transpose(0, 1).unsqueeze(0).requires_grad_(True) for x in (q, k, v))
                    dt = dout.transpose(0, 1).unsqueeze(0)

                    def f(be=be, causal=causal, qt=qt, kt=kt, vt=vt):
                        with sdpa_kernel([be]):
                            return F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal,
                                                                  enable_gqa=gqa)
                elif impl == "fa2_varlen":
                    if name.startswith("varlen"):
                        cu_l = [0] + [x[1] for x in slices]
                    else:
                        cu_l = [0, S]
                    cu = torch.tensor(cu_l, dtype=torch.int32, device=dev)
                    mx = max(b - a for a, b in zip(cu_l[:-1], cu_l[1:]))
                    causal = name in ("causal", "varlen_causal", "swa_causal")
                    W = S // 8
                    wl, wr = (W - 1, 0) if name == "swa_causal" else (None, None)
                    qd, kd, vd = (x.detach() for x in (q, k, v))

                    def f(cu=cu, mx=mx, causal=causal, wl=wl, wr=wr, qd=qd, kd=kd, vd=vd):
                        return fa_fwd(qd, kd, vd, cu, cu, mx, mx, 0.0, causal, False,
                                      scale=None, window_size_left=wl, window_size_right=wr)

                    def fb(f=f, cu=cu, mx=mx, causal=causal, wl=wl, wr=wr, qd=qd, kd=kd, vd=vd):
                        o, lse, rng, unused, _ = f()
                        return fa_bwd(dout, qd, kd, vd, o, lse, cu, cu, mx, mx, 0.0, causal,
                                      rng, unused, scale=None, window_size_left=wl,
                                      window_size_right=wr)
                elif impl == "flex":
                    lo_t = torch.tensor(lo, device=dev, dtype=torch.int32)
                    hi_t = torch.tensor(hi, device=dev, dtype=torch.int32)

                    def mm(b, h, qi, ki, lo_t=lo_t, hi_t=hi_t):
                        return (ki >= lo_t[qi]) & (ki < hi_t[qi])

                    bm = create_block_mask(mm, None, None, S, S, device=dev)
                    qt, kt, vt = (x.detach().transpose(0, 1).unsqueeze(0).requires_grad_(True) for x in (q, k, v))
                    dt = dout.transpose(0, 1).unsqueeze(0)
                    t0 = time.perf_counter()
                    o = flex_c(qt, kt, vt, block_mask=bm, enable_gqa=gqa)
                    o.backward(dt)
                    torch.cuda.synchronize()
                    res["compile_s"] = time.perf_counter() - t0

                    def f(qt=qt, kt=kt, vt=vt, bm=bm):
                        return flex_c(qt, kt, vt, block_mask=bm, enable_gqa=gqa)
                if impl != "fa2_varlen":
                    ours = impl in OURS
                    leaves = (q, k, v) if ours else (qt, kt, vt)
                    g = dout if ours else dt

                    def fb(f=f, leaves=leaves, g=g):
                        for t in leaves:
                            t.grad = None
                        f().backward(g)
                tf = bench(f)
                tfb = bench(fb)
                res["gpu_after"] = gpu_state()
                res.update(fwd_ms=tf["ms"], fwdbwd_ms=tfb["ms"], fwd_bench=tf, fwdbwd_bench=tfb,
                           host_ms_per_call_fwd=tf["host_ms_per_call"])
                res["fwd_tflops"] = F_fwd / (tf["ms"] * 1e-3) / 1e12
                res["fwdbwd_tflops"] = (F_fwd + F_bwd) / (tfb["ms"] * 1e-3) / 1e12
                bwd = tfb["ms"] - tf["ms"]
                res["bwd_ms"] = bwd
                res["bwd_tflops"] = F_bwd / (bwd * 1e-3) / 1e12 if bwd > 0 else None
                # sanity: FFA output against the first peer on the same inputs
                with torch.no_grad():
                    o = f()
                    if isinstance(o, tuple):
                        o = o[0]
                    if o.dim() == 4:
                        o = o[0].transpose(0, 1)
                    o = o.float()
                    if impl == "ffa":
                        ref_out = o
                    elif ref_out is not None and impl not in ("ffa_sink", "ffa_softcap"):
                        res["rel_l2_vs_ffa"] = ((o - ref_out).norm() / ref_out.norm()).item()
                if impl == "ffa":
                    out = torch.empty_like(dout)
                    lse = torch.empty(S, H, device=dev)
                    work = ffa_mod._get_slices(qr, kr, tm).work(S, S)
                    stream = torch.cuda.current_stream().cuda_stream
                    # 5 rounds of 4 calls (median round): 20 launches in all, as many as
                    # the Python figure, so the GPU work they queue stays small.
                    host_us = _C.ffa_forward_host_us(work, q.detach(), k.detach(), v.detach(),
                                                     out, lse, stream, 4)
                    torch.cuda.synchronize()
                    res["cpp_host_us_per_cached_call"] = host_us
                    # Python end to end (no autograd recording), cached: 5 rounds of 4 calls,
                    # the median round, as the C++ figure (one allocator miss or collector
                    # pause in 20 calls read 100-480 us a call in one run, bench/NOTES.md v56).
                    with torch.no_grad():
                        flex_flash_attn_func(q, k, v, qr, kr, tm)
                        torch.cuda.synchronize()
                        rounds = []
                        for _ in range(5):
                            t0 = time.perf_counter()
                            for _ in range(4):
                                flex_flash_attn_func(q, k, v, qr, kr, tm)
                            rounds.append((time.perf_counter() - t0) / 4 * 1e6)
                        res["py_host_us_per_cached_call"] = sorted(rounds)[2]
                        torch.cuda.synchronize()
            except Exception as ex:  # noqa: BLE001
                res["error"] = repr(ex)[:1500]
                traceback.print_exc()
            zero()
            R["results"].append(res)
            save()
            log(f"  {impl:11s} fwd {res.get('fwd_ms', float('nan')):8.3f} ms {res.get('fwd_tflops') or float('nan'):6.1f} TF/s"
                f" | bwd {res.get('bwd_tflops') or float('nan'):6.1f} TF/s | f+b {res.get('fwdbwd_tflops') or float('nan'):6.1f} TF/s"
                + (f" | host C++ {res['cpp_host_us_per_cached_call']:.1f} us py {res['py_host_us_per_cached_call']:.1f} us" if 'cpp_host_us_per_cached_call' in res else "")
                + (f" | relL2 {res['rel_l2_vs_ffa']:.1e}" if 'rel_l2_vs_ffa' in res else "")
                + (f" | ERROR {res['error'][:200]}" if 'error' in res else ""))
            torch.cuda.empty_cache()
        del q, k, v, dout
        torch.cuda.empty_cache()
    R["env"]["wall_s"] = time.time() - T0
    save()


if __name__ == "__main__":
    main()
