"""Cross-attention (is_same_source=False) on 1-8 gloo ranks: q and k/v of different lengths,
each dispatched on its own; out, lse, dq, dk and dv against the dense float64 reference, also
with uneven shards (neither side padded) and hierarchical communication (2x2 and 2x4 meshes);
plus the key's argument checks."""

import pytest
import torch

from cross_attn_workers import MASKS, run
from dist_harness import run_ranks
from reference import attention, dense_mask, rel_err

CASES = [("full_q_longer", 1, 2, "flat"), ("full_q_shorter", 2, 0, "flat"),
         ("causal_slices", 3, 2, "flat"), ("varlen", 4, 1, "flat"),
         ("varlen_causal", 2, 2, "flat"), ("causal_slices", 8, 2, "flat"),
         ("causal_slices", 3, 1, "uneven"), ("full_q_longer", 8, 0, "uneven"),
         ("varlen", 4, 1, "hier"), ("causal_slices", 8, 2, "hier_uneven")]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-cp{c[1]}-degree{c[2]}-{c[3]}")
def test_cross_attn_matches_dense(case):
    mask_name, world_size, degree, mode = case
    results = run_ranks(run, world_size, mask_name, degree, mode, timeout=300)
    r0 = results[0]
    for r, res in enumerate(results[1:], 1):
        assert torch.equal(res["out"], r0["out"]) and torch.equal(res["dk"], r0["dk"]), r
    total_q, total_k = MASKS[mask_name][:2]
    shards_kv = [res["shard_kv"] for res in results]
    if "uneven" in mode:
        # Nothing padded: the ranks' k/v rows are exactly the k/v tokens, in unequal shares.
        assert all(res["pad_size_kv"] == 0 for res in results)
        assert sum(shards_kv) == total_k and len(set(shards_kv)) > 1, shards_kv
    if mode == "uneven" and world_size > 1:
        # Fewer k/v tokens than ranks: every rank's error names k/v's length.
        errors = [res["short_kv_error"] or "" for res in results]
        assert all("total_seqlen_k = " in e for e in errors), errors
    if mode.startswith("hier"):
        # Remote k/v rows did cross between the nodes, through the two levels.
        assert sum(res["comm_rows"]["inter"] for res in results) > 0
    q, k, v = (r0[n].clone().requires_grad_() for n in ("q", "k", "v"))
    out, lse = attention(q, k, v, dense_mask(r0["slices"], total_q, total_k))
    (out * r0["g"]).sum().backward()
    for name, got, ref in (("out", r0["out"], out.detach()), ("lse", r0["lse"], lse.detach()),
                           ("dq", r0["dq"], q.grad), ("dk", r0["dk"], k.grad),
                           ("dv", r0["dv"], v.grad)):
        assert got.shape == ref.shape, name
        err = rel_err(got, ref)
        # NOTE: lse is float32 for every dtype (the core's contract), and the backward reads
        # it: float64 inputs agree to ~1e-7 (the C++ tests check 1e-10 with a float64 lse).
        assert err <= 1e-6, f"{name}: relative error {err:.3e} > 1e-6"


def test_attn_role_is_checked():
    from magi_attention.api import AttnRole, dispatch, undispatch

    x = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="attn_role = 'keys'"):
        dispatch(x, object(), attn_role="keys")
    with pytest.raises(ValueError, match="attn_role"):
        undispatch(x, object(), attn_role=3)
    assert AttnRole("value") is AttnRole.VALUE
