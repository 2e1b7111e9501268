"""Worker of test_key_agreement.py: ranks that make different keys."""

import os

import torch.distributed as dist

from magi_attention.api import magi_attn_flex_key


def make_keys(rank, world_size, calls):
    """Makes one key per entry of ``calls`` (a list of per-rank (q_ranges, total) pairs);
    returns the error message of each call ("" when it returned)."""
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    out = []
    for per_rank in calls:
        q_ranges, total = per_rank[rank]
        try:
            magi_attn_flex_key(q_ranges, q_ranges, "causal", total, total, head_dim=8,
                               chunk_size=4, cp_group=dist.group.WORLD)
            out.append("")
        except Exception as e:  # noqa: BLE001 - reported to the test
            out.append(f"{type(e).__name__}: {e}")
    return out


def make_keys_unchecked(rank, world_size, calls):
    os.environ["MAGI_ATTENTION_CHECK_KEY_CONSISTENCY"] = "0"
    return make_keys(rank, world_size, calls)


def count_exchanges(rank, world_size):
    """Makes key A twice; returns the number of all_to_all_single calls of each (the check of a
    new key is one; a cached key makes none)."""
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    counts, real = [], dist.all_to_all_single

    def counting(*args, **kwargs):
        counting.n += 1
        return real(*args, **kwargs)

    dist.all_to_all_single = counting
    for _ in range(2):
        counting.n = 0
        magi_attn_flex_key([[0, 32]], [[0, 32]], "causal", 32, 32, head_dim=8, chunk_size=4,
                           cp_group=dist.group.WORLD)
        counts.append(counting.n)
    return counts
