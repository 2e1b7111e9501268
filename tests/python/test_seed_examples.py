"""The seed's two examples on CPU (gloo), 2 and 4 processes, float32 and bfloat16, against a
single-process dense reference: total_out and the gradient of x.

float32: relative error (Frobenius norm) <= 1e-5 against float64.
bfloat16 rule (STYLE.md 22): error vs float64 <= 3 x the error of the same pipeline run by torch
in bfloat16 (dense attention), + 1e-3.
"""

import pytest
import torch

from dist_harness import run_ranks
from reference import attention, dense_mask, rel_err
from seed_workers import loss_weights, run_example


_REFERENCES: dict = {}


def _reference(rank0, dtype):
    """Dense pipeline in `dtype`: returns (total_out, x.grad). Cached: the inputs depend on the
    example and its dtype only (every run seeds them), not on the number of processes."""
    tag = (tuple(rank0["slices"]), rank0["x"].dtype, float(rank0["x"].double().sum()), dtype)
    if tag not in _REFERENCES:
        _REFERENCES[tag] = _compute_reference(rank0, dtype)
    return _REFERENCES[tag]


def _compute_reference(rank0, dtype):
    hq, hkv, d = rank0["heads"]
    x = rank0["x"].to(dtype).requires_grad_()
    (wq, bq), (wk, bk), (wv, bv) = [(w.to(dtype), b.to(dtype)) for w, b in rank0["weights"]]
    q = (x @ wq.T + bq).view(-1, hq, d)
    k = (x @ wk.T + bk).view(-1, hkv, d)
    v = (x @ wv.T + bv).view(-1, hkv, d)
    total = x.shape[0]
    out, _ = attention(q, k, v, dense_mask(rank0["slices"], total, total))
    (out.double() * loss_weights(out.shape)).sum().backward()
    return out.detach(), x.grad.detach()


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("world_size", [2, 4])
@pytest.mark.parametrize("example", ["varlen", "flex"])
def test_seed_example(example, world_size, dtype):
    results = run_ranks(run_example, world_size, example, dtype, timeout=900)
    rank0 = results[0]
    for r, res in enumerate(results[1:], 1):  # every rank holds the same global tensors
        assert torch.equal(res["total_out"], rank0["total_out"]), f"rank {r} total_out"
        assert torch.equal(res["x_grad"], rank0["x_grad"]), f"rank {r} x.grad"
    out_hp, grad_hp = _reference(rank0, torch.float64)
    errs = {"total_out": rel_err(rank0["total_out"], out_hp),
            "x.grad": rel_err(rank0["x_grad"], grad_hp)}
    bounds = {}
    if dtype == "float32":
        for name, err in errs.items():
            assert err <= 1e-5, f"{name}: relative error {err:.3e} > 1e-5"
    else:
        out_lp, grad_lp = _reference(rank0, torch.bfloat16)
        bounds = {"total_out": rel_err(out_lp, out_hp), "x.grad": rel_err(grad_lp, grad_hp)}
        for name, err in errs.items():
            assert err <= 3 * bounds[name] + 1e-3, \
                f"{name}: {err:.3e} > 3 * {bounds[name]:.3e} + 1e-3"
    print(f"{example} cp={world_size} {dtype}: " +
          ", ".join(f"{n} rel err {e:.2e}" + (f" (torch bf16: {bounds[n]:.2e})" if bounds else "")
                    for n, e in errs.items()))
