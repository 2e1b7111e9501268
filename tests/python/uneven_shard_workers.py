"""Worker of test_uneven_shard.py: DispatchConfig(uneven_shard=True) on one rank: dispatch ->
calc_attn -> undispatch with gradients over several masks, roll and undispatch(is_partial_grad)
against torch references on the global tensor, and the errors of layouts that would leave a rank
without a token."""

import pytest
import torch
import torch.distributed as dist

from dist_attn_workers import D, HKV, HQ, qkv_of
from magi_attention.api import (
    DispatchConfig,
    DistAttnConfig,
    MinHeapDispatchAlg,
    OverlapConfig,
    SequentialDispatchAlg,
    calc_attn,
    clear_cache,
    dispatch,
    get_position_ids,
    magi_attn_flex_key,
    magi_attn_varlen_key,
    roll,
    undispatch,
)

TOTAL = 101  # a prime: a multiple of no chunk size and no cp size


def uneven(alg=None, degree=1):
    return DistAttnConfig(
        dispatch_config=DispatchConfig(uneven_shard=True, alg=alg or MinHeapDispatchAlg()),
        overlap_config=OverlapConfig(degree=degree, min_chunk_size=4))


# (name, key function): masks of every type, chunk sizes 7 and 5, both solvers, degrees 0-2.
def cases(group):
    cu = [0, 30, 31, 77, TOTAL]
    q = [[0, 40], [20, 60], [10, 90], [60, TOTAL], [0, 20]]
    k = [[0, 40], [50, 100], [0, 30], [40, TOTAL], [70, 95]]
    types = ["causal", "full", "bi_causal", "inv_causal", "full"]
    common = dict(head_dim=D, cp_group=group)
    return [
        ("varlen_causal_minheap", lambda: magi_attn_varlen_key(
            cu, cu, causal=True, chunk_size=7, dist_attn_config=uneven(), **common)),
        ("flex_sequential_degree0", lambda: magi_attn_flex_key(
            q, k, types, TOTAL, TOTAL, num_heads_q=HQ, num_heads_kv=HKV, chunk_size=5,
            dist_attn_config=uneven(SequentialDispatchAlg(), degree=0), **common)),
        ("sliding_window_sequential_degree2", lambda: magi_attn_varlen_key(
            [0, 50, TOTAL], [0, 50, TOTAL], window_size=(7, 3),
            dist_attn_config=uneven(SequentialDispatchAlg(), degree=2), chunk_size=7,
            **common)),
    ]


def run(rank, world_size):
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    group = dist.new_group(list(range(world_size)))
    results = {name: attend(make(), group) for name, make in cases(group)}
    key = cases(group)[0][1]()
    rolls(key)
    partial_grad(key, rank, world_size)
    check_errors(group, world_size)
    return results


def attend(key, group):
    """x -> dispatch -> calc_attn -> undispatch and x's gradient; the shard lengths of all
    ranks (gathered) and the checks of the local layout."""
    assert key.pad_size == 0 and key.padded_seqlen == TOTAL
    pos = torch.tensor(key.runtime.position_ids())
    assert pos.numel() == key.shard_seqlen and torch.equal(get_position_ids(key), pos)
    lengths = [None] * dist.get_world_size(group)
    dist.all_gather_object(lengths, key.shard_seqlen, group=group)
    assert sum(lengths) == TOTAL, lengths

    x = torch.randn(TOTAL, HQ * D, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64).requires_grad_()
    local = dispatch(x, key)
    assert torch.equal(local.detach(), x.detach()[pos])  # no padding rows
    out, lse = calc_attn(*qkv_of(local), key)
    assert out.shape == (key.shard_seqlen, HQ, D) and lse.shape == (key.shard_seqlen, HQ)
    total_out = undispatch(out, key)
    g = torch.randn(total_out.shape, generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64)
    (total_out * g).sum().backward()
    return dict(out=total_out.detach(), x_grad=x.grad, x=x.detach(), slices=list(key.slices),
                lengths=lengths, chunk=key.runtime.chunk_size)


def rolls(key):
    """roll on uneven shards is torch.roll of the unpadded global tensor, with its gradient."""
    pos = torch.tensor(key.runtime.position_ids())
    x = torch.randn(TOTAL, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    g = torch.randn(TOTAL, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    local = dispatch(x, key)
    for shift in (0, 1, -1, 8, -13, 250, -1000):
        a = local.clone().requires_grad_()
        got = roll(a, shift, 0, key)
        assert torch.equal(got, torch.roll(x, shift, 0)[pos]), shift
        (got * g[pos]).sum().backward()
        assert torch.equal(a.grad, torch.roll(g, -shift, 0)[pos]), shift


def partial_grad(key, rank, world_size):
    """undispatch(..., is_partial_grad=True): the ranks' partial global gradients are summed."""
    pos = torch.tensor(key.runtime.position_ids())
    g = torch.randn(TOTAL, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    mine = torch.zeros(TOTAL, 1, dtype=torch.float64)
    mine[rank::world_size] = 1.0
    for partial in (True, False):
        local = torch.zeros(key.shard_seqlen, 3, dtype=torch.float64, requires_grad=True)
        (undispatch(local, key, is_partial_grad=partial) * g * mine).sum().backward()
        assert torch.equal(local.grad, (g if partial else g * mine)[pos]), partial


def check_errors(group, world_size):
    common = dict(head_dim=D, cp_group=group, dist_attn_config=uneven())
    with pytest.raises(ValueError, match="pad_size = 3"):
        magi_attn_varlen_key([0, TOTAL], [0, TOTAL], causal=True, pad_size=3, **common)
    if world_size > 1:
        # Fewer rows than ranks: some rank would hold no token.
        short = world_size - 1
        with pytest.raises(ValueError, match=f"total_seqlen = {short}"):
            magi_attn_varlen_key([0, short], [0, short], causal=True, **common)
    if world_size >= 4:
        # MinHeap piles the zero-cost chunks (rows 1.. attend to nothing) onto the low ranks.
        with pytest.raises(ValueError, match="without a chunk"):
            magi_attn_flex_key([[0, 1]], [[0, 1]], "full", world_size + 1, world_size + 1,
                               chunk_size=1, **common)
    clear_cache()
