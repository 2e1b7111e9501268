"""One FFA forward + backward case against the float64 reference, for hunting a kernel fault in
a process of its own (one case per process, so a fault does not hide the next case's result):
  python3 tests/cuda/probe_bwd.py <case> [--det] [--hd 64|128] [--heads HQ:HKV] [--fp16]
Cases: tiny (one 128 x 128 FULL slice), causal (1024, CAUSAL), two (two overlapping slices),
docs (three disjoint documents, MHA: dK / dV stored directly). Prints the max errors and exits 0
when they are within test_ffa.py's rule.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from ffa_ref import attention_ref, dense_mask  # noqa: E402
from test_ffa import check, to_tensors  # noqa: E402

from magi_attention import flex_flash_attn_func  # noqa: E402

CASES = {
    "tiny": (128, 128, [(0, 128, 0, 128, 0)]),
    "causal": (1024, 1024, [(0, 1024, 0, 1024, 1)]),
    "two": (700, 900, [(0, 700, 0, 900, 0), (100, 600, 200, 500, 1)]),
    "docs": (900, 900, [(0, 300, 0, 300, 1), (300, 700, 300, 700, 1), (700, 900, 700, 900, 0)]),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=list(CASES))
    ap.add_argument("--det", action="store_true")
    ap.add_argument("--hd", type=int, default=64)
    ap.add_argument("--heads", default="2:1")
    ap.add_argument("--fp16", action="store_true")
    a = ap.parse_args()
    sq, sk, slices = CASES[a.case]
    hq, hkv = (int(x) for x in a.heads.split(":"))
    dtype = torch.float16 if a.fp16 else torch.bfloat16
    torch.manual_seed(0)
    mk = lambda n, h: torch.randn(n, h, a.hd, device="cuda", dtype=dtype)  # noqa: E731
    q, k, v, dout = mk(sq, hq), mk(sk, hkv), mk(sk, hkv), mk(sq, hq)
    qg, kg, vg = (x.clone().requires_grad_(True) for x in (q, k, v))
    out, _ = flex_flash_attn_func(qg, kg, vg, *to_tensors(slices), deterministic=a.det)
    out.backward(dout)
    torch.cuda.synchronize()
    mask = dense_mask(slices, sq, sk, q.device)
    r64 = attention_ref(q, k, v, dout, mask, a.hd ** -0.5, 0.0, torch.float64)
    rlp = attention_ref(q, k, v, dout, mask, a.hd ** -0.5, 0.0, dtype)
    for i, (name, got) in enumerate(zip(("out", "dq", "dk", "dv"), (out, qg.grad, kg.grad,
                                                                      vg.grad))):
        j = 0 if i == 0 else i + 1
        err = (got.double() - r64[j]).abs().max().item()
        print(f"{a.case} det={a.det} hd={a.hd} heads={a.heads} {name}: max err {err:.3e}")
        check(name, got, r64[j], rlp[j])
    print("ok")


if __name__ == "__main__":
    main()
