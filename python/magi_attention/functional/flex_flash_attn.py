"""flex_flash_attn_func: flexible attention on one device (CPU or CUDA tensors)."""

from __future__ import annotations

from collections import OrderedDict

import torch

from .._checks import check_qkv, check_scale, check_tensor
from .._ext import core
from .._tensor import accumulator_dtype, optional_view, prepare, stream_of, view

__all__ = ["flex_flash_attn_func"]


def _host_int32(name: str, t, shape_tail: tuple, num_rows: int | None):
    """A range/type tensor checked (int32, ``[N, *shape_tail]``) and as a contiguous host
    tensor (the core reads slices on the host; a CUDA tensor costs one copy)."""
    check_tensor(name, t, dtypes=(torch.int32,))
    if t.dim() != 1 + len(shape_tail) or tuple(t.shape[1:]) != shape_tail:
        want = ", ".join(["N", *map(str, shape_tail)])
        raise ValueError(f"{name}: expected shape [{want}], got {list(t.shape)}")
    if num_rows is not None and t.shape[0] != num_rows:
        raise ValueError(f"{name}: {t.shape[0]} rows, but q_ranges has {num_rows}")
    return t.detach().to("cpu").contiguous()


def _check_bounds(name: str, ranges: torch.Tensor, limit: int) -> None:
    if ranges.numel() == 0:
        return
    s, e = ranges[:, 0], ranges[:, 1]
    bad = (s < 0) | (s > e) | (e > limit)
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise ValueError(f"{name}[{i}] = [{int(s[i])}, {int(e[i])}): need "
                         f"0 <= start <= end <= {limit}")


def _identity(t):
    return None if t is None else (t.data_ptr(), t._version, tuple(t.shape), str(t.device),
                                   t.dtype)


# NOTE: a CUDA range tensor costs a device-to-host copy (a sync) when read; repeated calls with
# the same, unmodified range tensors reuse the checked host copies. Entries keep the caller's
# tensors alive, so their addresses cannot be reused; `_version` changes on in-place writes.
_HOST_RANGES: OrderedDict = OrderedDict()
_HOST_RANGES_SIZE = 64


def _host_ranges(q_ranges, k_ranges, attn_type_map, total_q: int, total_k: int):
    """Checked host int32 copies ``(q_ranges, k_ranges, attn_type_map or None)``."""
    cache_key = (_identity(q_ranges) if isinstance(q_ranges, torch.Tensor) else id(q_ranges),
                 _identity(k_ranges) if isinstance(k_ranges, torch.Tensor) else id(k_ranges),
                 _identity(attn_type_map) if isinstance(attn_type_map, torch.Tensor)
                 else id(attn_type_map), total_q, total_k)
    hit = _HOST_RANGES.get(cache_key)
    if hit is not None:
        _HOST_RANGES.move_to_end(cache_key)
        return hit[0]
    qr = _host_int32("q_ranges", q_ranges, (2,), None)
    kr = _host_int32("k_ranges", k_ranges, (2,), qr.shape[0])
    types = None
    if attn_type_map is not None:
        types = _host_int32("attn_type_map", attn_type_map, (), qr.shape[0])
        if types.numel() and bool(((types < 0) | (types > 3)).any()):
            raise ValueError(f"attn_type_map: codes must be 0..3, got {types.unique().tolist()}")
    _check_bounds("q_ranges", qr, total_q)
    _check_bounds("k_ranges", kr, total_k)
    _HOST_RANGES[cache_key] = ((qr, kr, types), (q_ranges, k_ranges, attn_type_map))
    if len(_HOST_RANGES) > _HOST_RANGES_SIZE:
        _HOST_RANGES.popitem(last=False)
    return qr, kr, types


class _FlexFlashAttn(torch.autograd.Function):
    """out, lse = FFA(q, k, v); backward through magi::ffa_backward."""

    @staticmethod
    def forward(ctx, q, k, v, q_ranges, k_ranges, types, softmax_scale, softcap):
        q, k, v = prepare(q), prepare(k), prepare(v)
        out = torch.empty_like(q, memory_format=torch.contiguous_format)
        lse = torch.empty(q.shape[:2], dtype=torch.float32, device=q.device)
        core().ffa_forward(view(q), view(k), view(v), view(q_ranges), view(k_ranges),
                           optional_view(types), softmax_scale, softcap, stream_of(q),
                           view(out), view(lse), False)
        ctx.save_for_backward(q, k, v, out, lse, q_ranges, k_ranges, types)
        ctx.scale = (softmax_scale, softcap)
        ctx.mark_non_differentiable(lse)
        return out, lse

    @staticmethod
    def backward(ctx, dout, dlse):
        q, k, v, out, lse, q_ranges, k_ranges, types = ctx.saved_tensors
        acc = accumulator_dtype(q.dtype)
        dq = torch.zeros(q.shape, dtype=acc, device=q.device)
        dk = torch.zeros(k.shape, dtype=acc, device=k.device)
        dv = torch.zeros(v.shape, dtype=acc, device=v.device)
        dout = prepare(dout)
        core().ffa_backward(view(q), view(k), view(v), view(out), view(lse), view(dout),
                            view(q_ranges), view(k_ranges), optional_view(types), *ctx.scale,
                            stream_of(q), view(dq), view(dk), view(dv))
        return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype), None, None, None, None, None


def flex_flash_attn_func(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    q_ranges: torch.Tensor,
    k_ranges: torch.Tensor,
    attn_type_map: torch.Tensor | None = None,
    *,
    softmax_scale: float | None = None,
    softcap: float = 0.0,
    deterministic: bool = False,
    sm_margin: int = 0,
    disable_fwd_atomic_reduction: bool = False,
    auto_range_merge: bool = False,
    max_seqlen_q: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flexible flash attention over a mask given as slices, on one device.

    The mask is the union of the cells of the slices ``(q_ranges[i], k_ranges[i],
    attn_type_map[i])``; a cell covered by several slices counts once. Rows covered by no
    slice get ``out = 0`` and ``lse = -inf``. Works on CPU tensors and (with the CUDA build)
    CUDA tensors, on torch's current stream. Differentiable in ``q``, ``k`` and ``v``.

    Args:
        q: ``[total_q, num_heads_q, head_dim]``, float32/float64/bfloat16/float16.
        k: ``[total_k, num_heads_kv, head_dim]``, same dtype; ``num_heads_q % num_heads_kv == 0``
            (query head ``h`` reads kv head ``h // (num_heads_q // num_heads_kv)``).
        v: same shape and dtype as ``k``.
        q_ranges: int32 ``[N, 2]``, rows ``[start, end)`` of q (overlaps allowed).
        k_ranges: int32 ``[N, 2]``, rows ``[start, end)`` of k.
        attn_type_map: int32 ``[N]`` mask type codes (0 full, 1 causal, 2 inv_causal,
            3 bi_causal; see :class:`~magi_attention.api.AttnMaskType`); None: all full.
        softmax_scale: score scale; default ``head_dim ** -0.5``.
        softcap: if > 0, scores become ``softcap * tanh(score / softcap)``.
        deterministic, sm_margin, disable_fwd_atomic_reduction, auto_range_merge,
            max_seqlen_q: accepted for compatibility with the original kernel; they do not
            change results here (the core's kernels are deterministic).

    Returns:
        ``(out, lse)``: out ``[total_q, num_heads_q, head_dim]`` in q's dtype; lse
        ``[total_q, num_heads_q]`` float32, natural log (not differentiable).
    """
    check_qkv(q, k, v)
    qr, kr, types = _host_ranges(q_ranges, k_ranges, attn_type_map, q.shape[0], k.shape[0])
    scale, cap = check_scale(softmax_scale, softcap)
    return _FlexFlashAttn.apply(q, k, v, qr, kr, types, scale, cap)
