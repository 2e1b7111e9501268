"""Dense torch references: the mask of a slice list (union of cells) and attention over it."""

from __future__ import annotations

import torch


def dense_mask(slices, total_q: int, total_k: int) -> torch.Tensor:
    """bool [total_q, total_k]: the union of the slices' cells (DESIGN.md §2 semantics)."""
    mask = torch.zeros(total_q, total_k, dtype=torch.bool)
    for qs, qe, ks, ke, t in slices:
        if qe <= qs or ke <= ks:
            continue
        i = torch.arange(qe - qs).unsqueeze(1)
        j = torch.arange(ke - ks).unsqueeze(0)
        cell = torch.ones(qe - qs, ke - ks, dtype=torch.bool)
        if t in (1, 3):  # causal, bottom-right aligned
            cell &= j <= i + ((ke - ks) - (qe - qs))
        if t in (2, 3):  # inv_causal, top-left aligned
            cell &= j >= i
        mask[qs:qe, ks:ke] |= cell
    return mask


def attention(q, k, v, mask, softmax_scale=None, softcap=0.0):
    """(out [Sq, Hq, D], lse [Sq, Hq]) in q's dtype; rows without cells: out 0, lse -inf."""
    hq, hkv, d = q.shape[1], k.shape[1], q.shape[2]
    scale = d ** -0.5 if softmax_scale is None else softmax_scale
    k = k.repeat_interleave(hq // hkv, dim=1)
    v = v.repeat_interleave(hq // hkv, dim=1)
    s = torch.einsum("qhd,khd->hqk", q, k) * scale
    if softcap > 0:
        s = softcap * torch.tanh(s / softcap)
    s = s.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(s, dim=-1)  # [h, q]
    p = torch.exp(s - lse.unsqueeze(-1).masked_fill(torch.isinf(lse).unsqueeze(-1), 0.0))
    p = p.masked_fill(~mask, 0.0)
    out = torch.einsum("hqk,khd->qhd", p, v)
    return out, lse.transpose(0, 1)


def rel_err(x: torch.Tensor, ref: torch.Tensor) -> float:
    """||x - ref|| / ||ref|| in float64 (inf entries must match exactly)."""
    x, ref = x.double(), ref.double()
    finite = torch.isfinite(ref)
    assert torch.equal(finite, torch.isfinite(x)), "non-finite entries differ"
    num = (x[finite] - ref[finite]).norm()
    den = ref[finite].norm()
    return float(num / den) if den > 0 else float(num)


def attention_with_sink(q, k, v, mask, sink, sink_layout="sh", softmax_scale=None):
    """(out, lse) with attention-sink logits as extra softmax columns whose value is 0:
    ``sink`` ``[num_sink, hq]`` ("sh") or ``[sq, num_sink, hq]`` ("ssh"), not scaled.
    Differentiable in every input (sink included) through torch's autograd."""
    hq, hkv, d = q.shape[1], k.shape[1], q.shape[2]
    scale = d ** -0.5 if softmax_scale is None else softmax_scale
    k = k.repeat_interleave(hq // hkv, dim=1)
    v = v.repeat_interleave(hq // hkv, dim=1)
    s = torch.einsum("qhd,khd->hqk", q, k) * scale
    s = s.masked_fill(~mask, float("-inf"))
    sink = sink.to(s.dtype)
    if sink_layout == "sh":
        extra = sink.t().unsqueeze(1).expand(hq, q.shape[0], sink.shape[0])
    else:
        extra = sink.permute(2, 0, 1)
    logits = torch.cat([s, extra], dim=-1)
    lse = torch.logsumexp(logits, dim=-1)  # [h, q]
    p = torch.exp(logits - lse.unsqueeze(-1).masked_fill(torch.isinf(lse).unsqueeze(-1), 0.0))
    out = torch.einsum("hqk,khd->qhd", p[..., : k.shape[0]], v)
    return out, lse.transpose(0, 1)
