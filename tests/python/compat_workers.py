"""Worker of test_compat.py: later versions' call forms on a key (2 ranks, gloo)."""

import os

import torch
import torch.distributed as dist

from magi_attention.api import (AttnRanges, calc_attn, dispatch, get_position_ids,
                                magi_attn_flex_key, magi_attn_varlen_key)


def later_forms(rank, world_size):
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    group = dist.group.WORLD
    out = {}
    # pad_size=0 (deprecated there): computed, here 125 -> 128 in chunks of 8 over 2 ranks.
    key = magi_attn_flex_key(AttnRanges.from_ranges([[0, 100], [100, 125]]),
                             AttnRanges.from_ranges([[0, 100], [0, 125]]), ["causal", "full"],
                             125, 125, 2, 2, 16, 0, group, chunk_size=8)
    out["pad"] = key.pad_size
    out["q_ranges"] = key.q_ranges.to_naive_ranges()
    out["k_ranges"] = key.k_ranges.to_naive_ranges()
    out["types"] = key.attn_mask_type
    out["uneven"] = key.uneven_shard
    out["pos_device"] = get_position_ids(key).device.type
    # calc_attn(q, k, v, key, sink, softmax_scale, softcap, return_max_logits), all positional.
    x = torch.randn(125, 2, 16, generator=torch.Generator().manual_seed(0))
    local = dispatch(x, key)
    res = calc_attn(local, local, local, key, None, None, 0.0, True)
    out["meta"] = (type(res[1]).__name__, tuple(res[1].max_logits.shape))
    cu = torch.tensor([0, 600, 1000], dtype=torch.int32)
    out["chunk_default"] = magi_attn_varlen_key(cu, cu, pad_size=None, cp_group=group,
                                                head_dim=16).runtime.chunk_size
    os.environ["MAGI_ATTENTION_MIN_CHUNKS_PER_RANK"] = "2"
    out["chunk_env"] = magi_attn_varlen_key(cu, cu, pad_size=None, cp_group=group,
                                            head_dim=16).runtime.chunk_size
    os.environ["MAGI_ATTENTION_MIN_CHUNKS_PER_RANK"] = "zero"
    try:
        magi_attn_varlen_key(cu, cu, pad_size=None, cp_group=group, head_dim=8)
        out["env_error"] = ""
    except ValueError as e:
        out["env_error"] = str(e)
    return out
