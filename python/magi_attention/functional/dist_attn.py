"""Autograd around the core's distributed steps.

- dispatch:   x_global -> x_local (this rank's chunks, padded). Backward: undispatch of the
              local gradient, so every rank gets the full gradient of x (each row from its
              owner). ``kv=True``: over the K/V dispatch (cross-attention's own; in
              self-attention the same as q's); undispatch likewise.
- calc_attn:  (q, k, v[, sink]) local -> (out, lse) local. Backward: calc_attn_backward
              (remote dK/dV are summed back to their owners inside the core; the sink's
              gradient reduced per MAGI_ATTENTION_DSINK_ALL_REDUCE_OP).
- undispatch: out_local -> out_global (padding dropped). Backward: dispatch of the gradient
              (select the local rows; padding rows get zero); with is_partial_grad, the ranks'
              global gradients are partial sums: summed over the group first.
- roll:       x_local -> x_local rolled along the global (padded) sequence. Backward: the
              opposite roll.

Each step is one C++ call on the key's runtime, which holds everything prepared for the key
(plan, FFA work, range tables); the core's scratch memory comes from torch (``alloc_bytes``).
"""

from __future__ import annotations

import os
import warnings

import torch

from .._ext import core
from .._tensor import alloc_bytes, empty_out, prepared, ready, stream_of
from ._once import differentiable_once

__all__ = ["dispatch_func", "undispatch_func", "dist_attn_func", "roll_func"]

_C = core()


def _dispatch(key, x_global: torch.Tensor, pad_value: float, kv: bool = False) -> torch.Tensor:
    x_global = x_global.contiguous()
    rows = key.shard_seqlen_kv if kv else key.shard_seqlen
    local = x_global.new_empty((rows, *x_global.shape[1:]))
    fn = _C.dispatch_kv if kv else _C.dispatch
    fn(key.runtime, x_global, local, pad_value, stream_of(x_global))
    return local


def _undispatch(key, x_local: torch.Tensor, kv: bool = False) -> torch.Tensor:
    x_local = x_local.contiguous()
    rows = key.total_seqlen_k if kv else key.total_seqlen_q
    out = x_local.new_empty((rows, *x_local.shape[1:]))
    fn = _C.undispatch_kv if kv else _C.undispatch
    fn(key.runtime, key.comm, x_local, out, stream_of(x_local), alloc_bytes)
    return out


def _roll(key, x_local: torch.Tensor, shift: int, dim: int) -> torch.Tensor:
    # NOTE: the core rolls rows (dim 0); another sequence dim is moved there and back.
    x0 = x_local.movedim(dim, 0).contiguous()
    out = torch.empty_like(x0)
    _C.roll(key.runtime, key.comm, x0, shift, out, stream_of(x0), alloc_bytes)
    return out.movedim(0, dim)


def _calc_forward(q, k, v, key, scale: float, cap: float, sink=None, sink_layout: str = "sh",
                  max_logits=None):
    """The prepared inputs and (out, lse), no autograd; with a sink, out and lse include it
    (merged once per row after every stage, in the core)."""
    q, k, v = ready(q, k, v)
    out = empty_out(q, v)
    lse = q.new_empty(q.shape[:2], dtype=torch.float32)
    _C.calc_attn(key.runtime, key.comm, q, k, v, out, lse, scale, cap, stream_of(q), alloc_bytes,
                 sink, sink_layout, max_logits)
    return q, k, v, out, lse


def _calc_backward(dout, q, k, v, out, lse, key, scale: float, cap: float, sink=None,
                   sink_layout: str = "sh", dsink=None):
    """dq, dk, dv in the inputs' dtypes; ``dsink`` (float32 like the sink) is overwritten with
    the sink's gradient (see dist_attn_func)."""
    dq, dk, dv = q.new_empty(q.shape), k.new_empty(k.shape), v.new_empty(v.shape)
    _C.calc_attn_backward(key.runtime, key.comm, q, k, v, out, lse, prepared(dout), dq, dk, dv,
                          scale, cap, stream_of(q), alloc_bytes, sink, sink_layout, dsink)
    return dq, dk, dv


_warned_partial_dsink = False


def _warn_partial_dsink(key, sink_layout: str) -> None:
    """The original's warning: with several ranks and MAGI_ATTENTION_DSINK_ALL_REDUCE_OP=none
    the "sh" sink's gradient is this rank's partial (once per process)."""
    global _warned_partial_dsink
    if _warned_partial_dsink or sink_layout != "sh" or key.comm.size() == 1:
        return
    if os.environ.get("MAGI_ATTENTION_DSINK_ALL_REDUCE_OP", "none").lower() in ("", "none"):
        _warned_partial_dsink = True
        warnings.warn("calc_attn: the gradient of sink is this rank's partial (its rows); "
                      "all-reduce it over the cp group yourself, or set "
                      "MAGI_ATTENTION_DSINK_ALL_REDUCE_OP=sum (or avg)", stacklevel=3)


class _Dispatch(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_global, key, pad_value, kv):
        ctx.key, ctx.kv = key, kv
        return _dispatch(key, x_global, pad_value, kv)

    @staticmethod
    @differentiable_once
    def backward(ctx, grad_local):
        return _undispatch(ctx.key, grad_local, ctx.kv), None, None, None


class _Undispatch(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_local, key, is_partial_grad, kv):
        ctx.key, ctx.partial, ctx.kv = key, is_partial_grad, kv
        return _undispatch(key, x_local, kv)

    @staticmethod
    @differentiable_once
    def backward(ctx, grad_global):
        if ctx.partial and ctx.key.comm.size() > 1:
            # NOTE: a reduce-scatter would move half the bytes, but gloo has none; all_reduce
            # then a local select gives the same rows on every backend.
            grad_global = grad_global.contiguous().clone()
            torch.distributed.all_reduce(grad_global, group=ctx.key.cp_group)
        return _dispatch(ctx.key, grad_global, 0.0, ctx.kv), None, None, None


class _Roll(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_local, key, shift, dim):
        ctx.args = (key, shift, dim)
        return _roll(key, x_local, shift, dim)

    @staticmethod
    @differentiable_once
    def backward(ctx, grad):
        key, shift, dim = ctx.args
        return _roll(key, grad, -shift, dim), None, None, None


class _DistAttn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, sink, key, softmax_scale, softcap, sink_layout, max_logits=None):
        # max_logits (not differentiable): a float32 [num_heads_q] buffer overwritten here.
        q, k, v, out, lse = _calc_forward(q, k, v, key, softmax_scale, softcap, sink,
                                          sink_layout, max_logits)
        ctx.save_for_backward(q, k, v, out, lse, sink)
        ctx.args = (key, softmax_scale, softcap, sink_layout)
        ctx.mark_non_differentiable(lse)
        return out, lse

    @staticmethod
    @differentiable_once
    def backward(ctx, dout, dlse):
        q, k, v, out, lse, sink = ctx.saved_tensors
        key, scale, cap, layout = ctx.args
        dsink = None
        if sink is not None and ctx.needs_input_grad[3]:
            dsink = torch.empty_like(sink)
            _warn_partial_dsink(key, layout)
        grads = _calc_backward(dout, q, k, v, out, lse, key, scale, cap, sink, layout, dsink)
        return (*grads, dsink, None, None, None, None, None)


def _grad_needed(*tensors) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def dispatch_func(x_global: torch.Tensor, key, pad_value: float = 0.0,
                  kv: bool = False) -> torch.Tensor:
    """Differentiable dispatch (see module doc)."""
    if _grad_needed(x_global):
        return _Dispatch.apply(x_global, key, pad_value, kv)
    return _dispatch(key, x_global, pad_value, kv)


def undispatch_func(x_local: torch.Tensor, key, is_partial_grad: bool = False,
                    kv: bool = False) -> torch.Tensor:
    """Differentiable undispatch (see module doc)."""
    if _grad_needed(x_local):
        return _Undispatch.apply(x_local, key, is_partial_grad, kv)
    return _undispatch(key, x_local, kv)


def roll_func(x_local: torch.Tensor, key, shift: int, dim: int) -> torch.Tensor:
    """Differentiable roll of the dispatched ``x_local`` along its sequence dim ``dim``."""
    if _grad_needed(x_local):
        return _Roll.apply(x_local, key, shift, dim)
    return _roll(key, x_local, shift, dim)


def dist_attn_func(q, k, v, key, softmax_scale: float, softcap: float, sink=None,
                   sink_layout: str = "sh", max_logits=None):
    """Differentiable distributed attention over local shards; returns ``(out, lse)``.

    ``sink`` (float32): ``"sh"`` ``[num_sink, num_heads_q]``, the same on every rank, or
    ``"ssh"`` ``[shard, num_sink, num_heads_q]``, per local (dispatched) row. Its gradient:
    "ssh" exact per local row; "sh" this rank's partial unless
    ``MAGI_ATTENTION_DSINK_ALL_REDUCE_OP`` is ``sum`` or ``avg`` (all-reduced in the core).
    ``max_logits`` (float32 ``[num_heads_q]``, or None): overwritten with each head's largest
    score over every stage and rank (collective: every rank passes one or none)."""
    if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad or
                                    (sink is not None and sink.requires_grad)):
        return _DistAttn.apply(q, k, v, sink, key, softmax_scale, softcap, sink_layout,
                               max_logits)
    return _calc_forward(q, k, v, key, softmax_scale, softcap, sink, sink_layout,
                         max_logits)[3:]
