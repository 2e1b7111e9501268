"""The baselines of bench_dist.py, built from magi's local FFA kernels on each rank:

- Ulysses: all-to-all from sequence shards to head shards (kv heads replicated when there are
  fewer than ranks), full-sequence attention on Hq / cp heads, all-to-all back.
- Ring attention: K/V travel the ring by P2P (the next block's transfer posted before the
  current block's kernel); partial results merged exactly by log-sum-exp in fp32; backward
  passes K/V and their fp32 dK/dV accumulators around the ring, then one hop home.
- All-gather: K/V gathered from every rank, each rank's rows against all of them; backward
  reduce-scatters dK/dV.

Ring and all-gather use a zigzag layout (2 cp blocks; rank r holds blocks r and 2cp-1-r) for
masks with a diagonal, contiguous blocks otherwise. The baselines assume slices that share no
cell (true for every mask of dist_masks.make_mask); magi itself takes any slices.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from dist_masks import clip, shift
from magi_attention.functional import flex_flash_attn_func
# NOTE: the low-level kernels (fp32 partial outputs, backward with the final out and lse) are
# what ring attention needs; _get_slices builds their slice objects from range tensors.
from magi_attention.functional.flex_flash_attn import _get_slices, ffa_backward, ffa_forward

TYPE_CODES = {"full": 0, "causal": 1, "inv_causal": 2, "bi_causal": 3}


# ---- layouts and masks -------------------------------------------------------------------
def layout_blocks(layout: str, total: int, cp: int, rank: int) -> list:
    """Global row blocks (start, end) a rank holds, in local order."""
    if layout == "zigzag":
        n = 2 * cp
        return [(b * total // n, (b + 1) * total // n) for b in (rank, n - 1 - rank)]
    return [(rank * total // cp, (rank + 1) * total // cp)]


def local_slices(slices, q_blocks, k_blocks) -> list:
    """The mask's cells in q_blocks x k_blocks, moved to the buffers that store those blocks
    back to back (q local rows, k local rows)."""
    out, q_off = [], 0
    for q0, q1 in q_blocks:
        k_off = 0
        for k0, k1 in k_blocks:
            for s in slices:
                for piece in clip(s, (q0, q1), (k0, k1)):
                    out.append(shift(piece, q_off - q0, k_off - k0))
            k_off += k1 - k0
        q_off += q1 - q0
    return out


def range_tensors(slices):
    """(q_ranges, k_ranges, attn_type_map) int32 CPU tensors of a slice list."""
    q = torch.tensor([[s[0], s[1]] for s in slices], dtype=torch.int32).reshape(-1, 2)
    k = torch.tensor([[s[2], s[3]] for s in slices], dtype=torch.int32).reshape(-1, 2)
    t = torch.tensor([TYPE_CODES[s[4]] for s in slices], dtype=torch.int32)
    return q, k, t


def kernel_slices(slices):
    """The slice object the low-level kernels take, or None for an empty list."""
    return _get_slices(*range_tensors(slices)) if slices else None


# ---- collectives with autograd -------------------------------------------------------------
def _wire(x):
    """What a collective moves: the tensor itself on CUDA; on CPU its bytes (gloo has no
    bfloat16), as magi's own communicator does. A view: receiving into it fills x."""
    return x if x.is_cuda else x.view(torch.uint8)


class _AllToAll(torch.autograd.Function):
    """Equal-split all-to-all over dim 0 ([cp, ...] -> [cp, ...]); its own inverse."""

    @staticmethod
    def forward(ctx, x):
        # NOTE: empty_like would keep a transposed input's strides; the collective writes
        # contiguous memory.
        out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        dist.all_to_all_single(_wire(out), _wire(x.contiguous()))
        return out

    @staticmethod
    def backward(ctx, g):
        out = torch.empty(g.shape, dtype=g.dtype, device=g.device)
        dist.all_to_all_single(_wire(out), _wire(g.contiguous()))
        return out


def seq_to_heads(x, cp):
    """[s, H, D] sequence shard -> [cp * s, H / cp, D] head shard over the whole sequence."""
    s, h, d = x.shape
    y = x.reshape(s, cp, h // cp, d).transpose(0, 1)
    return _AllToAll.apply(y).reshape(cp * s, h // cp, d)


def heads_to_seq(y, cp):
    """The inverse of seq_to_heads."""
    total, h, d = y.shape
    x = _AllToAll.apply(y.reshape(cp, total // cp, h, d))
    return x.transpose(0, 1).reshape(total // cp, cp * h, d)


class _AllGatherRows(torch.autograd.Function):
    """[s, ...] per rank -> [cp * s, ...] in rank order; backward: reduce-scatter (sum)."""

    @staticmethod
    def forward(ctx, x):
        cp = dist.get_world_size()
        out = torch.empty((cp * x.shape[0], *x.shape[1:]), dtype=x.dtype, device=x.device)
        if x.is_cuda:
            dist.all_gather_into_tensor(out, x.contiguous())
        else:  # gloo: no all_gather_into_tensor
            dist.all_gather([_wire(c) for c in out.chunk(cp)], _wire(x.contiguous()))
        return out

    @staticmethod
    def backward(ctx, g):
        cp, rank = dist.get_world_size(), dist.get_rank()
        g = g.contiguous()
        if g.is_cuda:
            out = torch.empty((g.shape[0] // cp, *g.shape[1:]), dtype=g.dtype, device=g.device)
            dist.reduce_scatter_tensor(out, g)
            return out
        # gloo: no reduce-scatter (nor bfloat16); the sum of all in fp32, then this rank's rows.
        acc = g.float() if g.dtype in (torch.bfloat16, torch.float16) else g
        dist.all_reduce(acc)
        return acc.chunk(cp)[rank].to(g.dtype)


def _exchange(send, recv, to, frm):
    """Posts send -> rank `to` and recv <- rank `frm`; returns the requests."""
    if send.is_cuda:
        ops = [dist.P2POp(dist.isend, send, to), dist.P2POp(dist.irecv, recv, frm)]
        return dist.batch_isend_irecv(ops)
    return [dist.isend(_wire(send), to), dist.irecv(_wire(recv), frm)]


def merge_(out, lse, o_i, l_i):
    """out, lse (fp32 accumulators) <- exact log-sum-exp merge with the partial (o_i, l_i);
    rows with no cell on either side stay (0, -inf), never NaN."""
    m = torch.maximum(lse, l_i)
    ref = torch.where(torch.isneginf(m), torch.zeros_like(m), m)
    w1, w2 = torch.exp(lse - ref), torch.exp(l_i - ref)
    s = w1 + w2
    pos = s > 0
    new_lse = torch.where(pos, ref + torch.log(torch.where(pos, s, torch.ones_like(s))),
                          torch.full_like(s, float("-inf")))
    safe = torch.where(pos, s, torch.ones_like(s))
    out.mul_((w1 / safe).unsqueeze(-1)).add_(o_i * (w2 / safe).unsqueeze(-1))
    lse.copy_(new_lse)


# ---- the methods ---------------------------------------------------------------------------
def ulysses_supported(hq: int, hkv: int, cp: int) -> str | None:
    """None, or why Ulysses cannot run this head layout."""
    if hq % cp:
        return f"needs cp | heads_q (heads_q = {hq}, cp = {cp})"
    if hkv % cp and cp % hkv:
        return f"needs cp | heads_kv or heads_kv | cp (heads_kv = {hkv}, cp = {cp})"
    return None


def ulysses_attn(q, k, v, ranges, scale):
    """q [s, Hq, D], k/v [s, Hkv, D] (contiguous shards, rank order) -> out [s, Hq, D]."""
    cp = dist.get_world_size()
    hkv = k.shape[1]
    if hkv % cp:  # fewer kv heads than ranks: each kv head serves cp / hkv ranks
        k = k.repeat_interleave(cp // hkv, dim=1)
        v = v.repeat_interleave(cp // hkv, dim=1)
    qh, kh, vh = seq_to_heads(q, cp), seq_to_heads(k, cp), seq_to_heads(v, cp)
    out, _ = flex_flash_attn_func(qh, kh, vh, *ranges, softmax_scale=scale)
    return heads_to_seq(out, cp)


class RingAttn(torch.autograd.Function):
    """Ring attention over steps[i] = kernel slices of (my rows) x (rows of rank r - i)."""

    @staticmethod
    def forward(ctx, q, k, v, steps, scale):
        cp, rank = dist.get_world_size(), dist.get_rank()
        to, frm = (rank + 1) % cp, (rank - 1) % cp
        kv = torch.stack([k, v])  # [2, s, Hkv, D]: kv[0], kv[1] are contiguous
        out = torch.zeros(q.shape, dtype=torch.float32, device=q.device)
        lse = torch.full(q.shape[:2], float("-inf"), dtype=torch.float32, device=q.device)
        o_i, l_i = torch.empty_like(out), torch.empty_like(lse)
        for i in range(cp):
            reqs, nxt = [], None
            if i + 1 < cp:
                nxt = torch.empty_like(kv)
                reqs = _exchange(kv, nxt, to, frm)
            if steps[i] is not None:
                ffa_forward(q, kv[0], kv[1], steps[i], scale, 0.0, out=o_i, lse=l_i)
                merge_(out, lse, o_i, l_i)
            for r in reqs:
                r.wait()
            if nxt is not None:
                kv = nxt
        out = out.to(q.dtype)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.steps, ctx.scale = steps, scale
        return out

    @staticmethod
    def backward(ctx, dout):
        q, k, v, out, lse = ctx.saved_tensors
        cp, rank = dist.get_world_size(), dist.get_rank()
        to, frm = (rank + 1) % cp, (rank - 1) % cp
        dout = dout.contiguous()
        acc = torch.float64 if q.dtype == torch.float64 else torch.float32
        dq = torch.zeros(q.shape, dtype=acc, device=q.device)
        kv = torch.stack([k, v])
        dkv = torch.zeros(kv.shape, dtype=acc, device=q.device)  # for the block held now
        for i in range(cp):
            reqs, nxt = [], None
            if i + 1 < cp:
                nxt = torch.empty_like(kv)
                reqs = _exchange(kv, nxt, to, frm)
            if ctx.steps[i] is not None:
                ffa_backward(dout, q, kv[0], kv[1], out, lse, ctx.steps[i], ctx.scale, 0.0,
                             dq=dq, dk=dkv[0], dv=dkv[1])
            for r in reqs:
                r.wait()
            if nxt is not None:
                kv = nxt
            # The accumulator follows its block; after the last step it goes home.
            if cp > 1:
                recv = torch.empty_like(dkv)
                for r in _exchange(dkv, recv, to, frm):
                    r.wait()
                dkv = recv
        return dq.to(q.dtype), dkv[0].to(k.dtype), dkv[1].to(v.dtype), None, None


def ring_steps(slices, layout, total, cp, rank):
    """Kernel slices of each ring step for `rank` (None where a step has no cell)."""
    mine = layout_blocks(layout, total, cp, rank)
    steps = []
    for i in range(cp):
        src = (rank - i) % cp
        steps.append(kernel_slices(local_slices(slices, mine, layout_blocks(layout, total, cp,
                                                                              src))))
    return steps


def all_gather_ranges(slices, layout, total, cp, rank):
    """Range tensors of (my rows) x (every rank's rows, gathered in rank order)."""
    mine = layout_blocks(layout, total, cp, rank)
    cols = [b for r in range(cp) for b in layout_blocks(layout, total, cp, r)]
    return range_tensors(local_slices(slices, mine, cols))


def all_gather_attn(q, k, v, ranges, scale):
    """q [s, Hq, D] (this rank's rows), k/v [s, Hkv, D] -> out [s, Hq, D]."""
    kg, vg = _AllGatherRows.apply(k), _AllGatherRows.apply(v)
    out, _ = flex_flash_attn_func(q, kg, vg, *ranges, softmax_scale=scale)
    return out
