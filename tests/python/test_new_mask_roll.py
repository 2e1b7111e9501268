"""Several masks on one dispatch (make_*_key_for_new_mask_after_dispatch), roll /
roll_simple and undispatch(is_partial_grad=True), on 1, 2 and 4 gloo ranks, against float64 dense references (roll itself on 8 simulated
ranks in tests/api/new_mask_key_test.cc)."""

import pytest
import torch

from dist_attn_workers import qkv_of
from dist_harness import run_ranks
from new_mask_workers import TOTAL, run
from reference import attention, dense_mask, rel_err


@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_new_mask_layers_and_roll_share_one_dispatch(world_size):
    """Output and x.grad of three layers with different masks on one dispatch vs the dense sum;
    roll/roll_simple are checked inside the ranks against torch.roll of the padded x."""
    results = run_ranks(run, world_size, timeout=300)
    r0 = results[0]
    for r, res in enumerate(results[1:], 1):
        assert torch.equal(res["out"], r0["out"]) and torch.equal(res["x_grad"], r0["x_grad"]), r
    x = r0["x"].requires_grad_()
    q, k, v = qkv_of(x)
    out = sum(attention(q, k, v, dense_mask(s, TOTAL, TOTAL))[0] for s in r0["slices"])
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    (out * g).sum().backward()
    for name, got, ref in (("out", r0["out"], out.detach()), ("x.grad", r0["x_grad"], x.grad)):
        err = rel_err(got, ref)
        assert err <= 1e-6, f"{name}: relative error {err:.3e}"  # lse is float32 inside

    # 100 rows in chunks of 8: padding only where 8 * world_size does not divide 100.
    assert r0["pad"] == (-TOTAL) % (8 * world_size)
