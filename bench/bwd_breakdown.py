#!/usr/bin/env python3
"""Where the FFA backward's time goes on one case (device): the autograd backward as a user
calls it, the core call alone (preprocess + kernel, preallocated fp32 accumulators), and the
wrapper's zero-fills and casts.

  python3 bench/bwd_breakdown.py varlen_causal 32768
"""
import os
import statistics
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, os.path.join(HERE, "..", "python"))
from magi_attention import flex_flash_attn_func  # noqa: E402
from magi_attention.functional import flex_flash_attn as ffa_mod  # noqa: E402
from profile_ffa import load_case  # noqa: E402


def timed(fn, reps=10):
    ts = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        torch.cuda.synchronize()
        ts.append(s.elapsed_time(e))
    return statistics.median(ts)


def main():
    name, s = sys.argv[1], int(sys.argv[2])
    c, q, k, v, qr, kr, tm = load_case(name, s)
    h, d = c["num_heads_q"], c["head_dim"]
    out, lse = flex_flash_attn_func(q, k, v, qr, kr, tm)
    dout = torch.randn_like(out)
    slices = ffa_mod._get_slices(qr, kr, tm).work(s, s)
    scale = d ** -0.5
    acc = [torch.zeros(s, h, d, device="cuda") for _ in range(3)]
    qd, kd, vd, od = (x.detach() for x in (q, k, v, out))

    t_auto = timed(lambda: torch.autograd.grad(out, (q, k, v), dout, retain_graph=True))
    t_core = timed(lambda: ffa_mod.ffa_backward(dout, qd, kd, vd, od, lse, slices, scale, 0.0,
                                                *acc))
    t_zero = timed(lambda: [torch.zeros(s, h, d, device="cuda") for _ in range(3)])
    t_cast = timed(lambda: [a.to(torch.bfloat16) for a in acc])
    flops = 2.5 * 4 * h * d * c.get("cells", 0) if c.get("cells") else None
    print(f"{name} S={s}: autograd bwd {t_auto:.3f} ms | core call {t_core:.3f} ms | "
          f"3 fp32 zero-fills {t_zero:.3f} ms | 3 casts {t_cast:.3f} ms"
          + (f" | core {flops / t_core / 1e9:.1f} TF/s" if flops else ""))


if __name__ == "__main__":
    main()
