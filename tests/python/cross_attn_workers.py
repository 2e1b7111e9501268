"""Worker of test_cross_attn.py: cross-attention (is_same_source=False) on one rank. q and k/v
are different global sequences, dispatched separately (dispatch with attn_role), then
calc_attn and undispatch, with gradients of q, k and v through the dispatches. Modes: "flat",
"uneven" (DispatchConfig(uneven_shard=True): neither side padded), "hier" (a 2-D cp_mesh under
MAGI_ATTENTION_HIERARCHICAL_COMM=1) and "hier_uneven"."""

import os

import torch
import torch.distributed as dist

from hier_workers import ENV, make_mesh
from magi_attention.api import (
    AttnRole,
    DispatchConfig,
    DistAttnConfig,
    OverlapConfig,
    calc_attn,
    dispatch,
    get_position_ids,
    magi_attn_flex_key,
    undispatch,
)

HQ, HKV, D = 4, 2, 8


def _varlen(cu_q, cu_k, causal):
    qr = [[cu_q[i], cu_q[i + 1]] for i in range(len(cu_q) - 1)]
    kr = [[cu_k[i], cu_k[i + 1]] for i in range(len(cu_k) - 1)]
    return qr, kr, "causal" if causal else "full"


# name -> (total_q, total_k, q_ranges, k_ranges, mask types)
MASKS = {
    "full_q_longer": (70, 23, [[0, 70]], [[0, 23]], "full"),
    "full_q_shorter": (19, 64, [[0, 19]], [[0, 64]], "full"),
    "causal_slices": (50, 37, [[0, 20], [20, 50], [10, 40]], [[0, 15], [0, 37], [30, 37]],
                      ["causal", "causal", "bi_causal"]),
    "varlen": (60, 90, *_varlen([0, 20, 45, 60], [0, 10, 60, 90], causal=False)),
    "varlen_causal": (75, 40, *_varlen([0, 30, 31, 75], [0, 12, 20, 40], causal=True)),
}


def run(rank, world_size, mask_name, degree, mode="flat"):
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    total_q, total_k, q_ranges, k_ranges, types = MASKS[mask_name]
    config = DistAttnConfig(dispatch_config=DispatchConfig(uneven_shard="uneven" in mode),
                            overlap_config=OverlapConfig(degree=degree, min_chunk_size=4))
    if mode.startswith("hier"):
        where = dict(cp_mesh=make_mesh(world_size, 2, world_size // 2))  # sets ENV
    else:
        where = dict(cp_group=dist.new_group(list(range(world_size))))
    key = magi_attn_flex_key(q_ranges, k_ranges, types, total_q, total_k, num_heads_q=HQ,
                             num_heads_kv=HKV, head_dim=D, chunk_size=4, dist_attn_config=config,
                             is_same_source=False, **where)
    os.environ.pop(ENV, None)
    assert (key.runtime.hier_mesh is not None) == mode.startswith("hier")
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(total_q, HQ, D, generator=gen, dtype=torch.float64, requires_grad=True)
    k = torch.randn(total_k, HKV, D, generator=gen, dtype=torch.float64, requires_grad=True)
    v = torch.randn(total_k, HKV, D, generator=gen, dtype=torch.float64, requires_grad=True)

    lq = dispatch(q, key)
    lk = dispatch(k, key, attn_role=AttnRole.KEY)
    lv = dispatch(v, key, attn_role="value")
    assert lq.shape[0] == key.shard_seqlen and lk.shape[0] == key.shard_seqlen_kv
    pos_k = get_position_ids(key, attn_role=AttnRole.KEY)
    valid = torch.tensor(key.runtime.position_ids_kv()) < total_k
    assert torch.equal(lk.detach()[valid], k.detach()[pos_k[valid]])
    assert torch.equal(undispatch(lk.detach(), key, attn_role=AttnRole.KEY), k.detach())

    out, lse = calc_attn(lq, lk, lv, key)
    total_out = undispatch(out, key)
    total_lse = undispatch(lse, key)
    g = torch.randn(total_out.shape, generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64)
    (total_out * g).sum().backward()
    slices = list(key.slices)
    short_kv_error = None
    if mode == "uneven" and world_size > 1:
        # Fewer k/v tokens than ranks: some rank would hold no k/v row (collective error).
        try:
            magi_attn_flex_key([[0, total_q]], [[0, world_size - 1]], "full", total_q,
                               world_size - 1, head_dim=D, chunk_size=4, is_same_source=False,
                               dist_attn_config=config, **where)
        except ValueError as e:
            short_kv_error = str(e)
    return dict(out=total_out.detach(), lse=total_lse, dq=q.grad, dk=k.grad, dv=v.grad,
                q=q.detach(), k=k.detach(), v=v.detach(), g=g, slices=slices,
                shard_kv=key.shard_seqlen_kv, pad_size_kv=key.pad_size_kv,
                comm_rows=key.runtime.comm_rows(), short_kv_error=short_kv_error)
