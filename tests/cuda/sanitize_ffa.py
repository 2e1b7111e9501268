"""Small FFA forward + backward for compute-sanitizer (memcheck, racecheck):
  compute-sanitizer --tool memcheck python3 tests/cuda/sanitize_ffa.py
"""
import os
import random
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from test_ffa import random_slices, to_tensors  # noqa: E402

from magi_attention import flex_flash_attn_func  # noqa: E402


def main():
    rng = random.Random(0)
    # GQA with overlapping slices (dK / dV through fp32 scratch) and MHA with disjoint
    # documents (dK / dV stored directly by the Hopper kernel); head dims above 128 (the
    # split-head-dim backward, or at 256 its D-pass variant) where the Hopper kernels run; MLA's
    # head dims (q / k 192, v 128), with GQA and, on Hopper, MHA with dK / dV stored directly.
    hopper = (torch.cuda.get_device_capability() == (9, 0)
              and os.environ.get("MAGI_FFA_PORTABLE", "0") in ("", "0"))
    cases = [(128, torch.bfloat16, 1, False), (64, torch.float16, 1, False),
             (128, torch.bfloat16, 2, True), ((192, 128), torch.bfloat16, 1, False)]
    if hopper:
        cases += [(256, torch.bfloat16, 1, False), (192, torch.float16, 2, True),
                  (256, torch.float16, 2, True), ((192, 128), torch.bfloat16, 2, True)]
    for dims, dtype, hkv, mha in cases:
        d, dv = dims if isinstance(dims, tuple) else (dims, dims)
        sq, sk = 197, 263
        if mha:
            sq = sk = 330
            sl = [(0, 150, 0, 150, 1), (150, 330, 150, 320, 0)]
        else:
            sl = random_slices(rng, sq, sk) + [(0, sq, 0, sk, 1)]
        q = torch.randn(sq, 2, d, device="cuda", dtype=dtype, requires_grad=True)
        k = torch.randn(sk, hkv, d, device="cuda", dtype=dtype, requires_grad=True)
        v = torch.randn(sk, hkv, dv, device="cuda", dtype=dtype, requires_grad=True)
        out, lse = flex_flash_attn_func(q, k, v, *to_tensors(sl))
        out.backward(torch.randn_like(out))
        torch.cuda.synchronize()
        print("ok", dims, dtype, out.float().abs().sum().item(),
              q.grad.float().abs().sum().item())


if __name__ == "__main__":
    main()
