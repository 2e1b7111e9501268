"""One FFA forward + backward on a cases.json case, for ncu / compute-sanitizer runs:
  ncu --kernel-name regex:ffa_ python3 bench/profile_ffa.py full 8192 [reps] [hq:hkv] [head_dim]
PROFILE_PEER=1 (or =cudnn) adds torch SDPA's FlashAttention-2 (or cuDNN) kernels on the same
inputs; PROFILE_FWD=1 runs the forwards alone.
"""
import json
import os
import re
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
from magi_attention import flex_flash_attn_func  # noqa: E402

TYPES = {"full": 0, "causal": 1, "inv_causal": 2, "bi_causal": 3}


def load_case(name, s, device="cuda", heads=None, head_dim=None):
    """Case `name` at seqlen `s` of cases.json (full and causal at any seqlen, and `docs<L>` /
    `docs<L>_causal`: documents of L tokens; 16 heads of 128 as there): (case, q, k, v,
    q_ranges, k_ranges, types), q/k/v random bf16 with requires_grad; `heads` (hq, hkv) and
    `head_dim` override the case's."""
    found = [c for c in json.load(open(os.path.join(HERE, "cases.json")))["cases"]
             if c["name"] == name and c["seqlen"] == s]
    if not found and name in ("full", "causal"):
        found = [{"name": name, "seqlen": s, "num_heads_q": 16, "head_dim": 128,
                  "slices": [[0, s, 0, s, name]]}]
    docs = re.fullmatch(r"docs(\d+)(_causal)?", name)
    if not found and docs and int(docs.group(1)) > 0:
        # Documents of L tokens (the last one shorter), full or causal: the same kernels over
        # items of one length, to fit a tile's fixed cost (cycles per cell against L).
        n, kind = int(docs.group(1)), "causal" if docs.group(2) else "full"
        found = [{"name": name, "seqlen": s, "num_heads_q": 16, "head_dim": 128,
                  "slices": [[a, min(a + n, s), a, min(a + n, s), kind]
                             for a in range(0, s, n)]}]
    if not found:
        sys.exit(f"profile_ffa.py: no case {name!r} at seqlen {s} in cases.json")
    c = found[0]
    h, d = c["num_heads_q"], head_dim or c["head_dim"]
    hq, hkv = heads if heads else (h, h)
    q, k, v = (torch.randn(s, n, d, device=device, dtype=torch.bfloat16, requires_grad=True)
               for n in (hq, hkv, hkv))
    sl = c["slices"]
    qr = torch.tensor([[x[0], x[1]] for x in sl], dtype=torch.int32, device=device)
    kr = torch.tensor([[x[2], x[3]] for x in sl], dtype=torch.int32, device=device)
    tm = torch.tensor([TYPES[x[4]] for x in sl], dtype=torch.int32, device=device)
    return c, q, k, v, qr, kr, tm


def main():
    name, s = sys.argv[1], int(sys.argv[2])
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    heads = tuple(map(int, sys.argv[4].split(":"))) if len(sys.argv) > 4 else None
    head_dim = int(sys.argv[5]) if len(sys.argv) > 5 else None
    _, q, k, v, qr, kr, tm = load_case(name, s, heads=heads, head_dim=head_dim)
    fwd_only = bool(os.environ.get("PROFILE_FWD"))
    for _ in range(reps):
        out, _ = flex_flash_attn_func(q, k, v, qr, kr, tm)
        if not fwd_only:
            out.backward(torch.randn_like(out))
    peer = os.environ.get("PROFILE_PEER")
    if peer and name in ("full", "causal"):
        # torch SDPA's kernels on the same inputs, for side-by-side counters.
        from torch.nn.attention import SDPBackend, sdpa_kernel
        qt, kt, vt = (x.detach().transpose(0, 1)[None].requires_grad_() for x in (q, k, v))
        backend = SDPBackend.CUDNN_ATTENTION if peer == "cudnn" else SDPBackend.FLASH_ATTENTION
        with sdpa_kernel(backend):
            for _ in range(reps):
                o = torch.nn.functional.scaled_dot_product_attention(
                    qt, kt, vt, is_causal=name == "causal",
                    enable_gqa=qt.shape[1] != kt.shape[1])
                if not fwd_only:
                    o.backward(torch.randn_like(o))
    torch.cuda.synchronize()
    print("done", name, s)


if __name__ == "__main__":
    main()
