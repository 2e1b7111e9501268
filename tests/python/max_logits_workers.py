"""Worker of test_max_logits.py: dispatch -> calc_attn(..., return_max_logits=True), on each
rank; returns the local max_logits (which must be the global one, the same bits everywhere)."""

import torch
import torch.distributed as dist

from magi_attention.api import AttnForwardMeta, calc_attn, dispatch, undispatch
from dist_attn_workers import HQ, make_key, qkv_of


def run_max_logits(rank, world_size, case, total, softcap):
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    group = dist.new_group(list(range(world_size)))
    key = make_key(case, group, total)
    x = torch.randn(total, HQ * 16, generator=torch.Generator().manual_seed(3),
                    dtype=torch.float64)
    q, k, v = qkv_of(dispatch(x, key))
    out, meta = calc_attn(q, k, v, key, softcap=softcap, return_max_logits=True)
    assert isinstance(meta, AttnForwardMeta) and meta.lse.shape == (key.shard_seqlen, HQ)
    plain, _ = calc_attn(q, k, v, key, softcap=softcap)  # the seed's form, unchanged
    assert torch.equal(out, plain)
    return dict(max_logits=meta.max_logits, x=x, slices=list(key.slices),
                out=undispatch(out, key))
