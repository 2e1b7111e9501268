"""flex_flash_attn_func: flexible attention on one device (CPU or CUDA tensors)."""

from __future__ import annotations

from collections import OrderedDict

import torch

from .._checks import check_qkv, check_scale, check_tensor
from .._ext import core
from .._tensor import accumulator_dtype, optional_view, prepare, stream_of, view

__all__ = ["flex_flash_attn_func", "ffa_forward", "ffa_backward"]


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


# Converted masks by the identity of their range tensors. NOTE: a CUDA range tensor costs a
# device-to-host copy (a sync) when read, so repeated calls must not read it again. An entry
# holds references to the tensors, so a cached data pointer cannot be reused by another tensor,
# and `_version` changes on any in-place write, which forces a new conversion.
_SLICE_CACHE: OrderedDict = OrderedDict()
_SLICE_CACHE_SIZE = 64


def _tensor_key(t):
    if not isinstance(t, torch.Tensor):
        return ("object", id(t))  # not a tensor: _host_int32 raises TypeError on first use
    return (t.data_ptr(), t._version, tuple(t.shape), t.dtype, t.device)


def _get_slices(q_ranges, k_ranges, attn_type_map=None, total_q=None, total_k=None):
    """The core's slice list (``_C.FfaSlices``) for these range tensors, validated and built
    once per distinct tensors; with totals given, ranges are checked against them."""
    key = (_tensor_key(q_ranges), _tensor_key(k_ranges), _tensor_key(attn_type_map), total_q,
           total_k)
    hit = _SLICE_CACHE.get(key)
    if hit is not None:
        _SLICE_CACHE.move_to_end(key)
        return hit[0]
    qr = _host_int32("q_ranges", q_ranges, (2,), None)
    kr = _host_int32("k_ranges", k_ranges, (2,), qr.shape[0])
    types = None
    if attn_type_map is not None:
        types = _host_int32("attn_type_map", attn_type_map, (), qr.shape[0])
        if types.numel() and bool(((types < 0) | (types > 3)).any()):
            raise ValueError(f"attn_type_map: codes must be 0..3, got {types.unique().tolist()}")
    if total_q is not None:
        _check_bounds("q_ranges", qr, total_q)
    if total_k is not None:
        _check_bounds("k_ranges", kr, total_k)
    slices = core().FfaSlices(view(qr), view(kr), optional_view(types))
    _SLICE_CACHE[key] = (slices, (q_ranges, k_ranges, attn_type_map))
    if len(_SLICE_CACHE) > _SLICE_CACHE_SIZE:
        _SLICE_CACHE.popitem(last=False)
    return slices


def ffa_forward(q, k, v, slices, softmax_scale, softcap, out=None, lse=None, accumulate=False):
    """Low-level forward over prebuilt slices (no autograd). With ``accumulate=True``, ``out``
    and ``lse`` are fp32 accumulators holding a partial result, merged into by log-sum-exp."""
    if out is None:
        out = torch.empty_like(q, memory_format=torch.contiguous_format)
    if lse is None:
        lse = torch.empty(q.shape[:2], dtype=torch.float32, device=q.device)
    core().ffa_forward_slices(view(q), view(k), view(v), slices, view(out), view(lse),
                              float(softmax_scale), float(softcap), bool(accumulate), stream_of(q))
    return out, lse


def ffa_backward(dout, q, k, v, out, lse, slices, softmax_scale, softcap, dq=None, dk=None,
                 dv=None):
    """Low-level backward over prebuilt slices: dq/dk/dv are fp32 (fp64 for fp64 inputs)
    accumulators, zero-initialised when not given, that the gradients are added into. On CUDA
    with bf16/fp16 inputs, dk/dv may instead be given in the input dtype: they are then
    overwritten with the gradient."""
    acc = accumulator_dtype(q.dtype)
    dq = torch.zeros(q.shape, dtype=acc, device=q.device) if dq is None else dq
    dk = torch.zeros(k.shape, dtype=acc, device=k.device) if dk is None else dk
    dv = torch.zeros(v.shape, dtype=acc, device=v.device) if dv is None else dv
    core().ffa_backward_slices(view(q), view(k), view(v), view(out), view(lse), view(dout),
                               slices, view(dq), view(dk), view(dv), float(softmax_scale),
                               float(softcap), stream_of(q))
    return dq, dk, dv


class _FlexFlashAttn(torch.autograd.Function):
    """out, lse = FFA(q, k, v); backward through magi::ffa_backward."""

    @staticmethod
    def forward(ctx, q, k, v, slices, softmax_scale, softcap):
        q, k, v = prepare(q), prepare(k), prepare(v)
        out, lse = ffa_forward(q, k, v, slices, softmax_scale, softcap)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.slices = slices
        ctx.scale = (softmax_scale, softcap)
        ctx.mark_non_differentiable(lse)
        return out, lse

    @staticmethod
    def backward(ctx, dout, dlse):
        q, k, v, out, lse = ctx.saved_tensors
        dk = dv = None
        if q.is_cuda and q.dtype in (torch.bfloat16, torch.float16):
            # dk / dv straight in the input dtype (overwritten; no fp32 round trip).
            dk, dv = torch.empty_like(k), torch.empty_like(v)
        dq, dk, dv = ffa_backward(prepare(dout), q, k, v, out, lse, ctx.slices, *ctx.scale,
                                  dk=dk, dv=dv)
        return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype), None, None, None


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
            change results here. (The CPU kernels are deterministic; the CUDA backward adds
            dq, dk and dv with atomics, so its last bits may vary between runs.)

    Returns:
        ``(out, lse)``: out ``[total_q, num_heads_q, head_dim]`` in q's dtype; lse
        ``[total_q, num_heads_q]`` float32, natural log (not differentiable).
    """
    check_qkv(q, k, v)
    slices = _get_slices(q_ranges, k_ranges, attn_type_map, q.shape[0], k.shape[0])
    scale, cap = check_scale(softmax_scale, softcap)
    return _FlexFlashAttn.apply(q, k, v, slices, scale, cap)
