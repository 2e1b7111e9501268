"""Key creation: validates the mask and sizes, then builds (or finds) the rank's runtime."""

from __future__ import annotations

import dataclasses
import weakref

from .._checks import check_int
from .._ext import core
from ..common.enum import normalize_mask_types
from ..common.padding import compute_pad_size
from ..common.ranges import AttnRanges
from ..config import DistAttnConfig
from .communicator import communicator_for
from .group import hier_mesh_shape, resolve_group_and_mesh
from .key import DistAttnRuntimeKey, key_cache, register_key

__all__ = ["make_flex_key", "make_key_for_new_mask"]


def _ranges(name: str, value) -> AttnRanges:
    try:
        return AttnRanges.from_ranges(value)
    except TypeError as e:
        raise TypeError(f"{name}: {e}") from None
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None


def _optional_int(name: str, value, minimum: int = 1):
    return None if value is None else check_int(name, value, minimum)


def make_flex_key(q_ranges, k_ranges, attn_mask_type, total_seqlen_q, total_seqlen_k, *,
                  num_heads_q=None, num_heads_kv=None, head_dim=None, pad_size=None,
                  chunk_size=None, cp_group=None, cp_mesh=None, cp_group_or_mesh=None,
                  dist_attn_config=None, is_same_source=True, is_q_permutable=True,
                  is_k_permutable=True) -> DistAttnRuntimeKey:
    """See :func:`magi_attention.api.magi_attn_flex_key` (this does the work)."""
    qr, kr = _ranges("q_ranges", q_ranges), _ranges("k_ranges", k_ranges)
    if len(kr) != len(qr):
        raise ValueError(f"k_ranges: {len(kr)} ranges, but q_ranges has {len(qr)}")
    types = normalize_mask_types(attn_mask_type, len(qr))
    total_q = check_int("total_seqlen_q", total_seqlen_q, 1)
    total_k = check_int("total_seqlen_k", total_seqlen_k, 1)
    if len(qr) and qr.end > total_q:
        raise ValueError(f"q_ranges: end {qr.end} exceeds total_seqlen_q = {total_q}")
    if len(kr) and kr.end > total_k:
        raise ValueError(f"k_ranges: end {kr.end} exceeds total_seqlen_k = {total_k}")
    if not isinstance(is_same_source, bool):
        raise TypeError(f"is_same_source: expected a bool, got {type(is_same_source).__name__}")
    if not (is_q_permutable and is_k_permutable):
        # NOTE: as the original: ValueError when self-attention would permute one side only,
        # NotImplementedError for every other non-permutable combination.
        error = ValueError if is_same_source and is_q_permutable != is_k_permutable \
            else NotImplementedError
        raise error(f"is_q_permutable = {is_q_permutable}, is_k_permutable = "
                    f"{is_k_permutable}: only permutable q and k (both True) are supported")
    if is_same_source and total_q != total_k:
        raise ValueError(f"total_seqlen_k = {total_k}: self-attention needs total_seqlen_q "
                         f"== total_seqlen_k = {total_q} (is_same_source=False for "
                         f"cross-attention)")
    if head_dim is None and num_heads_q is not None:
        raise ValueError("head_dim: required when num_heads_q/num_heads_kv are given")
    heads = [_optional_int(n, v) for n, v in (("num_heads_q", num_heads_q),
                                               ("num_heads_kv", num_heads_kv),
                                               ("head_dim", head_dim))]
    if (heads[0] is None) != (heads[1] is None):
        raise ValueError("num_heads_q, num_heads_kv: give both or neither")
    if heads[0] is not None and heads[0] % heads[1]:
        raise ValueError(f"num_heads_q = {heads[0]}: not a multiple of num_heads_kv = "
                         f"{heads[1]}")
    chunk_size = _optional_int("chunk_size", chunk_size)
    if pad_size is not None:
        pad_size = check_int("pad_size", pad_size, 0)
        # NOTE: later versions of the original ignore pad_size and pass 0; 0 never contradicts
        # a seed-style call (compute_pad_size gives 0 only when nothing is padded), so it means
        # "computed here" too.
        pad_size = pad_size or None
    config = DistAttnConfig() if dist_attn_config is None else dist_attn_config
    if not isinstance(config, DistAttnConfig):
        raise TypeError(f"dist_attn_config: expected a DistAttnConfig, got "
                        f"{type(config).__name__}")
    cfg_chunk = config.dispatch_config.chunk_size
    if chunk_size is not None and cfg_chunk is not None and chunk_size != cfg_chunk:
        raise ValueError(f"chunk_size = {chunk_size}: differs from "
                         f"dist_attn_config.dispatch_config.chunk_size = {cfg_chunk}")
    chunk_size = chunk_size if chunk_size is not None else cfg_chunk

    group, mesh = resolve_group_and_mesh(cp_group, cp_mesh, cp_group_or_mesh)
    hier_mesh = hier_mesh_shape(group, mesh)
    comm = communicator_for(group)
    if chunk_size is None:
        # NOTE: resolved before the cache lookup, so that a key made after
        # MAGI_ATTENTION_MIN_CHUNKS_PER_RANK changed is a new key, not the cached one. A value
        # that does not parse is left to the core, which raises it after the ranks' agreement
        # collective (a rank raising before it would leave the others waiting).
        try:
            chunk_size = core().default_chunk_size(total_q, comm.size())
        except core().MagiError:
            pass
    if config.dispatch_config.uneven_shard:
        # NOTE: as the original, uneven shards pad nothing (pad_size 0 is None by now).
        if pad_size is not None:
            raise ValueError(f"pad_size = {pad_size}: DispatchConfig(uneven_shard=True) pads "
                             "nothing (pass 0 or None)")
        pad_size = 0
    elif chunk_size is not None:
        expected = compute_pad_size(total_q, comm.size(), heads[2] or 1, chunk_size)
        if pad_size is not None and pad_size != expected:
            raise ValueError(f"pad_size = {pad_size}: compute_pad_size({total_q}, "
                             f"{comm.size()}, head_dim, {chunk_size}) gives {expected}")
        pad_size = expected
    slices = tuple((r.start, r.end, k.start, k.end, t.to_int_type())
                   for r, k, t in zip(qr, kr, types))
    probe = DistAttnRuntimeKey(slices, total_q, total_k, *heads, pad_size=0,
                               chunk_size=chunk_size, group_id=comm.group_id(),
                               dist_attn_config=config, hier_mesh=hier_mesh,
                               is_same_source=is_same_source)
    key = key_cache.get(probe, comm)
    if key is None:
        # A new key: the core checks that the ranks agree (one collective), then plans. A
        # cached key costs no communication (docs/python.md), nor does one the core has cached
        # for the same ranks on another group object (KeyCache: made again here, on this
        # group's communicator). NOTE: heads not given (the seed's call form) are 0 for the
        # core: the one runtime serves any head configuration, checked per call; nothing is
        # planned again on first use.
        core_config = config._to_core()
        if hier_mesh is not None:
            core_config.hier_mesh = core().CommMesh(*hier_mesh)
        runtime = core().make_flex_key(list(slices), total_q, total_k, heads[0] or 0,
                                       heads[1] or 0, heads[2] or 0, comm, core_config,
                                       chunk_size, is_same_source)
        key = DistAttnRuntimeKey(slices, total_q, total_k, *heads, pad_size=runtime.pad_size,
                                 chunk_size=chunk_size, group_id=comm.group_id(),
                                 dist_attn_config=config, hier_mesh=hier_mesh,
                                 is_same_source=is_same_source, runtime=runtime, comm=comm,
                                 cp_group_ref=weakref.ref(group),
                                 cp_mesh_ref=None if mesh is None else weakref.ref(mesh))
    if pad_size is not None and key.pad_size != pad_size:
        raise ValueError(f"pad_size = {pad_size}: the key resolved a pad of {key.pad_size} "
                         f"(chunk_size {key.runtime.chunk_size})")
    key_cache.put(key)
    return register_key(key)


def make_key_for_new_mask(q_ranges, k_ranges, attn_mask_type, key_for_dispatch, *,
                          num_heads_q=None, num_heads_kv=None, head_dim=None,
                          dist_attn_config=None) -> DistAttnRuntimeKey:
    """See :func:`magi_attention.api.make_flex_key_for_new_mask_after_dispatch`."""
    if not isinstance(key_for_dispatch, DistAttnRuntimeKey) or key_for_dispatch.runtime is None:
        raise TypeError(f"key_for_dispatch: expected a DistAttnRuntimeKey from magi_attn_*_key, "
                        f"got {type(key_for_dispatch).__name__}")
    ref = key_for_dispatch
    if key_cache.get(ref, ref.comm) is None:
        raise ValueError("key_for_dispatch: the dist attn runtime key does not exist (it was "
                         "cleared or evicted from the cache); make it again")
    qr, kr = _ranges("q_ranges", q_ranges), _ranges("k_ranges", k_ranges)
    if len(kr) != len(qr):
        raise ValueError(f"k_ranges: {len(kr)} ranges, but q_ranges has {len(qr)}")
    types = normalize_mask_types(attn_mask_type, len(qr))
    if len(qr) and qr.end > ref.total_seqlen_q:
        raise ValueError(f"q_ranges: end {qr.end} exceeds total_seqlen_q = {ref.total_seqlen_q} "
                         f"of key_for_dispatch")
    if len(kr) and kr.end > ref.total_seqlen_k:
        raise ValueError(f"k_ranges: end {kr.end} exceeds total_seqlen_k = {ref.total_seqlen_k} "
                         f"of key_for_dispatch")
    given = [_optional_int(n, v) for n, v in (("num_heads_q", num_heads_q),
                                               ("num_heads_kv", num_heads_kv),
                                               ("head_dim", head_dim))]
    if (given[0] is None) != (given[1] is None):
        raise ValueError("num_heads_q, num_heads_kv: give both or neither")
    heads = [g if g is not None else r for g, r in
             zip(given, (ref.num_heads_q, ref.num_heads_kv, ref.head_dim))]
    if heads[0] is not None and heads[1] is not None and heads[0] % heads[1]:
        raise ValueError(f"num_heads_q = {heads[0]}: not a multiple of num_heads_kv = "
                         f"{heads[1]}")
    if dist_attn_config is not None and not isinstance(dist_attn_config, DistAttnConfig):
        raise TypeError(f"dist_attn_config: expected a DistAttnConfig, got "
                        f"{type(dist_attn_config).__name__}")
    # NOTE: as the original, only the overlap config of a new config is taken: the dispatch
    # (and so its config) is the reference key's.
    config = ref.dist_attn_config
    if dist_attn_config is not None:
        config = dataclasses.replace(config, overlap_config=dist_attn_config.overlap_config)
    root = ref.dispatch_key if ref.dispatch_key is not None else ref
    slices = tuple((r.start, r.end, k.start, k.end, t.to_int_type())
                   for r, k, t in zip(qr, kr, types))
    # NOTE: the core keeps the reference key's hierarchical mesh (part of its config).
    fields = dict(pad_size=ref.pad_size, chunk_size=ref.chunk_size, group_id=ref.group_id,
                  dist_attn_config=config, dispatch_key=root, hier_mesh=ref.hier_mesh,
                  is_same_source=ref.is_same_source)
    probe = DistAttnRuntimeKey(slices, ref.total_seqlen_q, ref.total_seqlen_k, *heads, **fields)
    key = key_cache.get(probe, ref.comm)
    if key is None:
        runtime = core().make_flex_key_for_new_mask_after_dispatch(
            list(slices), ref.runtime, ref.comm, heads[0] or 0, heads[1] or 0, heads[2] or 0,
            config.overlap_config._to_core())
        key = DistAttnRuntimeKey(slices, ref.total_seqlen_q, ref.total_seqlen_k, *heads,
                                 **fields, runtime=runtime, comm=ref.comm,
                                 cp_group_ref=ref.cp_group_ref, cp_mesh_ref=ref.cp_mesh_ref)
    key_cache.put(key)
    return register_key(key)
