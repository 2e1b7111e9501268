"""Merging partial attention results by log-sum-exp, under the original's names
(``magi_attention.functional.utils``): for users who combine FFA calls over disjoint key sets
themselves (ring-style loops, extra keys, attention sinks).

Shapes: ``out [seqlen_q, num_heads_q, head_dim]``, ``lse [seqlen_q, num_heads_q]`` (natural
log; -inf for a row with no weight). Sinks: ``"sh"`` ``[num_sink, num_heads_q]`` or ``"ssh"``
``[seqlen_q, num_sink, num_heads_q]`` logits, not scaled by softmax_scale. The sums run in
float32 (float64 for float64 inputs); a row whose lse are all -inf stays ``out = 0``,
``lse = -inf``; a NaN propagates. Differentiable (plain torch operations).
"""

from __future__ import annotations

import torch

__all__ = [
    "correct_attn_lse", "correct_attn_out", "correct_attn_out_lse", "correct_attn_lse_with_sink",
    "correct_attn_out_with_sink", "correct_attn_out_lse_with_sink",
]


def _acc(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.float64 if t.dtype == torch.float64 else torch.float32)


def _check(name: str, t, ndim: int) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    if t.dim() != ndim:
        raise ValueError(f"{name}: expected {ndim} dims, got shape {list(t.shape)}")


def _merged_lse(lse1: torch.Tensor, lse2: torch.Tensor) -> torch.Tensor:
    """log(exp(lse1) + exp(lse2)) in the accumulation dtype; -inf when both are -inf."""
    a, b = _acc(lse1), _acc(lse2)
    hi, lo = torch.maximum(a, b), torch.minimum(a, b)
    # NOTE: (-inf) - (-inf) is NaN; a row with no weight on either side stays -inf.
    gap = torch.where(torch.isneginf(hi), torch.full_like(lo, float("-inf")), lo - hi)
    return hi + torch.nn.functional.softplus(gap)


def _weight(lse_part: torch.Tensor, lse: torch.Tensor) -> torch.Tensor:
    """exp(lse_part - lse) as [seqlen_q, heads, 1]; 0 where both are -inf."""
    a, b = _acc(lse_part), _acc(lse)
    diff = torch.where(torch.isneginf(a) & torch.isneginf(b), torch.full_like(a, float("-inf")),
                       a - b)
    return diff.exp().unsqueeze(-1)


def _safe_logsumexp(x: torch.Tensor, dim: int, keepdim: bool = False) -> torch.Tensor:
    """torch.logsumexp, but -inf with a zero gradient (not NaN) where every logit is -inf (a
    head without sinks)."""
    none = torch.isneginf(x).all(dim=dim, keepdim=True)
    lse = torch.logsumexp(torch.where(none, torch.zeros_like(x), x), dim=dim, keepdim=True)
    lse = torch.where(none, torch.full_like(lse, float("-inf")), lse)
    return lse if keepdim else lse.squeeze(dim)


def _sink_lse(sink: torch.Tensor, seqlen_q: int, sink_layout: str) -> torch.Tensor:
    """logsumexp of the sinks per (row, head): [seqlen_q, num_heads_q]."""
    if not isinstance(sink, torch.Tensor):
        raise TypeError(f"sink: expected a torch.Tensor, got {type(sink).__name__}")
    if sink_layout == "sh":
        _check("sink", sink, 2)
        return _safe_logsumexp(_acc(sink), dim=0, keepdim=True).expand(seqlen_q, -1)
    if sink_layout == "ssh":
        _check("sink", sink, 3)
        if sink.shape[0] != seqlen_q:
            raise ValueError(f"sink: {sink.shape[0]} rows for {seqlen_q} query rows (layout ssh)")
        return _safe_logsumexp(_acc(sink), dim=1)
    raise ValueError(f"sink_layout = {sink_layout!r}: expected 'sh' or 'ssh'")


def correct_attn_lse(lse1: torch.Tensor, lse2: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """The lse of two partial results over disjoint keys: ``log(exp(lse1) + exp(lse2))``, in
    ``lse1``'s dtype (written into ``lse1`` when ``inplace``)."""
    _check("lse1", lse1, 2)
    _check("lse2", lse2, 2)
    lse = _merged_lse(lse1, lse2)
    return lse1.copy_(lse) if inplace else lse.to(lse1.dtype)


def correct_attn_out(out1: torch.Tensor, lse1: torch.Tensor, out2: torch.Tensor,
                     lse2: torch.Tensor, lse: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """The output of two partial results, given the merged ``lse``:
    ``exp(lse1 - lse) * out1 + exp(lse2 - lse) * out2``, in ``out1``'s dtype (written into
    ``out1`` when ``inplace``)."""
    for name, t, n in (("out1", out1, 3), ("out2", out2, 3), ("lse1", lse1, 2), ("lse2", lse2, 2),
                       ("lse", lse, 2)):
        _check(name, t, n)
    out = _weight(lse1, lse) * _acc(out1) + _weight(lse2, lse) * _acc(out2)
    return out1.copy_(out) if inplace else out.to(out1.dtype)


def correct_attn_out_lse(out1: torch.Tensor, lse1: torch.Tensor, out2: torch.Tensor,
                         lse2: torch.Tensor, inplace: bool = False):
    """Both at once: ``(out, lse)`` of two partial results (into ``out1`` and ``lse1`` when
    ``inplace``)."""
    _check("lse1", lse1, 2)
    _check("lse2", lse2, 2)
    lse = _merged_lse(lse1, lse2)
    out = correct_attn_out(out1, lse1, out2, lse2, lse, inplace=inplace)
    return out, (lse1.copy_(lse) if inplace else lse.to(lse1.dtype))


def correct_attn_lse_with_sink(lse: torch.Tensor, sink: torch.Tensor, sink_layout: str = "sh",
                               inplace: bool = False) -> torch.Tensor:
    """``lse`` with the sinks' weight added: ``log(exp(lse) + sum exp(sink))``."""
    _check("lse", lse, 2)
    merged = _merged_lse(lse, _sink_lse(sink, lse.shape[0], sink_layout))
    return lse.copy_(merged) if inplace else merged.to(lse.dtype)


def correct_attn_out_with_sink(out: torch.Tensor, lse: torch.Tensor, sink: torch.Tensor,
                               sink_layout: str = "sh", inplace: bool = False) -> torch.Tensor:
    """``out`` (given its lse without the sinks) rescaled for the sinks' share of the softmax:
    ``out * exp(lse - lse_with_sinks)``."""
    _check("out", out, 3)
    _check("lse", lse, 2)
    merged = _merged_lse(lse, _sink_lse(sink, lse.shape[0], sink_layout))
    res = _weight(lse, merged) * _acc(out)
    return out.copy_(res) if inplace else res.to(out.dtype)


def correct_attn_out_lse_with_sink(out: torch.Tensor, lse: torch.Tensor, sink: torch.Tensor,
                                   sink_layout: str = "sh", inplace: bool = False):
    """Both at once: ``(out, lse)`` with the sinks merged in."""
    _check("out", out, 3)
    _check("lse", lse, 2)
    merged = _merged_lse(lse, _sink_lse(sink, lse.shape[0], sink_layout))
    res = _weight(lse, merged) * _acc(out)
    if inplace:
        return out.copy_(res), lse.copy_(merged)
    return res.to(out.dtype), merged.to(lse.dtype)
