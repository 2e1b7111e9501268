"""GPU tests of return_max_logits on CUDA tensors (the Hopper forward's tracked maxima,
TrackMax::kOn, or the softmax's reference at rescale_slack 0: the portable kernels and softcap;
and the atomic NaN-keeping max of fwd_epilogue.cuh), against the dense reference of the scores:
both kernel families, hd 64 and 128, GQA, softcap, masks of every type, long rows whose
reference settles below the row max or moves often, an empty mask and a NaN; out and lse must
equal the call without max_logits up to the rescale order (the reference rule of test_ffa.py).
test_fwd_plan.py reruns these with the Hopper forward's tiles cut (each piece merges its maxima).
Run: PYTHONPATH=python python3 -m pytest tests/cuda/test_max_logits.py -q
"""
import os
import random
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))
from ffa_ref import dense_mask  # noqa: E402

if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

from magi_attention import flex_flash_attn_func  # noqa: E402
from test_ffa import random_slices, to_tensors  # noqa: E402

DEV = torch.device("cuda")


def dense_max_logits(q, k, mask, softcap=0.0):
    hq, hkv, d = q.shape[1], k.shape[1], q.shape[2]
    s = torch.einsum("qhd,khd->hqk", q.double(), k.double().repeat_interleave(hq // hkv, 1))
    s = s * d ** -0.5
    if softcap > 0:
        s = softcap * torch.tanh(s / softcap)
    return s.masked_fill(~mask, float("-inf")).flatten(1).max(dim=1).values


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("d", [64, 128])
def test_max_logits_matches_dense(seed, d):
    rng = random.Random(seed * 13 + d)
    sq, sk = rng.randint(100, 900), rng.randint(100, 900)
    hkv = rng.choice([1, 2])
    hq = hkv * rng.choice([1, 4])
    softcap = 0.0 if seed % 2 == 0 else 20.0
    slices = random_slices(rng, sq, sk)
    g = torch.Generator(device=DEV).manual_seed(seed)
    q, k, v = (torch.randn(n, h, d, device=DEV, dtype=torch.bfloat16, generator=g)
               for n, h in ((sq, hq), (sk, hkv), (sk, hkv)))
    out, meta = flex_flash_attn_func(q, k, v, *to_tensors(slices), softcap=softcap,
                                     return_max_logits=True)
    ref = dense_max_logits(q, k, dense_mask(slices, sq, sk, DEV), softcap)
    # fp32 products of bf16 inputs against float64: a few ulps of fp32 at these magnitudes.
    assert torch.allclose(meta.max_logits.double(), ref, rtol=1e-4, atol=1e-4), (
        meta.max_logits, ref)
    plain, lse = flex_flash_attn_func(q, k, v, *to_tensors(slices), softcap=softcap)
    torch.testing.assert_close(out.float(), plain.float(), rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(meta.lse, lse, rtol=1e-4, atol=1e-4)


def test_max_logits_empty_and_nan():
    q, k, v = (torch.randn(256, 2, 64, device=DEV, dtype=torch.bfloat16) for _ in range(3))
    _, meta = flex_flash_attn_func(q, k, v, *to_tensors([(10, 10, 0, 256, 0)]),
                                   return_max_logits=True)
    assert torch.equal(meta.max_logits.cpu(), torch.full((2,), float("-inf")))
    q[100, 1, 5] = float("nan")
    _, meta = flex_flash_attn_func(q, k, v, *to_tensors([(0, 256, 0, 256, 1)]),
                                   return_max_logits=True)
    assert torch.isnan(meta.max_logits[1]) and torch.isfinite(meta.max_logits[0])


@pytest.mark.parametrize("mask_type", [0, 1])
@pytest.mark.parametrize("gain", [1.0, 6.0])
def test_max_logits_long_rows(mask_type, gain):
    # Rows of 4096 keys, many tiles each: at gain 1 the scores span a few log2 units, so the
    # softmax's reference (slack 8) settles on the first tile's max, below the row's; at gain 6
    # it moves often.
    s = 4096
    g = torch.Generator(device=DEV).manual_seed(mask_type)
    q, k, v = (torch.randn(s, 2, 128, device=DEV, dtype=torch.bfloat16, generator=g)
               for _ in range(3))
    q = (q * gain).to(torch.bfloat16)
    slices = [(0, s, 0, s, mask_type)]
    out, meta = flex_flash_attn_func(q, k, v, *to_tensors(slices), return_max_logits=True)
    ref = dense_max_logits(q, k, dense_mask(slices, s, s, DEV))
    assert torch.allclose(meta.max_logits.double(), ref, rtol=1e-4, atol=1e-4), (
        meta.max_logits, ref)
    plain, lse = flex_flash_attn_func(q, k, v, *to_tensors(slices))
    torch.testing.assert_close(out.float(), plain.float(), rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(meta.lse, lse, rtol=1e-4, atol=1e-4)
