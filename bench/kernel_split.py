#!/usr/bin/env python3
"""GPU time per kernel of one FFA forward and backward and of cuDNN's (torch SDPA) on the same
inputs, from torch.profiler: how much of each side's time is outside its main kernels (row
deltas, dq zero-fill and cast, layout copies). Device only.

  python3 bench/kernel_split.py full:2048:16-16:128 causal:8192:64-8:128 [--reps 10] [--json F]
"""
import argparse
import collections
import json
import os
import sys

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.profiler import ProfilerActivity, profile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from profile_ffa import load_case  # noqa: E402  (puts ../python on the path)
from magi_attention import flex_flash_attn_func  # noqa: E402


def kernel_times(step, reps):
    """({kernel name: mean GPU microseconds per call of `step`}, mean span per call: first
    kernel start to last kernel end, gaps included) over `reps` profiled calls queued behind a
    GPU sleep (the host's launch time hidden)."""
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        torch.cuda._sleep(20_000_000)
        for _ in range(reps):
            step()
        torch.cuda.synchronize()
    total = collections.Counter()
    first, last = float("inf"), 0.0
    for ev in prof.events():
        # torch.cuda._sleep runs as spin_kernel: not part of the step
        if ev.device_type == torch.autograd.DeviceType.CUDA and "spin_kernel" not in ev.name:
            total[ev.name] += ev.time_range.elapsed_us()
            first, last = min(first, ev.time_range.start), max(last, ev.time_range.end)
    return {name: us / reps for name, us in total.most_common()}, (last - first) / reps


def inputs(name, s, heads, d):
    """q, k, v, q_ranges, k_ranges, types: full / causal as one slice at any S, else the case of
    cases.json."""
    if name not in ("full", "causal"):
        return load_case(name, s, heads=heads, head_dim=d)[1:]
    q, k, v = (torch.randn(s, n, d, device="cuda", dtype=torch.bfloat16, requires_grad=True)
               for n in (heads[0], heads[1], heads[1]))
    r = torch.tensor([[0, s]], dtype=torch.int32, device="cuda")
    return q, k, v, r, r.clone(), torch.tensor([int(name == "causal")], dtype=torch.int32,
                                                device="cuda")


def split(name, s, heads, d, reps):
    q, k, v, qr, kr, tm = inputs(name, s, heads, d)
    dout = torch.randn(q.shape, device=q.device, dtype=q.dtype)
    out, _ = flex_flash_attn_func(q, k, v, qr, kr, tm)

    def ffa_fwd():  # as in training: with the inputs' graph (lse kept)
        flex_flash_attn_func(q, k, v, qr, kr, tm)

    def ffa_bwd():
        torch.autograd.grad(out, (q, k, v), dout, retain_graph=True)

    qt, kt, vt = (x.detach().transpose(0, 1)[None].requires_grad_() for x in (q, k, v))
    dot = dout.transpose(0, 1)[None]
    with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
        o = torch.nn.functional.scaled_dot_product_attention(
            qt, kt, vt, is_causal=name == "causal", enable_gqa=heads[0] != heads[1])

        def cudnn_fwd():
            torch.nn.functional.scaled_dot_product_attention(
                qt, kt, vt, is_causal=name == "causal", enable_gqa=heads[0] != heads[1])

        def cudnn_bwd():
            torch.autograd.grad(o, (qt, kt, vt), dot, retain_graph=True)

        steps = {"ffa_fwd": ffa_fwd, "cudnn_fwd": cudnn_fwd, "ffa_bwd": ffa_bwd,
                 "cudnn_bwd": cudnn_bwd}
        return {side: kernel_times(fn, reps) for side, fn in steps.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cases", nargs="+", help="case:S:hq-hkv:head_dim")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--json")
    a = ap.parse_args()
    report = {"device": torch.cuda.get_device_name(), "commit": os.environ.get("MAGI_COMMIT", "")}
    for spec in a.cases:
        name, s, h, d = spec.split(":")
        heads = tuple(int(x) for x in h.split("-"))
        res = split(name, int(s), heads, int(d), a.reps)
        report[spec] = {side: {"kernels_us": ks, "span_us": span}
                        for side, (ks, span) in res.items()}
        for side, (ks, span) in res.items():
            tot = sum(ks.values())
            print(f"{spec} {side}: {tot:8.1f} us in {len(ks)} kernels, span {span:8.1f} us")
            for kname, us in ks.items():
                print(f"    {us:8.1f} us {100 * us / tot:5.1f} %  {kname[:100]}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
