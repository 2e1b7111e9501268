"""torch.compile support: the package's entries as ``torch.library`` custom ops (torch >= 2.4).

``flex_flash_attn_func``, ``calc_attn``, ``dispatch`` and ``undispatch`` call these ops while
torch.compile traces them (``compiling()``), so a model using them compiles with
``fullgraph=True``: each op has a fake (meta) implementation that gives the output shapes, and
autograd registered on it (the backward is an op too). Eager calls do not go through the ops:
the direct path is cheaper on the host. With an older torch (1.13 here) nothing is registered
and ``compiling()`` is always False.

lse is not differentiable: the backward ops ignore its gradient (eager calls mark it
non-differentiable; through the ops it is simply dropped).

Ops (namespace ``magi_attention``):
  ffa_fwd(q, k, v, q_ranges, k_ranges, attn_type_map?, softmax_scale, softcap, deterministic)
      -> (out, lse)
  ffa_bwd(dout, q, k, v, out, lse, q_ranges, k_ranges, attn_type_map?, scale, softcap,
      deterministic) -> (dq, dk, dv)
  calc_attn(q, k, v, key_id, softmax_scale, softcap) -> (out, lse)
  calc_attn_bwd(dout, q, k, v, out, lse, key_id, softmax_scale, softcap) -> (dq, dk, dv)
  dispatch(x, key_id, pad_value) -> x_local;  undispatch(x_local, key_id) -> x
A key enters a graph as its ``key_id`` (an int; see dist.key.register_key): keep the key alive
while the compiled model runs. The range tensors of flex_flash_attn_func enter as tensors: the
prepared mask is found by their identity, so pass the same tensors on every call (created
outside the compiled function) and the compiled graph converts nothing either.
"""

# NOTE: no `from __future__ import annotations`: torch.library reads these annotations as types.
from typing import Optional, Tuple

import torch

from ._tensor import empty_out

__all__ = ["compiling", "flex_flash_attn", "calc_attn", "dispatch", "undispatch"]

_HAVE_CUSTOM_OPS = hasattr(torch, "library") and hasattr(torch.library, "custom_op")

if _HAVE_CUSTOM_OPS and hasattr(torch, "compiler") and hasattr(torch.compiler, "is_compiling"):
    _is_compiling = torch.compiler.is_compiling
else:
    def _is_compiling() -> bool:
        return False


def compiling() -> bool:
    """Whether torch.compile is tracing the caller (always False without custom ops)."""
    return _HAVE_CUSTOM_OPS and _is_compiling()


def _ffa():
    from .functional import flex_flash_attn

    return flex_flash_attn


def _dist():
    from .functional import dist_attn

    return dist_attn


def _key(key_id: int):
    from .dist.key import key_of_id

    return key_of_id(key_id)


def _lse_like(q):
    return q.new_empty(q.shape[:2], dtype=torch.float32)


def _like(t):
    """A contiguous tensor shaped like t (what the real implementations return)."""
    return t.new_empty(t.shape)


if _HAVE_CUSTOM_OPS:
    Tensor = torch.Tensor

    # ---- flex_flash_attn_func ---------------------------------------------------------------
    @torch.library.custom_op("magi_attention::ffa_fwd", mutates_args=())
    def _ffa_fwd(q: Tensor, k: Tensor, v: Tensor, q_ranges: Tensor, k_ranges: Tensor,
                 attn_type_map: Optional[Tensor], softmax_scale: float, softcap: float,
                 deterministic: bool) -> Tuple[Tensor, Tensor]:
        f = _ffa()
        work = f._work_of(q_ranges, k_ranges, attn_type_map, q.shape[0], k.shape[0])
        return tuple(f._forward(q, k, v, work, softmax_scale, softcap)[3:])

    @_ffa_fwd.register_fake
    def _(q, k, v, q_ranges, k_ranges, attn_type_map, softmax_scale, softcap, deterministic):
        return empty_out(q, v), _lse_like(q)

    @torch.library.custom_op("magi_attention::ffa_bwd", mutates_args=())
    def _ffa_bwd(dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                 q_ranges: Tensor, k_ranges: Tensor, attn_type_map: Optional[Tensor],
                 softmax_scale: float, softcap: float,
                 deterministic: bool) -> Tuple[Tensor, Tensor, Tensor]:
        f = _ffa()
        work = f._work_of(q_ranges, k_ranges, attn_type_map, q.shape[0], k.shape[0])
        return tuple(f._backward(dout, q, k, v, out, lse, work, softmax_scale, softcap,
                                 deterministic))

    @_ffa_bwd.register_fake
    def _(dout, q, k, v, out, lse, q_ranges, k_ranges, attn_type_map, softmax_scale, softcap,
          deterministic):
        return _like(q), _like(k), _like(v)

    def _ffa_setup(ctx, inputs, output):
        q, k, v, q_ranges, k_ranges, attn_type_map, softmax_scale, softcap, deterministic = inputs
        out, lse = output
        ctx.save_for_backward(q, k, v, out, lse, q_ranges, k_ranges, attn_type_map)
        ctx.scores = (softmax_scale, softcap, deterministic)

    def _ffa_backward(ctx, dout, dlse):
        q, k, v, out, lse, q_ranges, k_ranges, attn_type_map = ctx.saved_tensors
        if dout is None:
            dout = torch.zeros_like(out)
        dq, dk, dv = _ffa_bwd(dout, q, k, v, out, lse, q_ranges, k_ranges, attn_type_map,
                              *ctx.scores)
        return dq, dk, dv, None, None, None, None, None, None

    _ffa_fwd.register_autograd(_ffa_backward, setup_context=_ffa_setup)

    # ---- calc_attn --------------------------------------------------------------------------
    @torch.library.custom_op("magi_attention::calc_attn", mutates_args=())
    def _calc_attn(q: Tensor, k: Tensor, v: Tensor, key_id: int, softmax_scale: float,
                   softcap: float) -> Tuple[Tensor, Tensor]:
        return tuple(_dist()._calc_forward(q, k, v, _key(key_id), softmax_scale, softcap)[3:])

    @_calc_attn.register_fake
    def _(q, k, v, key_id, softmax_scale, softcap):
        return empty_out(q, v), _lse_like(q)

    @torch.library.custom_op("magi_attention::calc_attn_bwd", mutates_args=())
    def _calc_attn_bwd(dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                       key_id: int, softmax_scale: float,
                       softcap: float) -> Tuple[Tensor, Tensor, Tensor]:
        return tuple(_dist()._calc_backward(dout, q, k, v, out, lse, _key(key_id),
                                            softmax_scale, softcap))

    @_calc_attn_bwd.register_fake
    def _(dout, q, k, v, out, lse, key_id, softmax_scale, softcap):
        return _like(q), _like(k), _like(v)

    def _calc_setup(ctx, inputs, output):
        q, k, v, key_id, softmax_scale, softcap = inputs
        out, lse = output
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.args = (key_id, softmax_scale, softcap)

    def _calc_backward(ctx, dout, dlse):
        q, k, v, out, lse = ctx.saved_tensors
        if dout is None:
            dout = torch.zeros_like(out)
        dq, dk, dv = _calc_attn_bwd(dout, q, k, v, out, lse, *ctx.args)
        return dq, dk, dv, None, None, None

    _calc_attn.register_autograd(_calc_backward, setup_context=_calc_setup)

    # ---- dispatch / undispatch --------------------------------------------------------------
    @torch.library.custom_op("magi_attention::dispatch", mutates_args=())
    def _dispatch(x: Tensor, key_id: int, pad_value: float) -> Tensor:
        return _dist()._dispatch(_key(key_id), x, pad_value)

    @_dispatch.register_fake
    def _(x, key_id, pad_value):
        return x.new_empty((_key(key_id).shard_seqlen, *x.shape[1:]))

    @torch.library.custom_op("magi_attention::undispatch", mutates_args=())
    def _undispatch(x: Tensor, key_id: int) -> Tensor:
        return _dist()._undispatch(_key(key_id), x)

    @_undispatch.register_fake
    def _(x, key_id):
        return x.new_empty((_key(key_id).total_seqlen_q, *x.shape[1:]))

    def _dispatch_setup(ctx, inputs, output):
        ctx.key_id = inputs[1]

    def _dispatch_backward(ctx, grad):
        return _undispatch(grad, ctx.key_id), None, None

    def _undispatch_setup(ctx, inputs, output):
        ctx.key_id = inputs[1]

    def _undispatch_backward(ctx, grad):
        return _dispatch(grad, ctx.key_id, 0.0), None

    _dispatch.register_autograd(_dispatch_backward, setup_context=_dispatch_setup)
    _undispatch.register_autograd(_undispatch_backward, setup_context=_undispatch_setup)


def flex_flash_attn(q, k, v, q_ranges, k_ranges, attn_type_map, softmax_scale, softcap,
                    deterministic=False):
    """flex_flash_attn_func as the custom op (while compiling)."""
    scale = 0.0 if softmax_scale is None else float(softmax_scale)
    return _ffa_fwd(q, k, v, q_ranges, k_ranges, attn_type_map, scale, float(softcap),
                    bool(deterministic))


def calc_attn(q, k, v, key, softmax_scale: float, softcap: float):
    """calc_attn as the custom op (while compiling)."""
    return _calc_attn(q, k, v, key.key_id, softmax_scale, softcap)


def dispatch(x, key, pad_value: float):
    """dispatch as the custom op (while compiling)."""
    return _dispatch(x, key.key_id, pad_value)


def undispatch(x, key):
    """undispatch as the custom op (while compiling)."""
    return _undispatch(x, key.key_id)
