"""dispatch -> calc_attn -> undispatch on 2 and 3 gloo ranks for varlen causal, sliding-window
and mixed flex masks (all four types, overlapping q ranges, empty rows), GQA, several
dispatch/overlap configs; output and gradient of x against the dense reference."""

import pytest
import torch

from dist_attn_workers import HQ, qkv_of, run
from dist_harness import run_ranks
from reference import attention, dense_mask, rel_err

CASES = [("varlen_causal", "default"), ("sliding_window", "no_overlap"),
         ("flex", "default"), ("flex", "seq_3stages")]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("world_size", [2, 3])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(c))
def test_dist_attn_matches_dense(case, world_size, dtype):
    total = 100
    results = run_ranks(run, world_size, case, dtype, total, timeout=300)
    r0 = results[0]
    for r, res in enumerate(results[1:], 1):
        assert torch.equal(res["out"], r0["out"]) and torch.equal(res["x_grad"], r0["x_grad"]), r
    assert r0["lse_shape"] == ((total + r0["pad"]) // world_size, HQ)
    x = r0["x"].double().requires_grad_()
    out, _ = attention(*qkv_of(x), dense_mask(r0["slices"], total, total))
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    (out * g).sum().backward()
    tol = 1e-6 if dtype == "float64" else 1e-5  # lse is float32 inside for every dtype
    for name, got, ref in (("out", r0["out"], out.detach()), ("x.grad", r0["x_grad"], x.grad)):
        err = rel_err(got, ref)
        assert err <= tol, f"{name}: relative error {err:.3e} > {tol:g}"


@pytest.mark.parametrize("world_size", [1, 2, 4, 8])
@pytest.mark.parametrize("d", [192, 256])
def test_dist_attn_large_head_dims(d, world_size):
    """Head dims 192 and 256 through the whole CPU pipeline on 1-8 ranks (dispatch, exchange, stage merges,
    backward), float64 against the dense reference."""
    total = 100
    results = run_ranks(run, world_size, ("flex", "seq_3stages"), "float64", total, None, d,
                        timeout=300)
    r0 = results[0]
    x = r0["x"].double().requires_grad_()
    out, _ = attention(*qkv_of(x, d=d), dense_mask(r0["slices"], total, total))
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    (out * g).sum().backward()
    for name, got, ref in (("out", r0["out"], out.detach()), ("x.grad", r0["x_grad"], x.grad)):
        err = rel_err(got, ref)
        assert err <= 1e-6, f"{name}: relative error {err:.3e}"


@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_dist_attn_value_head_dim_of_its_own(world_size):
    """MLA's head dims (q / k 192, v 128) through the whole CPU pipeline: K|V rows of two widths
    in the exchange, out and dv of v's width; float64 against the dense reference."""
    total, d, dv = 100, 192, 128
    results = run_ranks(run, world_size, ("flex", "seq_3stages"), "float64", total, None, d, dv,
                        timeout=300)
    r0 = results[0]
    assert r0["out"].shape == (total, HQ, dv)
    x = r0["x"].double().requires_grad_()
    out, _ = attention(*qkv_of(x, d=d, dv=dv), dense_mask(r0["slices"], total, total))
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    (out * g).sum().backward()
    for name, got, ref in (("out", r0["out"], out.detach()), ("x.grad", r0["x_grad"], x.grad)):
        err = rel_err(got, ref)
        assert err <= 1e-6, f"{name}: relative error {err:.3e}"
