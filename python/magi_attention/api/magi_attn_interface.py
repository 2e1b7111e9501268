"""The distributed API of the seed: keys, dispatch, calc_attn, undispatch, and the key cache."""

from __future__ import annotations

import torch

from .. import _ops
from .._checks import check_int, check_qkv, check_scale, check_sink, check_tensor
from .._ext import core
from ..common.enum import AttnMaskType, AttnRole
from ..common.forward_meta import AttnForwardMeta
from ..config import DistAttnConfig
from ..dist.communicator import communicator_for, forget_communicator
from ..dist.group import resolve_group
from ..dist.key import DistAttnRuntimeKey, key_cache
from ..dist.make_key import make_flex_key, make_key_for_new_mask
from ..dist.release import release_all
from ..functional.dist_attn import dispatch_func, dist_attn_func, roll_func, undispatch_func
from .functools import infer_attn_mask_from_cu_seqlens

__all__ = [
    "magi_attn_varlen_key", "magi_attn_varlen_dispatch", "magi_attn_flex_key",
    "magi_attn_flex_dispatch", "dispatch", "undispatch", "calc_attn", "get_position_ids",
    "get_most_recent_key", "clear_cache", "make_flex_key_for_new_mask_after_dispatch",
    "make_varlen_key_for_new_mask_after_dispatch", "roll", "roll_simple",
]


def magi_attn_flex_key(q_ranges, k_ranges, attn_mask_type, total_seqlen_q: int,
                       total_seqlen_k: int, num_heads_q: int | None = None,
                       num_heads_kv: int | None = None, head_dim: int | None = None,
                       pad_size: int | None = None, cp_group_or_mesh=None,
                       dist_attn_config: DistAttnConfig | None = None,
                       is_same_source: bool = True, is_q_permutable: bool = True,
                       is_k_permutable: bool = True, chunk_size: int | None = None, *,
                       cp_group=None, cp_mesh=None) -> DistAttnRuntimeKey:
    """The runtime key of a flexible mask on a CP group (built once, then cached).

    Every rank of the group must call it with the same arguments. The key holds the rank's
    dispatch and attention plan; an equal call later returns the cached key without planning.
    Positional arguments follow the later versions' order; the seed passes keywords.

    Args:
        q_ranges: :class:`AttnRanges` (or ``[[start, end], ...]``) of query rows per slice.
        k_ranges: :class:`AttnRanges` of key rows per slice (same length).
        attn_mask_type: one :class:`AttnMaskType` or string (``"full"``, ``"causal"``,
            ``"inv_causal"``, ``"bi_causal"``) for all slices, or a list of them.
        total_seqlen_q: rows of the global q (before padding).
        total_seqlen_k: rows of the global k (self-attention: equal to total_seqlen_q).
        num_heads_q, num_heads_kv: optional head counts (later versions' form); without them
            the runtime is specialised on the first calc_attn.
        head_dim: head dimension of q and k (the seed passes it; v's may differ).
        pad_size: the seed's ``compute_pad_size(total_seqlen_q, cp_size, head_dim,
            chunk_size)``; must equal it (ValueError otherwise). None or 0 (later versions'
            form, where the argument is deprecated): computed.
        chunk_size: tokens per dispatch chunk; None takes
            ``dist_attn_config.dispatch_config.chunk_size`` or the core's default.
        cp_group: the ``ProcessGroup`` of the context-parallel ranks; or
        cp_mesh: a ``DeviceMesh`` over them (exactly one of the two).
        cp_group_or_mesh: later versions' single argument for either.
        dist_attn_config: a :class:`DistAttnConfig` (default ``DistAttnConfig()``).
        is_same_source: True (self-attention: q and k/v are the same sequence, dispatched
            together); False: cross-attention, q and k/v are different sequences with their
            own lengths (q_ranges index q's rows, k_ranges k/v's) and their own dispatch:
            dispatch q-side tensors with ``dispatch(x, key)`` and k/v-side ones with
            ``dispatch(x, key, attn_role=AttnRole.KEY)`` (likewise undispatch).
        is_q_permutable, is_k_permutable: only True (both sides are permuted by chunk).

    Returns:
        A :class:`DistAttnRuntimeKey`.
    """
    return make_flex_key(q_ranges, k_ranges, attn_mask_type, total_seqlen_q, total_seqlen_k,
                         num_heads_q=num_heads_q, num_heads_kv=num_heads_kv, head_dim=head_dim,
                         pad_size=pad_size, chunk_size=chunk_size, cp_group=cp_group,
                         cp_mesh=cp_mesh, cp_group_or_mesh=cp_group_or_mesh,
                         dist_attn_config=dist_attn_config, is_same_source=is_same_source,
                         is_q_permutable=is_q_permutable, is_k_permutable=is_k_permutable)


def magi_attn_varlen_key(cu_seqlens_q, cu_seqlens_k, num_heads_q: int | None = None,
                         num_heads_kv: int | None = None, head_dim: int | None = None,
                         pad_size: int | None = None, cp_group_or_mesh=None,
                         causal: bool = False, window_size=(-1, -1),
                         dist_attn_config: DistAttnConfig | None = None,
                         chunk_size: int | None = None, *, cp_group=None,
                         cp_mesh=None) -> DistAttnRuntimeKey:
    """The runtime key of a varlen mask given by cumulative sequence lengths.

    Each sequence ``[cu[i], cu[i+1])`` attends to itself: FULL, CAUSAL when ``causal``, or a
    sliding ``window_size = (left, right)`` (``-1`` = unbounded). Other arguments as in
    :func:`magi_attn_flex_key`.

    Args:
        cu_seqlens_q: int tensor or list ``[0, s1, s1 + s2, ...]`` of query rows.
        cu_seqlens_k: the same for keys.
    """
    q, k, types, total_q, total_k = infer_attn_mask_from_cu_seqlens(
        cu_seqlens_q, cu_seqlens_k, causal=causal, window_size=window_size)
    return make_flex_key(q, k, types, total_q, total_k, num_heads_q=num_heads_q,
                         num_heads_kv=num_heads_kv, head_dim=head_dim, pad_size=pad_size,
                         chunk_size=chunk_size, cp_group=cp_group, cp_mesh=cp_mesh,
                         cp_group_or_mesh=cp_group_or_mesh, dist_attn_config=dist_attn_config)


def magi_attn_varlen_dispatch(x: torch.Tensor, cu_seqlens_q, cu_seqlens_k, *args, **kwargs):
    """:func:`magi_attn_varlen_key` then :func:`dispatch`.

    Args:
        x: the global input ``[total_seqlen, ...]`` (the same on every rank).
        cu_seqlens_q, cu_seqlens_k, *args, **kwargs: as :func:`magi_attn_varlen_key`.

    Returns:
        ``(local_x, key)``: local_x ``[key.shard_seqlen, ...]`` (``(total_seqlen + pad_size) /
        cp_size``; this rank's own length with uneven shards).
    """
    key = magi_attn_varlen_key(cu_seqlens_q, cu_seqlens_k, *args, **kwargs)
    return dispatch(x, key), key


def magi_attn_flex_dispatch(x: torch.Tensor, q_ranges=None, k_ranges=None,
                            attn_mask_type=AttnMaskType.FULL, total_seqlen_q=None,
                            total_seqlen_k=None, *args, **kwargs):
    """:func:`magi_attn_flex_key` then :func:`dispatch`.

    Args:
        x: the global input ``[total_seqlen_q, ...]`` (the same on every rank).
        q_ranges, k_ranges, attn_mask_type, total_seqlen_q, total_seqlen_k, *args, **kwargs: as
            :func:`magi_attn_flex_key`.

    Returns:
        ``(local_x, key)``: local_x ``[key.shard_seqlen, ...]`` (``(total_seqlen_q + pad_size) /
        cp_size``; this rank's own length with uneven shards).
    """
    if q_ranges is None or k_ranges is None:
        raise ValueError("q_ranges, k_ranges: required")
    key = magi_attn_flex_key(q_ranges, k_ranges, attn_mask_type, total_seqlen_q,
                             total_seqlen_k, *args, **kwargs)
    return dispatch(x, key), key


def make_flex_key_for_new_mask_after_dispatch(q_ranges, k_ranges, attn_mask_type,
                                              key_for_dispatch: DistAttnRuntimeKey,
                                              num_heads_q: int | None = None,
                                              num_heads_kv: int | None = None,
                                              head_dim: int | None = None,
                                              dist_attn_config: DistAttnConfig | None = None
                                              ) -> DistAttnRuntimeKey:
    """The key of another mask over the tokens ``key_for_dispatch`` has dispatched.

    For models whose layers use different masks over the same sequence (hybrid attention):
    tensors dispatched with ``key_for_dispatch`` feed :func:`calc_attn` with the new key
    directly. Only the attention is planned; the chunk -> rank partition, the lengths, padding,
    chunk size and dispatch config are those of ``key_for_dispatch`` (so :func:`dispatch`,
    :func:`undispatch` and :func:`roll` give the same results with either key). The partition
    is not re-balanced for the new mask, so its attention load may be uneven across ranks.
    Every rank of the group must call it with the same arguments; cached like the other keys.

    Args:
        q_ranges, k_ranges, attn_mask_type: the new mask, as in :func:`magi_attn_flex_key`
            (rows before padding).
        key_for_dispatch: a cached key (ValueError if it was cleared or evicted).
        num_heads_q, num_heads_kv, head_dim: None keeps those of ``key_for_dispatch``.
        dist_attn_config: only its ``overlap_config`` is used (None: keep the reference
            key's); the dispatch config stays the reference key's.
    """
    return make_key_for_new_mask(q_ranges, k_ranges, attn_mask_type, key_for_dispatch,
                                 num_heads_q=num_heads_q, num_heads_kv=num_heads_kv,
                                 head_dim=head_dim, dist_attn_config=dist_attn_config)


def make_varlen_key_for_new_mask_after_dispatch(cu_seqlens_q, cu_seqlens_k,
                                                key_for_dispatch: DistAttnRuntimeKey,
                                                causal: bool = False, window_size=(-1, -1),
                                                dist_attn_config: DistAttnConfig | None = None
                                                ) -> DistAttnRuntimeKey:
    """:func:`make_flex_key_for_new_mask_after_dispatch` for a varlen mask (``causal`` and
    ``window_size`` as in :func:`magi_attn_varlen_key`); ``cu_seqlens_q[-1]`` must not exceed
    the reference key's total_seqlen_q."""
    q, k, types, _, _ = infer_attn_mask_from_cu_seqlens(
        cu_seqlens_q, cu_seqlens_k, causal=causal, window_size=window_size)
    return make_key_for_new_mask(q, k, types, key_for_dispatch,
                                 dist_attn_config=dist_attn_config)


def _check_key(key) -> None:
    if not isinstance(key, DistAttnRuntimeKey) or key.runtime is None:
        raise TypeError(f"key: expected a DistAttnRuntimeKey from magi_attn_*_key, got "
                        f"{type(key).__name__}")


def _is_kv(attn_role, fn: str) -> bool:
    """True for the K/V side (AttnRole.KEY / VALUE or their strings), False for QUERY."""
    if attn_role is AttnRole.QUERY:  # the default: nothing for torch.compile to trace
        return False
    try:
        role = AttnRole(attn_role)
    except ValueError:
        raise ValueError(f"attn_role = {attn_role!r}: expected an AttnRole (query, key or "
                         f"value)") from None
    if role is not AttnRole.QUERY and _ops.compiling():
        raise NotImplementedError(f"{fn}: attn_role = {role.value} is not supported under "
                                  "torch.compile yet (dispatch k/v outside the compiled region)")
    return role is not AttnRole.QUERY


def dispatch(x: torch.Tensor, key: DistAttnRuntimeKey, pad_value: float = 0.0,
             attn_role: AttnRole = AttnRole.QUERY) -> torch.Tensor:
    """This rank's shard of the global ``x`` ``[total_seqlen_q, ...]``: its chunks in order,
    ``[key.shard_seqlen, ...]``, padding rows filled with ``pad_value`` (uneven shards have
    none, and ranks hold different lengths). Differentiable: the gradient of ``x`` is gathered
    from all ranks (every rank gets the full gradient).

    ``attn_role=AttnRole.KEY`` (or ``VALUE``): ``x`` is a k/v-side tensor ``[total_seqlen_k,
    ...]``, dispatched by the k/v dispatch (cross-attention's own; the same as q's in
    self-attention); the result has ``key.shard_seqlen_kv`` rows."""
    kv = _is_kv(attn_role, "dispatch")
    if _ops.compiling():
        return _ops.dispatch(x, key, float(pad_value))
    _check_key(key)
    check_tensor("x", x)
    total = key.total_seqlen_k if kv else key.total_seqlen_q
    if x.dim() < 1 or x.shape[0] != total:
        name = "total_seqlen_k" if kv else "total_seqlen_q"
        raise ValueError(f"x: expected {total} rows ({name}), got shape {list(x.shape)}")
    return dispatch_func(x, key, float(pad_value), kv)


def undispatch(x: torch.Tensor, key: DistAttnRuntimeKey, is_partial_grad: bool = False,
               attn_role: AttnRole = AttnRole.QUERY) -> torch.Tensor:
    """The global tensor ``[total_seqlen_q, ...]`` (padding removed) from every rank's local
    shard ``x``. Collective. Differentiable: the gradient keeps this rank's rows.

    ``is_partial_grad=True``: each rank's gradient of the global result is a partial sum (for
    example each rank computes the loss of a different part of the global output), so the
    backward sums them over the group (all-reduce) before keeping this rank's rows.

    ``attn_role=AttnRole.KEY`` (or ``VALUE``): ``x`` is a local k/v-side tensor (e.g. dk), the
    result ``[total_seqlen_k, ...]``."""
    if not isinstance(is_partial_grad, bool):
        raise TypeError(f"is_partial_grad: expected a bool, got {type(is_partial_grad).__name__}")
    kv = _is_kv(attn_role, "undispatch")
    if _ops.compiling() and not is_partial_grad:
        return _ops.undispatch(x, key)
    _check_key(key)
    check_tensor("x", x)
    shard = key.shard_seqlen_kv if kv else key.shard_seqlen
    if x.dim() < 1 or x.shape[0] != shard:
        raise ValueError(f"x: expected {shard} rows (the local shard), got shape "
                         f"{list(x.shape)}")
    return undispatch_func(x, key, is_partial_grad, kv)


def roll(x: torch.Tensor, shift: int, dim: int, key: DistAttnRuntimeKey) -> torch.Tensor:
    """Rolls the global sequence by ``shift`` on the dispatched shards (multi-token
    prediction). Collective.

    The result equals ``dispatch(torch.roll(global_x, shift, dim), key)`` where ``global_x`` is
    the undispatched sequence *with its padding rows*: the roll runs over the padded length
    ``key.padded_seqlen``, as the original's. With ``shift = -1`` row ``i`` gets row ``i + 1``
    and the last real row gets the first padding row (``pad_value`` of :func:`dispatch`); with no
    padding it wraps to row 0. Only rows that change rank travel. Differentiable (the gradient
    is the opposite roll).

    Args:
        x: local shard, ``x.shape[dim] == key.shard_seqlen``.
        shift: any int (negative, or beyond the length, as ``torch.roll``).
        dim: the sequence dim of ``x`` (negative counts from the end).
        key: the key ``x`` was dispatched with (or one sharing its dispatch).

    Returns:
        The rolled local shard, shaped like ``x``.
    """
    _check_key(key)
    check_tensor("x", x)
    shift = check_int("shift", shift)
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise TypeError(f"dim: expected an int, got {type(dim).__name__}")
    if not -x.dim() <= dim < x.dim():
        raise ValueError(f"dim = {dim}: out of range for x of shape {list(x.shape)}")
    if x.shape[dim] != key.shard_seqlen:
        raise ValueError(f"x: expected {key.shard_seqlen} rows (the local shard) in dim {dim}, "
                         f"got shape {list(x.shape)}")
    # NOTE: modulo the (padded) length, as torch.roll's result is: the backward rolls by
    # -shift, which must stay in int64.
    return roll_func(x, key, shift % key.padded_seqlen, dim % x.dim())


def roll_simple(x: torch.Tensor, shift: int, dim: int, key: DistAttnRuntimeKey) -> torch.Tensor:
    """:func:`roll` under the original's second name. The original's two differ only in the
    transport (batched vs. plain point-to-point sends); here both run the same single
    all-to-all, so results are identical."""
    return roll(x, shift, dim, key)


def calc_attn(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key: DistAttnRuntimeKey,
              sink: torch.Tensor | None = None, softmax_scale: float | None = None,
              softcap: float = 0.0, return_max_logits: bool = False, *,
              sink_layout: str = "sh"):
    """Distributed attention over the local shards. Collective.

    Args:
        q: ``[shard, num_heads_q, head_dim]`` (shard = rows of the dispatched x).
        k, v: ``[shard, num_heads_kv, head_dim]`` and ``[shard, num_heads_kv, head_dim_v]``,
            same dtype (float32/float64/bfloat16/float16) and device as q. ``head_dim_v`` may
            differ from q / k's: any on CPU tensors, MLA's 192 / 128 on CUDA (see
            flex_flash_attn_func).
        key: from :func:`magi_attn_varlen_key`/:func:`magi_attn_flex_key` or a dispatch call.
        sink: optional attention-sink logits, float32 (see flex_flash_attn_func): each adds
            ``exp(sink)`` to its row's softmax denominator, counted once per row over all
            stages and ranks. Layout "sh" (the original's distributed form):
            ``[num_sink, num_heads_q]``, the same tensor on every rank; its gradient is this
            rank's partial (sum it over the group, with a warning as in the original) unless
            ``MAGI_ATTENTION_DSINK_ALL_REDUCE_OP`` is ``sum`` or ``avg`` (all-reduced inside
            backward).
        softmax_scale: None or 0: ``head_dim ** -0.5``; otherwise finite and > 0.
        softcap: if > 0, scores become ``softcap * tanh(score / softcap)``.
        sink_layout: ``"sh"``, or ``"ssh"``: sink ``[shard, num_sink, num_heads_q]`` per local
            row (dispatch a global ``[total_seqlen_q, num_sink, num_heads_q]`` tensor with
            :func:`dispatch` to get it; its gradient is exact per row and flows back through
            dispatch).
        return_max_logits: also compute each query head's largest score over every valid
            cell of every rank (after softmax_scale and softcap, the sink excluded; the same on
            every rank, all-reduced inside the call) and return
            ``(out, AttnForwardMeta(lse, max_logits))``. Every rank must pass the same value.
            Not under torch.compile yet.

    Returns:
        ``(out, lse)``: out ``[shard, num_heads_q, head_dim_v]`` in q's dtype, lse ``[shard,
        num_heads_q]`` float32 (natural log; not differentiable). Differentiable in q, k, v.
        With ``return_max_logits``: ``(out, AttnForwardMeta(lse, max_logits))``, max_logits
        float32 ``[num_heads_q]`` (not differentiable).
    """
    scale, cap = check_scale(softmax_scale, softcap)
    if sink is not None or sink_layout != "sh":
        sink = check_sink(sink, sink_layout)
    if _ops.compiling():
        if sink is not None:
            raise NotImplementedError("sink: not supported under torch.compile yet")
        if return_max_logits:
            raise NotImplementedError("return_max_logits: not supported under torch.compile yet")
        return _ops.calc_attn(q, k, v, key, scale, cap)
    _check_key(key)
    # NOTE: the core checks the shapes against the key (rows, and heads where the key has
    # them) once per call; Python looks at the tensors only when the core refused them, to
    # raise TypeError for a wrong type or dtype.
    try:
        if return_max_logits:
            max_logits = torch.full((q.shape[1],), float("-inf"), dtype=torch.float32,
                                    device=q.device)
            out, lse = dist_attn_func(q, k, v, key, scale, cap, sink, sink_layout, max_logits)
            return out, AttnForwardMeta(lse, max_logits)
        return dist_attn_func(q, k, v, key, scale, cap, sink, sink_layout)
    except (core().MagiError, AttributeError, IndexError):
        check_qkv(q, k, v)
        raise


def get_position_ids(key: DistAttnRuntimeKey, device=None,
                     attn_role: AttnRole = AttnRole.QUERY) -> torch.Tensor:
    """Global position of each local row (int64), for RoPE after dispatch; padding rows are
    clamped to ``total_seqlen_q - 1`` (the original clamps to the last row that attends a key:
    rows after it get lower ids there, their true ones here). ``attn_role=AttnRole.KEY``: of
    the local k/v rows (clamped to ``total_seqlen_k - 1``). ``device`` None: the current CUDA
    device when the key's group runs NCCL (as the original), else the CPU."""
    _check_key(key)
    kv = _is_kv(attn_role, "get_position_ids")
    ids = torch.tensor(key.runtime.position_ids_kv() if kv else key.runtime.position_ids(),
                       dtype=torch.int64)
    ids.clamp_(max=(key.total_seqlen_k if kv else key.total_seqlen_q) - 1)
    if device is None:
        device = _group_device(key.cp_group)
    return ids if device is None else ids.to(device)


def _group_device(group):
    """The current CUDA device for an NCCL group, else None (the CPU)."""
    import torch.distributed as dist

    try:
        nccl = group is not None and dist.get_backend(group) == "nccl"
    except (RuntimeError, ValueError):  # a destroyed group
        nccl = False
    return torch.device("cuda", torch.cuda.current_device()) if nccl else None


def get_most_recent_key(cp_group=None, cp_mesh=None) -> DistAttnRuntimeKey:
    """The most recently created or used key of the group (ValueError when there is none)."""
    group = resolve_group(cp_group, cp_mesh)
    comm = communicator_for(group)
    key = key_cache.most_recent(comm.group_id(), comm)
    if key is None:
        raise ValueError("cp_group: no key has been created for this group")
    return key


def clear_cache(cp_group=None) -> None:
    """Forgets the cached keys and the communicator of ``cp_group``, or everything the package
    caches (keys, the core's runtimes, communicators, mesh groups) when None. Nothing cached
    keeps a process group alive either way; interpreter exit releases everything too."""
    if cp_group is None:
        release_all()
    else:
        group = resolve_group(cp_group)
        key_cache.clear(communicator_for(group).group_id())
        forget_communicator(group)
