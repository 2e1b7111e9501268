"""Autograd around the core's distributed steps.

- dispatch:   x_global -> x_local (this rank's chunks, padded). Backward: undispatch of the
              local gradient, so every rank gets the full gradient of x (each row from its
              owner).
- calc_attn:  (q, k, v) local -> (out, lse) local. Backward: calc_attn_backward (remote dK/dV
              are summed back to their owners inside the core).
- undispatch: out_local -> out_global (padding dropped). Backward: dispatch of the gradient
              (select the local rows; padding rows get zero).
"""

from __future__ import annotations

import torch

from .._ext import core
from .._tensor import stream_of, view

__all__ = ["dispatch_func", "undispatch_func", "dist_attn_func"]


def _dispatch(key, x_global: torch.Tensor, pad_value: float) -> torch.Tensor:
    x_global = x_global.contiguous()
    local = torch.empty((key.shard_seqlen, *x_global.shape[1:]), dtype=x_global.dtype,
                        device=x_global.device)
    core().dispatch(key.runtime, view(x_global), view(local), pad_value,
                    stream_of(x_global))
    return local


def _undispatch(key, x_local: torch.Tensor) -> torch.Tensor:
    x_local = x_local.contiguous()
    out = torch.empty((key.total_seqlen_q, *x_local.shape[1:]), dtype=x_local.dtype,
                      device=x_local.device)
    core().undispatch(key.runtime, key.comm, view(x_local), view(out), stream_of(x_local))
    return out


class _Dispatch(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_global, key, pad_value):
        ctx.key = key
        return _dispatch(key, x_global, pad_value)

    @staticmethod
    def backward(ctx, grad_local):
        return _undispatch(ctx.key, grad_local), None, None


class _Undispatch(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_local, key):
        ctx.key = key
        return _undispatch(key, x_local)

    @staticmethod
    def backward(ctx, grad_global):
        return _dispatch(ctx.key, grad_global, 0.0), None


class _DistAttn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, key, runtime, softmax_scale, softcap):
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
        out = torch.empty_like(q)
        lse = torch.empty(q.shape[:2], dtype=torch.float32, device=q.device)
        core().calc_attn(runtime, key.comm, view(q), view(k), view(v), softmax_scale, softcap,
                         stream_of(q), view(out), view(lse))
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.args = (key, runtime, softmax_scale, softcap)
        ctx.mark_non_differentiable(lse)
        return out, lse

    @staticmethod
    def backward(ctx, dout, dlse):
        q, k, v, out, lse = ctx.saved_tensors
        key, runtime, softmax_scale, softcap = ctx.args
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        core().calc_attn_backward(runtime, key.comm, view(q), view(k), view(v), view(out),
                                  view(lse), view(dout.contiguous()), softmax_scale, softcap,
                                  stream_of(q), view(dq), view(dk), view(dv))
        return dq, dk, dv, None, None, None, None


def dispatch_func(x_global: torch.Tensor, key, pad_value: float = 0.0) -> torch.Tensor:
    """Differentiable dispatch (see module doc)."""
    return _Dispatch.apply(x_global, key, pad_value)


def undispatch_func(x_local: torch.Tensor, key) -> torch.Tensor:
    """Differentiable undispatch (see module doc)."""
    return _Undispatch.apply(x_local, key)


def dist_attn_func(q, k, v, key, runtime, softmax_scale: float, softcap: float):
    """Differentiable distributed attention over local shards; returns ``(out, lse)``."""
    return _DistAttn.apply(q, k, v, key, runtime, softmax_scale, softcap)
