"""Hierarchical communication (a 2-D cp_mesh under MAGI_ATTENTION_HIERARCHICAL_COMM=1) on 4 and
8 gloo ranks, meshes 2x2 and 2x4: dispatch -> calc_attn -> undispatch, forward and backward,
against the dense float64 reference and against the flat key of the same mask (outputs bit for
bit; gradients up to the order of their sums). The exchanges themselves are tested on simulated
ranks in tests/runtime/hier_exchange_test.cc."""

import pytest
import torch

from dist_attn_workers import qkv_of
from dist_harness import run_ranks
from hier_workers import run, run_errors
from reference import attention, dense_mask, rel_err

TOTAL = 100
MASKS = {
    # all four types, overlapping q ranges, rows attending to nothing
    "flex": ([[0, 40], [20, 60], [10, 90], [60, TOTAL], [0, 20]],
             [[0, 40], [50, 100], [0, 30], [40, TOTAL], [70, 95]],
             ["causal", "full", "bi_causal", "inv_causal", "full"]),
    # every rank needs every row: flat fetches each remote row once per rank of a node
    "full": ([[0, TOTAL]], [[0, TOTAL]], ["full"]),
}


@pytest.mark.parametrize("mesh,degree,mask", [((2, 2), 1, "flex"), ((2, 2), 0, "full"),
                                              ((2, 4), 2, "flex"), ((2, 4), 1, "full")],
                         ids=lambda v: "x".join(map(str, v)) if isinstance(v, tuple) else str(v))
def test_hierarchical_mesh_matches_dense_and_flat(mesh, degree, mask):
    inter, intra = mesh
    results = run_ranks(run, inter * intra, inter, intra, MASKS[mask], TOTAL, degree, timeout=300)
    r0 = results[0]
    for r, res in enumerate(results[1:], 1):
        assert torch.equal(res["hier_out"], r0["hier_out"]), r
        assert torch.equal(res["hier_grad"], r0["hier_grad"]), r
    # A row just travels differently: the same outputs, the gradients up to rounding.
    assert torch.equal(r0["hier_out"], r0["flat_out"])
    assert rel_err(r0["hier_grad"], r0["flat_grad"]) <= 1e-13
    x = r0["x"].clone().requires_grad_()
    out, _ = attention(*qkv_of(x), dense_mask(r0["slices"], TOTAL, TOTAL))
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    (out * g).sum().backward()
    for name, got, ref in (("out", r0["hier_out"], out.detach()),
                           ("x.grad", r0["hier_grad"], x.grad)):
        err = rel_err(got, ref)
        assert err <= 1e-6, f"{name}: relative error {err:.3e}"  # lse is float32 inside
    # Rows received per group-cast: flat reports one level; hierarchical splits them.
    flat_rows = sum(res["flat_rows"]["intra"] for res in results)
    hier_inter = sum(res["hier_rows"]["inter"] for res in results)
    assert all(res["flat_rows"]["inter"] == 0 for res in results)
    assert 0 < hier_inter < flat_rows
    if mask == "full":
        # Every rank needs every (non-padding) row it does not hold: flat, each rank fetches
        # them; hierarchical, each row enters each other node once.
        assert flat_rows == TOTAL * (inter * intra - 1)
        assert hier_inter == TOTAL * (inter - 1)


def test_hierarchical_mode_needs_a_2d_mesh():
    errors = run_ranks(run_errors, 4, timeout=300)
    for e in errors:
        assert e[0] is not None and "needs a 2-D cp_mesh" in e[0], e
        assert e[1] is not None and "got 1-D" in e[1], e
