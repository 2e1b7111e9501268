"""Worker of test_new_mask_roll.py: several masks over one dispatch (new-mask keys) and roll,
forward and backward, on one rank; the rank also computes the float64 reference of roll from the
global tensor it holds."""

import pytest
import torch
import torch.distributed as dist

from dist_attn_workers import D, HKV, HQ, qkv_of
from magi_attention.api import (
    DistAttnConfig,
    OverlapConfig,
    calc_attn,
    clear_cache,
    dispatch,
    magi_attn_varlen_key,
    make_flex_key_for_new_mask_after_dispatch,
    make_varlen_key_for_new_mask_after_dispatch,
    roll,
    roll_simple,
    undispatch,
)

TOTAL = 100
CU = [0, 30, 31, 77, TOTAL]
FLEX = ([[0, 40], [20, 60], [10, 90], [60, TOTAL]], [[0, 40], [50, 100], [0, 30], [40, TOTAL]],
        ["causal", "full", "bi_causal", "inv_causal"])
# The int64 ends too: the backward rolls by -shift. (torch.roll itself overflows at -2^63, so the
# reference rolls by the shift modulo the length.)
SHIFTS = [0, 1, -1, 7, -8, 13, -250, 1000, -2**63, 2**63 - 1]


def run(rank, world_size):
    """Both parts on one process group (one spawn per world size keeps the test short); the
    error checks last (they clear the cache)."""
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    group = dist.new_group(list(range(world_size)))
    result, key1 = hybrid(group)
    result["pad"] = rolls(group)
    partial_grad(group)
    check_errors(key1)
    return result


def hybrid(group):
    """x -> dispatch(key1) -> three layers (causal varlen, flex, sliding window) on the same
    shards -> undispatch; returns the output and x's gradient, and checks the keys."""
    key1 = magi_attn_varlen_key(torch.tensor(CU, dtype=torch.int32), CU, head_dim=D,
                                chunk_size=8, cp_group=group, causal=True)
    key2 = make_flex_key_for_new_mask_after_dispatch(
        *FLEX, key1, dist_attn_config=DistAttnConfig(overlap_config=OverlapConfig(degree=0)))
    key3 = make_varlen_key_for_new_mask_after_dispatch([0, 50, TOTAL], [0, 50, TOTAL], key1,
                                                       window_size=(7, 3))
    for k in (key2, key3):
        assert k.runtime.partitions() == key1.runtime.partitions()
        assert (k.pad_size, k.shard_seqlen) == (key1.pad_size, key1.shard_seqlen)
        assert k.dispatch_key is key1 and k != key1
    assert key2.dist_attn_config.overlap_config.degree == 0
    again = make_flex_key_for_new_mask_after_dispatch(
        *FLEX, key1, dist_attn_config=DistAttnConfig(overlap_config=OverlapConfig(degree=0)))
    assert again is key2 and again.runtime.same_as(key2.runtime)
    chained = make_varlen_key_for_new_mask_after_dispatch(CU, CU, key3, causal=True)
    assert chained.dispatch_key is key1

    x = torch.randn(TOTAL, HQ * D, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64).requires_grad_()
    local = dispatch(x, key1)
    out = sum(calc_attn(*qkv_of(local), k)[0] for k in (key1, key2, key3))
    total_out = undispatch(out, key2)  # any key of the dispatch undispatches
    g = torch.randn(total_out.shape, generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64)
    (total_out * g).sum().backward()
    result = dict(out=total_out.detach(), x_grad=x.grad, x=x.detach(),
                  slices=[list(key1.slices), list(key2.slices), list(key3.slices)])
    return result, key1


def check_errors(key1):
    with pytest.raises(ValueError, match="q_ranges: end 101"):
        make_flex_key_for_new_mask_after_dispatch([[0, 101]], [[0, 10]], "full", key1)
    with pytest.raises(ValueError, match="num_heads_q, num_heads_kv"):
        make_flex_key_for_new_mask_after_dispatch([[0, 10]], [[0, 10]], "full", key1,
                                                  num_heads_q=4)
    with pytest.raises(TypeError, match="key_for_dispatch"):
        make_flex_key_for_new_mask_after_dispatch([[0, 10]], [[0, 10]], "full", "key")
    local = torch.zeros(key1.shard_seqlen, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="dim = 2"):
        roll(local, 1, 2, key1)
    with pytest.raises(ValueError, match=f"expected {key1.shard_seqlen} rows"):
        roll(local, 1, 1, key1)
    with pytest.raises(TypeError, match="shift"):
        roll(local, 1.5, 0, key1)
    clear_cache()
    with pytest.raises(ValueError, match="does not exist"):
        make_flex_key_for_new_mask_after_dispatch([[0, 10]], [[0, 10]], "full", key1)


def rolls(group):
    """roll / roll_simple on shards against torch.roll of the padded global tensor, along dim 0
    and dim 1, with their gradients; then dispatch -> roll -> undispatch with x's gradient.
    Returns the key's pad_size."""
    key = magi_attn_varlen_key(CU, CU, head_dim=D, chunk_size=8, cp_group=group, causal=True)
    pad, pos = key.pad_size, torch.tensor(key.runtime.position_ids())
    x = torch.randn(TOTAL, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    padded = torch.cat([x, torch.full((pad, 3), 7.0, dtype=torch.float64)])
    local = dispatch(x, key, pad_value=7.0)
    g = torch.randn(key.padded_seqlen, 3, generator=torch.Generator().manual_seed(3),
                    dtype=torch.float64)
    for shift in SHIFTS:
        n = key.padded_seqlen
        want = torch.roll(padded, shift % n, 0)[pos]
        a = local.clone().requires_grad_()
        got = roll(a, shift, 0, key)
        assert torch.equal(got, want), shift
        (got * g[pos]).sum().backward()
        assert torch.equal(a.grad, torch.roll(g, -shift % n, 0)[pos]), shift
        assert torch.equal(roll_simple(local, shift, 0, key), want), shift
        t = local.t().contiguous()  # sequence along dim 1 (and -1)
        assert torch.equal(roll(t, shift, 1, key), want.t()), shift
        assert torch.equal(roll(t, shift, -1, key), want.t()), shift
    # End to end: gradient of the global x through dispatch -> roll(-1) -> undispatch.
    xg = x.clone().requires_grad_()
    y = undispatch(roll(dispatch(xg, key), -1, 0, key), key)
    xr = x.clone().requires_grad_()
    y_ref = torch.roll(torch.cat([xr, torch.zeros(pad, 3, dtype=torch.float64)]), -1, 0)[:TOTAL]
    assert torch.equal(y, y_ref)
    gy = g[:TOTAL]
    (y * gy).sum().backward()
    (y_ref * gy).sum().backward()
    assert torch.equal(xg.grad, xr.grad)
    return pad


def partial_grad(group):
    """undispatch(..., is_partial_grad=True): each rank's loss covers a disjoint set of global
    rows, so the local gradient is the sum over ranks (the full g on this rank's rows); without
    the flag it keeps only this rank's own loss terms."""
    key = magi_attn_varlen_key(CU, CU, head_dim=D, chunk_size=8, cp_group=group, causal=True)
    rank, ws = dist.get_rank(group), dist.get_world_size(group)
    pos = torch.tensor(key.runtime.position_ids())
    g = torch.randn(TOTAL, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    mine = torch.zeros(TOTAL, 1, dtype=torch.float64)
    mine[rank::ws] = 1.0  # this rank's share of the loss
    real = pos < TOTAL
    for partial in (True, False):
        local = torch.zeros(key.shard_seqlen, 3, dtype=torch.float64, requires_grad=True)
        (undispatch(local, key, is_partial_grad=partial) * g * mine).sum().backward()
        want = torch.zeros(key.shard_seqlen, 3, dtype=torch.float64)
        want[real] = (g if partial else g * mine)[pos[real]]
        assert torch.equal(local.grad, want), partial
    with pytest.raises(TypeError, match="is_partial_grad"):
        undispatch(torch.zeros(key.shard_seqlen, 3), key, is_partial_grad=1)
