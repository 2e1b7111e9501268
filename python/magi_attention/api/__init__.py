"""The public API of magi_attention (the seed's ``magi_attention.api``)."""

from ..common.enum import AttnMaskType, AttnOverlapMode, AttnRole
from ..common.forward_meta import AttnForwardMeta
from ..common.ranges import AttnRange, AttnRanges
from ..config import (
    DispatchAlg,
    DispatchConfig,
    DistAttnConfig,
    ExactDispatchAlg,
    GreedyOverlapAlg,
    MinHeapDispatchAlg,
    OverlapAlg,
    OverlapConfig,
    SequentialDispatchAlg,
    SortedSequentialSelectAlg,
    ToppHeapDispatchAlg,
    UniformOverlapAlg,
)
from ..dist.key import DistAttnRuntimeKey
from ..functional.flex_flash_attn import flex_flash_attn_func
from .functools import (
    compute_pad_size,
    full_attention_to_varlen_attention,
    infer_attn_mask_from_cu_seqlens,
    infer_attn_mask_from_sliding_window,
    infer_varlen_mask_from_batch,
    init_hierarchical_mesh,
    pad_at_dim,
    squash_batch_dim,
    unpad_at_dim,
    apply_padding,
)
from .magi_attn_interface import (
    calc_attn,
    clear_cache,
    dispatch,
    get_most_recent_key,
    get_position_ids,
    magi_attn_flex_dispatch,
    magi_attn_flex_key,
    magi_attn_varlen_dispatch,
    magi_attn_varlen_key,
    make_flex_key_for_new_mask_after_dispatch,
    make_varlen_key_for_new_mask_after_dispatch,
    roll,
    roll_simple,
    undispatch,
)

__all__ = [
    "AttnForwardMeta", "AttnMaskType", "AttnOverlapMode", "AttnRange", "AttnRanges", "DistAttnRuntimeKey",
    "AttnRole",
    "DispatchAlg", "DispatchConfig", "DistAttnConfig", "ExactDispatchAlg", "GreedyOverlapAlg",
    "MinHeapDispatchAlg", "OverlapAlg", "OverlapConfig", "SequentialDispatchAlg",
    "SortedSequentialSelectAlg", "ToppHeapDispatchAlg", "UniformOverlapAlg",
    "flex_flash_attn_func", "compute_pad_size", "full_attention_to_varlen_attention",
    "infer_attn_mask_from_cu_seqlens", "infer_attn_mask_from_sliding_window",
    "infer_varlen_mask_from_batch", "init_hierarchical_mesh", "squash_batch_dim", "calc_attn",
    "pad_at_dim", "unpad_at_dim", "apply_padding",
    "clear_cache", "dispatch", "get_most_recent_key", "get_position_ids",
    "magi_attn_flex_dispatch", "magi_attn_flex_key", "magi_attn_varlen_dispatch",
    "magi_attn_varlen_key", "undispatch", "make_flex_key_for_new_mask_after_dispatch",
    "make_varlen_key_for_new_mask_after_dispatch", "roll", "roll_simple",
]
