"""return_max_logits (issue 14): each query head's largest score over the valid cells (after
softmax_scale and softcap, the sink excluded), on CPU, against a dense float64 reference:
flex_flash_attn_func on random masks, GQA, softcap, a sink, an empty mask and NaN inputs; and
calc_attn over 1, 2 and 4 gloo ranks (the maximum over every stage and rank, the same bits on
every rank)."""
import random

import pytest
import torch

from magi_attention.api import AttnForwardMeta, flex_flash_attn_func
from dist_harness import run_ranks
from dist_attn_workers import qkv_of
from max_logits_workers import run_max_logits
from reference import dense_mask


def dense_max_logits(q, k, mask, softmax_scale=None, softcap=0.0):
    """[Hq] float64: the largest masked score per query head (-inf without a cell)."""
    hq, hkv, d = q.shape[1], k.shape[1], q.shape[2]
    scale = d ** -0.5 if softmax_scale is None else softmax_scale
    s = torch.einsum("qhd,khd->hqk", q.double(), k.double().repeat_interleave(hq // hkv, dim=1))
    s = s * scale
    if softcap > 0:
        s = softcap * torch.tanh(s / softcap)
    s = s.masked_fill(~mask, float("-inf"))
    return s.flatten(1).max(dim=1).values


def random_slices(rng, sq, sk, n):
    out = []
    for _ in range(n):
        qs = rng.randrange(sq)
        ks = rng.randrange(sk)
        out.append((qs, rng.randint(qs + 1, sq), ks, rng.randint(ks + 1, sk), rng.randrange(4)))
    return out


def tensors(slices):
    qr = torch.tensor([[a, b] for a, b, _, _, _ in slices], dtype=torch.int32)
    kr = torch.tensor([[c, d] for _, _, c, d, _ in slices], dtype=torch.int32)
    tm = torch.tensor([t for *_, t in slices], dtype=torch.int32)
    return qr, kr, tm


@pytest.mark.parametrize("seed", range(6))
def test_flex_max_logits_matches_dense(seed):
    rng = random.Random(seed)
    sq, sk, hkv = rng.randint(20, 90), rng.randint(20, 90), rng.choice([1, 2])
    hq, d = hkv * rng.choice([1, 2, 4]), rng.choice([8, 16])
    dtype = torch.float64 if seed % 2 else torch.float32
    softcap = 0.0 if seed < 3 else 3.0
    slices = random_slices(rng, sq, sk, rng.randint(1, 4))
    g = torch.Generator().manual_seed(seed)
    q, k, v = (3 * torch.randn(n, h, d, generator=g, dtype=dtype)
               for n, h in ((sq, hq), (sk, hkv), (sk, hkv)))
    out, meta = flex_flash_attn_func(q, k, v, *tensors(slices), softcap=softcap,
                                     return_max_logits=True)
    assert isinstance(meta, AttnForwardMeta)
    assert meta.max_logits.dtype == torch.float32 and meta.max_logits.shape == (hq,)
    ref = dense_max_logits(q, k, dense_mask(slices, sq, sk), softcap=softcap)
    assert torch.allclose(meta.max_logits.double(), ref, rtol=1e-5, atol=1e-5), (
        meta.max_logits, ref)
    plain_out, plain_lse = flex_flash_attn_func(q, k, v, *tensors(slices), softcap=softcap)
    assert torch.equal(out, plain_out) and torch.equal(meta.lse, plain_lse)


def test_flex_max_logits_empty_sink_nan_and_grad():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(40, 2, 8, generator=g, dtype=torch.float64) for _ in range(3))
    # No valid cell (an empty slice): -inf for every head.
    _, meta = flex_flash_attn_func(q, k, v, *tensors([(5, 5, 0, 40, 0)]), return_max_logits=True)
    assert torch.equal(meta.max_logits, torch.full((2,), float("-inf")))
    # A sink takes no part; the gradient of q still flows (max_logits itself is not
    # differentiable).
    qg = q.clone().requires_grad_()
    sink = torch.full((1, 2), 50.0)
    out, meta = flex_flash_attn_func(qg, k, v, *tensors([(0, 40, 0, 40, 1)]), sink=sink,
                                     return_max_logits=True)
    ref = dense_max_logits(q, k, dense_mask([(0, 40, 0, 40, 1)], 40, 40))
    assert torch.allclose(meta.max_logits.double(), ref, rtol=1e-6)
    assert not meta.max_logits.requires_grad
    out.sum().backward()
    assert qg.grad is not None and torch.isfinite(qg.grad).all()
    # A NaN in a valid cell of head 1 only: head 1 NaN, head 0 finite.
    qn = q.clone()
    qn[7, 1, 3] = float("nan")
    _, meta = flex_flash_attn_func(qn, k, v, *tensors([(0, 40, 0, 40, 0)]), return_max_logits=True)
    assert torch.isnan(meta.max_logits[1]) and torch.isfinite(meta.max_logits[0])


@pytest.mark.parametrize("world_size, case, softcap",
                         [(1, ("flex", "default"), 0.0), (2, ("flex", "no_overlap"), 0.0),
                          (4, ("flex", "seq_3stages"), 2.0)],
                         ids=["cp1", "cp2-degree0", "cp4-3stages-softcap"])
def test_calc_attn_max_logits_over_ranks(world_size, case, softcap):
    total = 100
    results = run_ranks(run_max_logits, world_size, case, total, softcap, timeout=300)
    r0 = results[0]
    q, k, _ = qkv_of(r0["x"])
    ref = dense_max_logits(q, k, dense_mask(r0["slices"], total, total), softcap=softcap)
    for r, res in enumerate(results):
        assert torch.allclose(res["max_logits"].double(), ref, rtol=1e-6, atol=1e-6), (r, ref)
        assert torch.equal(res["max_logits"], r0["max_logits"]), r  # the same bits everywhere
