"""CUDA tensors (skipped without a GPU): flex_flash_attn_func and the distributed pipeline over
NCCL (one GPU per rank, as many ranks as GPUs allow), against the float64 dense reference with the bf16/fp16 rule (error <= 3 x
torch's same-precision error + 1e-3)."""

import pytest
import torch

from dist_attn_workers import qkv_of
from dist_harness import run_ranks
from reference import attention, dense_mask, rel_err
from test_flex_flash_attn import CASES, _inputs, _run_magi, _run_ref

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_flex_flash_attn_cuda(case, dtype):
    _, tq, tk, slices = case
    (q, k, v), dout = _inputs(tq, tk, 8, 2, 128, dtype)
    got = _run_magi(q.cuda(), k.cuda(), v.cuda(), slices, dout.cuda())
    ref = _run_ref(*(t.double() for t in (q, k, v)), slices, dout)
    low = _run_ref(q, k, v, slices, dout)
    for name, x, r, lp in zip(("out", "lse", "dq", "dk", "dv"), got, ref, low):
        assert x.is_cuda, name
        err, err_lp = rel_err(x.cpu(), r), rel_err(lp, r)
        assert err <= 3 * err_lp + 1e-3, f"{name}: {err:.3e} > 3 * {err_lp:.3e} + 1e-3"


@pytest.mark.parametrize("dims", [None, (192, 128)], ids=["d64", "mla"])
@pytest.mark.parametrize("degree", [None, 0, 2])
@pytest.mark.parametrize("world", [1, 2, 4, 8])
def test_dist_pipeline_nccl(world, degree, dims, dtype="bfloat16"):
    """``dims``: q / k's and v's head dims (MLA: K|V rows of two widths; None: 64 for all)."""
    from cuda_workers import D, HKV, HQ, run

    if torch.cuda.device_count() < world:
        pytest.skip(f"needs {world} GPUs")
    d, dv = dims or (D, D)
    total = 100
    results = run_ranks(run, world, dtype, total, degree, d, dv, timeout=300)
    r0 = results[0]
    for r, res in enumerate(results[1:], 1):  # every rank undispatches the same global tensors
        assert torch.equal(res["out"], r0["out"]), f"rank {r} out"
        assert torch.equal(res["x_grad"], r0["x_grad"]), f"rank {r} x.grad"
    for lowp in (False, True):
        x = r0["x"].double() if not lowp else r0["x"].clone()
        x.requires_grad_()
        out, _ = attention(*qkv_of(x, HQ, HKV, d, dv), dense_mask(r0["slices"], total, total))
        g = torch.randn(out.shape, generator=torch.Generator().manual_seed(1),
                        dtype=torch.float64)
        (out.double() * g).sum().backward()
        if not lowp:
            ref_out, ref_grad = out.detach(), x.grad
        else:
            lp_out, lp_grad = out.detach(), x.grad
    for name, got, ref, lp in (("out", r0["out"], ref_out, lp_out),
                               ("x.grad", r0["x_grad"], ref_grad, lp_grad)):
        err, err_lp = rel_err(got, ref), rel_err(lp, ref)
        assert err <= 3 * err_lp + 1e-3, f"{name}: {err:.3e} > 3 * {err_lp:.3e} + 1e-3"


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
def test_key_agreement_over_nccl_two_gpus():
    from cuda_workers import key_agreement

    for res in run_ranks(key_agreement, 2, timeout=300):
        assert res["finite"]
        assert "disagree on the mask" in res["error"], res["error"]


@pytest.mark.parametrize("uneven", [False, True], ids=["even", "uneven"])
@pytest.mark.parametrize("world", [1, 2, 4])
def test_cross_attn_nccl(world, uneven):
    """Cross-attention on CUDA tensors over NCCL (bf16) against the dense float64 reference."""
    from cuda_workers import cross

    if torch.cuda.device_count() < world:
        pytest.skip(f"needs {world} GPUs")
    results = run_ranks(cross, world, "causal_slices", uneven, timeout=300)
    r0 = results[0]
    refs = []
    for dtype in (torch.float64, torch.bfloat16):  # the reference, then torch's own bf16 error
        q, k, v = (r0[n].to(dtype).requires_grad_() for n in ("q", "k", "v"))
        out, _ = attention(q, k, v, dense_mask(r0["slices"], *r0["total"]))
        (out.double() * r0["g"]).sum().backward()
        refs.append((out.detach(), q.grad, k.grad, v.grad))
    for i, name in enumerate(("out", "dq", "dk", "dv")):
        err, err_lp = rel_err(r0[name], refs[0][i]), rel_err(refs[1][i], refs[0][i])
        assert err <= 3 * err_lp + 1e-3, f"{name}: {err:.3e} > 3 * {err_lp:.3e} + 1e-3"


@pytest.mark.parametrize("world", [1, 2])
def test_new_mask_keys_and_roll_nccl(world):
    """Several masks on one dispatch and roll on CUDA tensors over NCCL (bf16) against the
    dense float64 sum of the three layers."""
    from cuda_workers import D, HKV, HQ, new_mask_roll
    from new_mask_workers import TOTAL

    if torch.cuda.device_count() < world:
        pytest.skip(f"needs {world} GPUs")
    r0 = run_ranks(new_mask_roll, world, timeout=300)[0]
    refs = []
    for dtype in (torch.float64, torch.bfloat16):
        x = r0["x"].to(dtype).requires_grad_()
        q, k, v = qkv_of(x, HQ, HKV, D)
        out = sum(attention(q, k, v, dense_mask(s, TOTAL, TOTAL))[0] for s in r0["slices"])
        g = torch.randn(out.shape, generator=torch.Generator().manual_seed(1),
                        dtype=torch.float64)
        (out.double() * g).sum().backward()
        refs.append((out.detach(), x.grad))
    for i, (name, got) in enumerate((("out", r0["out"]), ("x.grad", r0["x_grad"]))):
        err, err_lp = rel_err(got, refs[0][i]), rel_err(refs[1][i], refs[0][i])
        assert err <= 3 * err_lp + 1e-3, f"{name}: {err:.3e} > 3 * {err_lp:.3e} + 1e-3"


@pytest.mark.parametrize("softcap", [0.0, 20.0])
@pytest.mark.parametrize("world", [1, 2])
def test_max_logits_nccl(world, softcap):
    """calc_attn's return_max_logits on CUDA tensors over NCCL: every rank holds the maximum
    over all stages and ranks (the same bits), equal to the dense float64 maximum of the bf16
    inputs' scores up to fp32 rounding; out equals the call without it up to rounding."""
    from cuda_workers import D, HKV, HQ, max_logits
    from test_max_logits import dense_max_logits

    if torch.cuda.device_count() < world:
        pytest.skip(f"needs {world} GPUs")
    results = run_ranks(max_logits, world, softcap, timeout=300)
    r0 = results[0]
    for r, res in enumerate(results[1:], 1):
        assert torch.equal(res["max_logits"], r0["max_logits"]), f"rank {r}"
    # NOTE: with max_logits the kernels follow the exact row maximum (more O rescales), so out
    # equals the plain call's up to rounding, not bit for bit.
    for res in results:
        torch.testing.assert_close(res["out"], res["plain"], rtol=2e-2, atol=2e-2)
    q, k, _ = qkv_of(r0["x"], HQ, HKV, D)
    total = r0["total"]
    ref = dense_max_logits(q, k, dense_mask(r0["slices"], total, total), softcap=softcap)
    assert torch.allclose(r0["max_logits"].double(), ref, rtol=1e-4, atol=1e-4), (
        r0["max_logits"], ref)
