"""flex_flash_attn_func: flexible flash attention on one GPU (the seed's single-device API).

The mask is a list of slices (q_range, k_range, type) with types 0 full, 1 causal,
2 inv_causal, 3 bi_causal; the union of their cells is attended (a cell covered twice counts
once). Rows without any cell get out = 0 and lse = -inf.
"""
from collections import OrderedDict

import torch

from .. import _C
from .._tensor import tensor_desc

_SLICE_CACHE = OrderedDict()
_SLICE_CACHE_SIZE = 64


def _slices_key(t):
    if t is None:
        return None
    return (t.data_ptr(), t._version, tuple(t.shape), t.device.type)


def _get_slices(q_ranges, k_ranges, attn_type_map):
    """The C++ slice list for these range tensors, built once per distinct tensors.

    Cache entries hold references to the tensors, so a cached data pointer cannot be reused by
    another tensor; `_version` changes on any in-place write, which forces a rebuild."""
    key = (_slices_key(q_ranges), _slices_key(k_ranges), _slices_key(attn_type_map))
    hit = _SLICE_CACHE.get(key)
    if hit is not None:
        _SLICE_CACHE.move_to_end(key)
        return hit[0]
    qr = q_ranges.detach().to("cpu", torch.int32).contiguous()
    kr = k_ranges.detach().to("cpu", torch.int32).contiguous()
    if qr.dim() != 2 or qr.shape[1] != 2 or kr.shape != qr.shape:
        raise ValueError(f"q_ranges and k_ranges must be [n, 2] with equal n, got "
                         f"{tuple(q_ranges.shape)} and {tuple(k_ranges.shape)}")
    n = qr.shape[0]
    tm = None
    if attn_type_map is not None:
        tm = attn_type_map.detach().to("cpu", torch.int32).contiguous()
        if tm.numel() != n:
            raise ValueError(f"attn_type_map must have {n} entries, got {tm.numel()}")
    slices = _C.FfaSlices(qr.data_ptr(), kr.data_ptr(), tm.data_ptr() if tm is not None else 0, n)
    _SLICE_CACHE[key] = (slices, (q_ranges, k_ranges, attn_type_map))
    if len(_SLICE_CACHE) > _SLICE_CACHE_SIZE:
        _SLICE_CACHE.popitem(last=False)
    return slices


def _prep(t):
    """Last dim contiguous, 16-byte aligned rows (what the kernels load with 16-byte copies)."""
    if t.stride(-1) != 1 or t.data_ptr() % 16 or any(s % 8 for s in t.stride()[:-1]):
        t = t.contiguous()
    return t


def _stream(t):
    return torch.cuda.current_stream(t.device).cuda_stream if t.is_cuda else 0


def ffa_forward(q, k, v, slices, softmax_scale, softcap, out=None, lse=None, accumulate=False):
    """Low-level forward. With accumulate=True, out/lse are fp32 accumulators merged into."""
    if out is None:
        out = torch.empty_like(q)
    if lse is None:
        lse = torch.empty(q.shape[0], q.shape[1], dtype=torch.float32, device=q.device)
    _C.ffa_forward(tensor_desc(q), tensor_desc(k), tensor_desc(v), slices, tensor_desc(out),
                   tensor_desc(lse), float(softmax_scale), float(softcap), bool(accumulate),
                   _stream(q))
    return out, lse


def ffa_backward(dout, q, k, v, out, lse, slices, softmax_scale, softcap, dq=None, dk=None, dv=None):
    """Low-level backward: dq/dk/dv are fp32 accumulators (zeros when not given), added into."""
    if dq is None:
        dq = torch.zeros(q.shape, dtype=torch.float32, device=q.device)
    if dk is None:
        dk = torch.zeros(k.shape, dtype=torch.float32, device=k.device)
    if dv is None:
        dv = torch.zeros(v.shape, dtype=torch.float32, device=v.device)
    _C.ffa_backward(tensor_desc(q), tensor_desc(k), tensor_desc(v), tensor_desc(out),
                    tensor_desc(lse), tensor_desc(dout), slices, tensor_desc(dq), tensor_desc(dk),
                    tensor_desc(dv), float(softmax_scale), float(softcap), _stream(q))
    return dq, dk, dv


class FlexFlashAttnFunc(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, slices, softmax_scale, softcap):
        out, lse = ffa_forward(q, k, v, slices, softmax_scale, softcap)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.slices = slices
        ctx.softmax_scale = softmax_scale
        ctx.softcap = softcap
        ctx.mark_non_differentiable(lse)
        return out, lse

    @staticmethod
    def backward(ctx, dout, _dlse):
        q, k, v, out, lse = ctx.saved_tensors
        dq, dk, dv = ffa_backward(_prep(dout), q, k, v, out, lse, ctx.slices, ctx.softmax_scale,
                                  ctx.softcap)
        return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype), None, None, None


def flex_flash_attn_func(q, k, v, q_ranges, k_ranges, attn_type_map=None, *, softmax_scale=None,
                         softcap=0.0, deterministic=False, **unsupported):
    """Flexible flash attention.

    q: [total_q, Hq, D]; k, v: [total_k, Hkv, D] (bf16 or fp16, CUDA; D 64 or 128);
    q_ranges, k_ranges: int32 [n, 2]; attn_type_map: int32 [n] (None: all full).
    Returns (out [total_q, Hq, D] in q's dtype, lse [total_q, Hq] fp32, natural log).
    """
    for name, val in unsupported.items():
        if val not in (None, False, 0, 0.0):
            raise NotImplementedError(f"flex_flash_attn_func: {name}={val!r} is not supported")
    if softmax_scale is None:
        softmax_scale = q.shape[-1] ** -0.5
    slices = _get_slices(q_ranges, k_ranges, attn_type_map)
    return FlexFlashAttnFunc.apply(_prep(q), _prep(k), _prep(v), slices, float(softmax_scale),
                                   float(softcap))
