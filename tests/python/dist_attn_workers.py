"""Worker of test_dist_attn.py: dispatch -> calc_attn -> undispatch over several masks, with
gradients, on one rank."""

import torch
import torch.distributed as dist

from magi_attention.api import (
    DispatchConfig,
    DistAttnConfig,
    OverlapConfig,
    SequentialDispatchAlg,
    calc_attn,
    dispatch,
    get_position_ids,
    magi_attn_flex_key,
    magi_attn_varlen_key,
    undispatch,
)

HQ, HKV, D = 4, 2, 16


def qkv_of(x, hq=HQ, hkv=HKV, d=D, dv=None):
    """q, k, v from a [rows, hq*d] tensor (the same map on shards and on the global x); v's
    head dim is ``dv`` (None: d; at most hq * d / hkv)."""
    dv = d if dv is None else dv
    q = x.view(-1, hq, d)
    k = (0.5 * x[:, : hkv * d]).reshape(-1, hkv, d)
    v = torch.tanh(x[:, -hkv * dv:]).reshape(-1, hkv, dv)
    return q, k, v


def make_key(case, group, total, d=D):
    configs = {
        "default": None,
        "no_overlap": DistAttnConfig(overlap_config=OverlapConfig(degree=0)),
        "seq_3stages": DistAttnConfig(dispatch_config=DispatchConfig(alg=SequentialDispatchAlg()),
                                      overlap_config=OverlapConfig(degree=3, min_chunk_size=4)),
    }
    name, cfg = case
    common = dict(head_dim=d, chunk_size=8, cp_group=group, dist_attn_config=configs[cfg])
    if name == "varlen_causal":
        cu = torch.tensor([0, 30, 31, 77, total], dtype=torch.int32)
        return magi_attn_varlen_key(cu, cu, causal=True, **common)
    if name == "sliding_window":
        return magi_attn_varlen_key([0, 50, total], [0, 50, total], window_size=(7, 3), **common)
    # flex: all four types, overlapping q ranges, rows attending to nothing
    q = [[0, 40], [20, 60], [10, 90], [60, total], [0, 20]]
    k = [[0, 40], [50, 100], [0, 30], [40, total], [70, 95]]
    return magi_attn_flex_key(q, k, ["causal", "full", "bi_causal", "inv_causal", "full"],
                              total, total, num_heads_q=HQ, num_heads_kv=HKV, **common)


def run(rank, world_size, case, dtype_name, total, poison=None, d=D, dv=None):
    """``poison``: (row, column, value) written into x (q, and k or v through qkv_of); ``d``:
    the head dim; ``dv``: v's (None: d)."""
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    group = dist.new_group(list(range(world_size)))
    dtype = getattr(torch, dtype_name)
    key = make_key(case, group, total, d)
    x = torch.randn(total, HQ * d, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64)
    if poison is not None:
        x[poison[0], poison[1]] = poison[2]
    x = x.to(dtype).requires_grad_()
    local = dispatch(x, key)
    pos = torch.tensor(key.runtime.position_ids())  # padding rows: ids >= total
    assert torch.equal(local.detach()[pos < total], x.detach()[pos[pos < total]]) or poison
    assert torch.equal(get_position_ids(key), pos.clamp(max=total - 1))
    out, lse = calc_attn(*qkv_of(local, d=d, dv=dv), key)
    total_out = undispatch(out, key)
    g = torch.randn(total_out.shape, generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64)
    (total_out.double() * g).sum().backward()
    slices = list(key.slices)
    return dict(out=total_out.detach(), x_grad=x.grad, x=x.detach(), slices=slices,
                pad=key.pad_size, lse_shape=tuple(lse.shape))
