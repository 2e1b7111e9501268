"""Dense reference of FFA in any torch dtype (explicit formulas, no autograd), for the GPU tests.

Semantics (DESIGN.md section 2): the mask is the union of the slices' cells; rows without a
cell have out = 0, lse = -inf and no gradient.
"""
import torch

FULL, CAUSAL, INV_CAUSAL, BI_CAUSAL = 0, 1, 2, 3


def dense_mask(slices, sq, sk, device):
    """Boolean [sq, sk] union of (qs, qe, ks, ke, type) slices, from the definition."""
    m = torch.zeros(sq, sk, dtype=torch.bool, device=device)
    for qs, qe, ks, ke, t in slices:
        if qe <= qs or ke <= ks:
            continue
        i = torch.arange(qe - qs, device=device)[:, None]
        j = torch.arange(ke - ks, device=device)[None, :]
        on = torch.ones(qe - qs, ke - ks, dtype=torch.bool, device=device)
        if t in (CAUSAL, BI_CAUSAL):
            on &= j <= i + ((ke - ks) - (qe - qs))
        if t in (INV_CAUSAL, BI_CAUSAL):
            on &= j >= i
        m[qs:qe, ks:ke] |= on
    return m


def attention_ref(q, k, v, dout, mask, scale, softcap=0.0, dtype=torch.float64):
    """out, lse, dq, dk, dv, all computed in `dtype` (lse in max(dtype, fp32))."""
    hq, hkv = q.shape[1], k.shape[1]
    g = hq // hkv
    qd, kd, vd, dod = (x.to(dtype) for x in (q, k, v, dout))
    kd = kd.repeat_interleave(g, dim=1)
    vd = vd.repeat_interleave(g, dim=1)
    # [H, Sq, Sk]
    raw = torch.einsum("qhd,khd->hqk", qd, kd)
    if softcap > 0:
        th = torch.tanh(raw * (scale / softcap))
        s = th * softcap
    else:
        s = raw * scale
    lse_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    s_m = s.masked_fill(~mask[None], float("-inf"))
    lse = torch.logsumexp(s_m.to(lse_dtype), dim=-1)  # [H, Sq]
    lse_safe = torch.where(torch.isfinite(lse), lse, torch.zeros_like(lse))
    p = torch.exp((s_m.to(lse_dtype) - lse_safe[..., None])).to(dtype)
    p = torch.where(mask[None], p, torch.zeros_like(p))
    out = torch.einsum("hqk,khd->qhd", p, vd)
    dp = torch.einsum("qhd,khd->hqk", dod, vd)
    dsum = (dod * out).sum(-1).transpose(0, 1)  # [H, Sq]
    ds = p * (dp - dsum[..., None])
    if softcap > 0:
        ds = ds * (1 - th * th)
    dq = torch.einsum("hqk,khd->qhd", ds, kd) * scale
    dk = torch.einsum("hqk,qhd->khd", ds, qd) * scale
    dv = torch.einsum("hqk,qhd->khd", p, dod)
    sk = k.shape[0]
    dk = dk.reshape(sk, hkv, g, -1).sum(2)
    dv = dv.reshape(sk, hkv, g, -1).sum(2)
    return out, lse.transpose(0, 1).contiguous(), dq, dk, dv
