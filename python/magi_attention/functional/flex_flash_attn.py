"""flex_flash_attn_func: flexible attention on one device (CPU or CUDA tensors).

The hot path: the mask's prepared work (``_C.FfaWork``: disjoint slices, and on CUDA the
kernels' work lists uploaded once) is cached by the identity of the range tensors (host ones
also compared with a copy), so a repeated call costs a few comparisons, two output allocations
and one C++ call that reads the tensors itself. Under ``torch.compile`` (torch >= 2.4) the call goes through the custom ops of
:mod:`magi_attention._ops` instead.
"""

from __future__ import annotations

from collections import OrderedDict

import torch

from .. import _ops
from .._checks import check_qkv, check_scale, check_sink, check_tensor
from .._ext import core
from .._tensor import (accumulator_dtype, alloc_bytes, empty_out, optional_view, prepared,
                       ready, stream_of, view)
from ._once import differentiable_once

__all__ = ["flex_flash_attn_func", "ffa_forward", "ffa_backward"]

_C = core()


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


def _get_slices(q_ranges, k_ranges, attn_type_map=None):
    """The core's slice list (``_C.FfaSlices``) of these range tensors, validated; its
    ``work(total_q, total_k)`` is the prepared work (made once per shape, kept)."""
    qr = _host_int32("q_ranges", q_ranges, (2,), None)
    kr = _host_int32("k_ranges", k_ranges, (2,), qr.shape[0])
    types = None
    if attn_type_map is not None:
        types = _host_int32("attn_type_map", attn_type_map, (), qr.shape[0])
    return _C.FfaSlices(view(qr, "q_ranges"), view(kr, "k_ranges"),
                        optional_view(types))


# Prepared work by the identity of the range tensors and the lengths; an entry holds references
# to the tensors, so their ids cannot be reused while cached. Each use checks that the tensors
# still hold what the work was made from (_record): a host tensor is compared with a copy (any
# write is seen, also through numpy or `.data`); a CUDA tensor by its `_version` (any in-place
# write through torch), data pointer and strides (`.data =`): reading it costs a sync, so a
# write that torch does not count (through `.data[...]`) is not seen; a CUDA tensor made under
# torch.inference_mode has no version counter and is read and compared on every call.
_WORK_CACHE: OrderedDict = OrderedDict()
_WORK_CACHE_SIZE = 64


def _record(t):
    """``(record, source)``: what range tensor ``t`` must still hold for work made from it to
    apply again, and the tensor to make the work from (a host copy where there is one, so a
    write racing with the conversion cannot leave work that differs from the record). Not a
    tensor, or not int32: no record (the conversion raises naming it)."""
    if t is None or not isinstance(t, torch.Tensor) or t.dtype != torch.int32:
        return None, t
    if not t.is_cuda:
        copy = t.detach().clone()
        return ("copy", copy), copy
    if t.is_inference():
        copy = t.detach().cpu()
        return ("read", copy), copy
    return ("stamp", t._version, t.data_ptr(), t.stride()), t


def _unchanged(ranges, records) -> bool:
    """Whether the range tensors still hold what their records say (_record)."""
    for t, r in zip(ranges, records):
        if t is None:
            continue
        if r is None or t.dtype != torch.int32:
            return False
        kind = r[0]
        if kind == "stamp":
            if (not t.is_cuda or t.is_inference()
                    or (t._version, t.data_ptr(), t.stride()) != r[1:]):
                return False
        elif kind == "copy":
            if t.is_cuda or not torch.equal(t, r[1]):
                return False
        elif not torch.equal(t.cpu(), r[1]):  # "read": an inference tensor, read every call
            return False
    return True


class _Last:
    """The most recent mask (most calls repeat it: one per layer of a step), recognised without
    a dict lookup. One tuple, replaced whole, so that a thread never sees one call's tensors
    with another's work: ``(ranges, (total_q, total_k), records, work)``."""

    state = ((None, None, None), None, (None, None, None), None)


def _work_of(q_ranges, k_ranges, attn_type_map, total_q: int, total_k: int):
    """The prepared work (``_C.FfaWork``) of this mask over ``[0, total_q) x [0, total_k)``,
    validated and made once per distinct range tensors (see _WORK_CACHE)."""
    ranges = (q_ranges, k_ranges, attn_type_map)
    last, lengths, records, work = _Last.state
    if (q_ranges is last[0] and k_ranges is last[1] and attn_type_map is last[2]
            and lengths == (total_q, total_k) and _unchanged(ranges, records)):
        return work
    key = (*(None if t is None else id(t) for t in ranges), total_q, total_k)
    hit = _WORK_CACHE.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[1], ranges)) \
            and _unchanged(ranges, hit[2]):
        _WORK_CACHE.move_to_end(key)
    else:
        records, sources = zip(*(_record(t) for t in ranges))
        work = _get_slices(*sources).work(total_q, total_k)
        hit = _WORK_CACHE[key] = (work, ranges, records)
        _WORK_CACHE.move_to_end(key)
        if len(_WORK_CACHE) > _WORK_CACHE_SIZE:
            _WORK_CACHE.popitem(last=False)
    _Last.state = (ranges, (total_q, total_k), hit[2], hit[0])
    return hit[0]


def _as_work(slices, q, k):
    """An ``FfaWork``, or the work of an ``FfaSlices`` for q's and k's lengths."""
    return slices.work(q.shape[0], k.shape[0]) if isinstance(slices, _C.FfaSlices) else slices


def _empty_outputs(q, v):
    """out ([Sq, Hq, Dv], contiguous) and fp32 lse."""
    return empty_out(q, v), q.new_empty(q.shape[:2], dtype=torch.float32)


def ffa_forward(q, k, v, slices, softmax_scale, softcap, out=None, lse=None, accumulate=False):
    """Low-level forward over a prepared mask (``_C.FfaWork``, or ``_C.FfaSlices`` from
    ``_get_slices``), no autograd. With ``accumulate=True``, ``out`` and ``lse`` are fp32
    accumulators holding a partial result, merged into by log-sum-exp."""
    if out is None or lse is None:
        o, l = _empty_outputs(q, v)
        out = o if out is None else out
        lse = l if lse is None else lse
    _C.ffa_fwd(_as_work(slices, q, k), q, k, v, out, lse, float(softmax_scale), float(softcap),
               bool(accumulate), stream_of(q))
    return out, lse


def ffa_backward(dout, q, k, v, out, lse, slices, softmax_scale, softcap, dq=None, dk=None,
                 dv=None, deterministic=False):
    """Low-level backward over a prepared mask: dq/dk/dv are fp32 (fp64 for fp64 inputs)
    accumulators, zero-initialised when not given, that the gradients are added into. On CUDA
    with bf16/fp16 inputs, dq and (together) dk/dv may instead be given in the input dtype:
    they are then overwritten with the gradient."""
    acc = accumulator_dtype(q.dtype)
    dq = torch.zeros(q.shape, dtype=acc, device=q.device) if dq is None else dq
    dk = torch.zeros(k.shape, dtype=acc, device=k.device) if dk is None else dk
    dv = torch.zeros(v.shape, dtype=acc, device=v.device) if dv is None else dv
    _C.ffa_bwd(_as_work(slices, q, k), q, k, v, out, lse, dout, dq, dk, dv,
               float(softmax_scale), float(softcap), stream_of(q), alloc_bytes,
               bool(deterministic))
    return dq, dk, dv


def _forward(q, k, v, work, scale: float, cap: float, sink=None, sink_layout: str = "sh",
             max_logits=None):
    """out, lse (no autograd): the prepared inputs, two allocations, one C++ call. With a
    sink, out and lse include it (merged once per row after the kernel, in the core)."""
    q, k, v = ready(q, k, v)
    out, lse = _empty_outputs(q, v)
    if sink is None and max_logits is None:
        _C.ffa_fwd(work, q, k, v, out, lse, scale, cap, False, stream_of(q) if q.is_cuda else 0)
    else:
        _C.ffa_fwd(work, q, k, v, out, lse, scale, cap, False, stream_of(q) if q.is_cuda else 0,
                   sink, sink_layout, max_logits)
    return q, k, v, out, lse


def _backward(dout, q, k, v, out, lse, work, scale: float, cap: float, deterministic: bool,
              sink=None, sink_layout: str = "sh", dsink=None):
    """dq, dk, dv in the inputs' dtypes; with ``dsink`` (a float32 zero tensor like the sink),
    the sink's gradient is added into it."""
    dout = prepared(dout)
    acc = accumulator_dtype(q.dtype)
    dq = torch.zeros(q.shape, dtype=acc, device=q.device)
    if q.is_cuda and q.dtype in (torch.bfloat16, torch.float16):
        # dk / dv straight in the input dtype (overwritten; no fp32 round trip). NOTE: the
        # gradients are contiguous whatever the inputs' strides (the custom ops' fake
        # implementations promise it).
        dk, dv = k.new_empty(k.shape), v.new_empty(v.shape)
    else:
        dk = torch.zeros(k.shape, dtype=acc, device=k.device)
        dv = torch.zeros(v.shape, dtype=acc, device=v.device)
    _C.ffa_bwd(work, q, k, v, out, lse, dout, dq, dk, dv, scale, cap, stream_of(q), alloc_bytes,
               deterministic, sink, sink_layout, dsink)
    return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype)


class _FlexFlashAttn(torch.autograd.Function):
    """out, lse = FFA(q, k, v[, sink]); backward through magi::ffa_backward from the saved
    (sink-included) out and lse, which also gives the sink's gradient."""

    @staticmethod
    def forward(ctx, q, k, v, sink, work, softmax_scale, softcap, deterministic, sink_layout,
                max_logits=None):
        # max_logits (not differentiable): a float32 [num_heads_q] buffer filled here.
        q, k, v, out, lse = _forward(q, k, v, work, softmax_scale, softcap, sink, sink_layout,
                                     max_logits)
        ctx.save_for_backward(q, k, v, out, lse, sink)
        ctx.args = (work, softmax_scale, softcap, deterministic, sink_layout)
        ctx.mark_non_differentiable(lse)
        return out, lse

    @staticmethod
    @differentiable_once
    def backward(ctx, dout, dlse):
        q, k, v, out, lse, sink = ctx.saved_tensors
        work, scale, cap, deterministic, layout = ctx.args
        dsink = None
        if sink is not None and ctx.needs_input_grad[3]:
            dsink = torch.zeros_like(sink)
        grads = _backward(dout, q, k, v, out, lse, work, scale, cap, deterministic, sink, layout,
                          dsink)
        return (*grads, dsink, None, None, None, None, None, None)


def _max_logits_buffer(q):
    """max_logits' buffer: float32 [num_heads_q], -inf (the kernels merge into it by max)."""
    return torch.full((q.shape[1],), float("-inf"), dtype=torch.float32, device=q.device)


def flex_flash_attn_func(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    q_ranges: torch.Tensor | None = None,
    k_ranges: torch.Tensor | None = None,
    attn_type_map: torch.Tensor | None = None,
    *,
    softmax_scale: float | None = None,
    softcap: float = 0.0,
    deterministic: bool = False,
    sm_margin: int = 0,
    disable_fwd_atomic_reduction: bool = False,
    auto_range_merge: bool = False,
    max_seqlen_q: int | None = None,
    sink: torch.Tensor | None = None,
    sink_layout: str = "sh",
    return_max_logits: bool = False,
    disable_bwd_dkv_atomic_reduction: bool = False,
    ref_block_size=None,
    swap_ab: bool = False,
    pack_gqa: bool = False,
    cat_gqa: bool = False,
    sparse_load: bool = False,
    swap_bwd_qk_loop: bool = False,
    index_attn: bool = False,
    index_attn_indices: torch.Tensor | None = None,
    q_block_size: int = 1,
    k_block_size: int = 1,
):
    """Flexible flash attention over a mask given as slices, on one device.

    The mask is the union of the cells of the slices ``(q_ranges[i], k_ranges[i],
    attn_type_map[i])``; a cell covered by several slices counts once. Rows covered by no
    slice get ``out = 0`` and ``lse = -inf``. Works on CPU tensors and (with the CUDA build)
    CUDA tensors, on torch's current stream. Differentiable in ``q``, ``k`` and ``v``.

    The mask is prepared once per distinct range tensors (kept while they are alive and not
    written in place): pass the same tensors on every call (e.g. one per layer or step) and a
    call does no conversion or upload. With ``torch.compile`` (torch >= 2.4) it is a custom op.

    Args:
        q: ``[total_q, num_heads_q, head_dim]``, float32/float64/bfloat16/float16.
        k: ``[total_k, num_heads_kv, head_dim]``, same dtype; ``num_heads_q % num_heads_kv == 0``
            (query head ``h`` reads kv head ``h // (num_heads_q // num_heads_kv)``).
        v: ``[total_k, num_heads_kv, head_dim_v]``, same dtype; ``head_dim_v`` may differ
            from ``head_dim``: any on the CPU kernels; on CUDA MLA's 192 for q / k with 128 for
            v (on a Hopper GPU or an A100; not deterministic), ValueError otherwise.
        q_ranges: int32 ``[N, 2]``, rows ``[start, end)`` of q (overlaps allowed).
        k_ranges: int32 ``[N, 2]``, rows ``[start, end)`` of k.
        attn_type_map: int32 ``[N]`` mask type codes (0 full, 1 causal, 2 inv_causal,
            3 bi_causal; see :class:`~magi_attention.api.AttnMaskType`); None: all full.
        softmax_scale: score scale; None or 0: ``head_dim ** -0.5``; otherwise finite and > 0
            (the same rule on every device; a negative scale raises ValueError).
        softcap: if > 0, scores become ``softcap * tanh(score / softcap)``.
        deterministic: bit-identical gradients from run to run (the CUDA backward adds into
            dq, dk and dv in a fixed order; Hopper GPUs only, ValueError elsewhere on CUDA;
            the CPU kernels always are). ``MAGI_ATTENTION_DETERMINISTIC_MODE=1`` turns it on
            for every call, calc_attn included. Without it the CUDA backward adds with
            atomics, so the last bits of the gradients may vary between runs.
        sm_margin, disable_fwd_atomic_reduction, disable_bwd_dkv_atomic_reduction,
            auto_range_merge, max_seqlen_q, ref_block_size, swap_ab, pack_gqa, cat_gqa,
            sparse_load, swap_bwd_qk_loop: the original kernel's tuning options, accepted for
            compatibility; they change neither results nor the kernels chosen here.
        index_attn, index_attn_indices, q_block_size, k_block_size: the original's index
            attention (block-sparse by index) is not implemented: anything but their defaults
            raises NotImplementedError.
        sink: optional learnable attention-sink logits, float32: each sink adds
            ``exp(sink)`` (not scaled by softmax_scale) to its row's softmax denominator and
            nothing to out; lse includes the sinks; ``-inf`` means no sink. Differentiable
            (the gradient comes back in sink's dtype, float32). Any number of sinks >= 1.
            Not under torch.compile yet.
        sink_layout: ``"sh"``: sink ``[num_sink, num_heads_q]``, the same for every row;
            ``"ssh"``: ``[total_q, num_sink, num_heads_q]``, per query row.
        return_max_logits: also compute each query head's largest score over the valid cells
            (after softmax_scale and softcap, the sink's logits excluded; for Muon QK-clip),
            and return ``(out, AttnForwardMeta(lse, max_logits))``. Not under torch.compile
            yet.

    Returns:
        ``(out, lse)``: out ``[total_q, num_heads_q, head_dim_v]`` in q's dtype; lse
        ``[total_q, num_heads_q]`` float32, natural log (not differentiable). Rows with no
        key get out 0 and lse -inf, or, with a sink, lse = logsumexp of their sinks. With
        ``return_max_logits``: ``(out, AttnForwardMeta(lse, max_logits))``, max_logits float32
        ``[num_heads_q]`` (-inf for a head with no valid cell; NaN kept; not differentiable).
    """
    if index_attn or index_attn_indices is not None or q_block_size != 1 or k_block_size != 1:
        raise NotImplementedError(
            f"index attention (index_attn = {index_attn!r}, index_attn_indices "
            f"{'given' if index_attn_indices is not None else 'None'}, q_block_size = "
            f"{q_block_size!r}, k_block_size = {k_block_size!r}) is not implemented: give the "
            f"mask as q_ranges / k_ranges / attn_type_map")
    if q_ranges is None or k_ranges is None:
        raise ValueError("q_ranges, k_ranges: required (int32 [N, 2] tensors of the mask's "
                         "slices)")
    for name, flag in (("deterministic", deterministic), ("return_max_logits", return_max_logits)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name}: expected a bool, got {type(flag).__name__}")
    if return_max_logits:
        if _ops.compiling():
            raise NotImplementedError("return_max_logits: not supported under torch.compile yet")
        return _flex_with_max_logits(q, k, v, q_ranges, k_ranges, attn_type_map, softmax_scale,
                                     softcap, deterministic, sink, sink_layout)
    if _ops.compiling():
        if sink is not None:
            raise NotImplementedError("sink: not supported under torch.compile yet")
        return _ops.flex_flash_attn(q, k, v, q_ranges, k_ranges, attn_type_map, softmax_scale,
                                    softcap, deterministic)
    # NOTE: the core validates every argument once; only when it refuses them are the tensors
    # checked here too, to raise TypeError for a wrong type or dtype (the core's MagiError is a
    # ValueError).
    try:
        scale, cap = check_scale(softmax_scale, softcap)
        if sink is not None or sink_layout != "sh":
            sink = check_sink(sink, sink_layout)
        work = _work_of(q_ranges, k_ranges, attn_type_map, q.shape[0], k.shape[0])
        if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad or
                                        (sink is not None and sink.requires_grad)):
            return _FlexFlashAttn.apply(q, k, v, sink, work, scale, cap, bool(deterministic),
                                        sink_layout)
        return _forward(q, k, v, work, scale, cap, sink, sink_layout)[3:]
    except (_C.MagiError, AttributeError, IndexError):
        check_qkv(q, k, v)
        raise


def _flex_with_max_logits(q, k, v, q_ranges, k_ranges, attn_type_map, softmax_scale, softcap,
                          deterministic, sink, sink_layout):
    """flex_flash_attn_func with return_max_logits: (out, AttnForwardMeta(lse, max_logits))."""
    from ..common.forward_meta import AttnForwardMeta

    try:
        scale, cap = check_scale(softmax_scale, softcap)
        if sink is not None or sink_layout != "sh":
            sink = check_sink(sink, sink_layout)
        work = _work_of(q_ranges, k_ranges, attn_type_map, q.shape[0], k.shape[0])
        max_logits = _max_logits_buffer(q)
        if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad or
                                        (sink is not None and sink.requires_grad)):
            out, lse = _FlexFlashAttn.apply(q, k, v, sink, work, scale, cap,
                                            bool(deterministic), sink_layout, max_logits)
        else:
            out, lse = _forward(q, k, v, work, scale, cap, sink, sink_layout, max_logits)[3:]
        return out, AttnForwardMeta(lse, max_logits)
    except (_C.MagiError, AttributeError, IndexError):
        check_qkv(q, k, v)
        raise
