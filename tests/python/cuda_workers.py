"""Worker of test_cuda.py: the distributed pipeline over NCCL, one GPU per rank (exercises the
communicator's CUDA buffers and the stream hand-off)."""

import torch
import torch.distributed as dist

from dist_attn_workers import qkv_of

HQ, HKV, D = 4, 2, 64  # head_dim the CUDA kernels support
from magi_attention.api import (DistAttnConfig, OverlapConfig, calc_attn, dispatch,
                                magi_attn_flex_key, undispatch)


def run(rank, world_size, dtype_name, total, degree=None, d=D, dv=None):
    """``degree``: the overlap degree (None: the default config); ``d``, ``dv``: q / k's and v's
    head dims (None: d)."""
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", rank=rank, world_size=world_size)
    group = dist.new_group(list(range(world_size)), backend="nccl")
    q = [[0, 40], [20, 60], [10, 90], [60, total]]
    k = [[0, 40], [50, 100], [0, 30], [40, total]]
    types = ["causal", "full", "bi_causal", "inv_causal"]
    cfg = None if degree is None else DistAttnConfig(
        overlap_config=OverlapConfig(degree=degree, min_chunk_size=4))
    key = magi_attn_flex_key(q, k, types, total, total, head_dim=d, chunk_size=8, cp_group=group,
                             dist_attn_config=cfg)
    x = torch.randn(total, HQ * d, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64).to("cuda", getattr(torch, dtype_name)).requires_grad_()
    out, _ = calc_attn(*qkv_of(dispatch(x, key), HQ, HKV, d, dv), key)
    total_out = undispatch(out, key)
    g = torch.randn(total_out.shape, generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64)
    (total_out.double() * g.cuda()).sum().backward()
    return dict(out=total_out.detach().cpu(), x_grad=x.grad.cpu(), x=x.detach().cpu(),
                slices=list(key.slices))


def key_agreement(rank, world_size):
    """Ranks on NCCL (one GPU each) make an agreeing key, run the pipeline, then disagree on
    the mask: the key check's fingerprint travels through the GPU (host buffers staged)."""
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", rank=rank, world_size=world_size)
    total = 64
    key = magi_attn_flex_key([[0, total]], [[0, total]], "causal", total, total, head_dim=D,
                             chunk_size=8, cp_group=dist.group.WORLD)
    x = torch.randn(total, HQ * D, generator=torch.Generator().manual_seed(0)).to(
        "cuda", torch.bfloat16)
    out, _ = calc_attn(*qkv_of(dispatch(x, key), HQ, HKV, D), key)
    finite = bool(torch.isfinite(undispatch(out, key)).all())
    q = [[0, total]] if rank == 0 else [[0, 32], [32, total]]
    try:
        magi_attn_flex_key(q, q, "causal", total, total, head_dim=D, chunk_size=8,
                           cp_group=dist.group.WORLD)
        error = ""
    except Exception as e:  # noqa: BLE001 - reported to the test
        error = str(e)
    return dict(finite=finite, error=error)


def cross(rank, world_size, mask_name, uneven):
    """Cross-attention (is_same_source=False) over NCCL in bf16: q and k/v of different lengths,
    each dispatched on its own (cross_attn_workers.MASKS), calc_attn and undispatch with
    gradients; the global results on the CPU."""
    from cross_attn_workers import MASKS
    from magi_attention.api import AttnRole, DispatchConfig

    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", rank=rank, world_size=world_size)
    group = dist.new_group(list(range(world_size)), backend="nccl")
    total_q, total_k, q_ranges, k_ranges, types = MASKS[mask_name]
    cfg = DistAttnConfig(dispatch_config=DispatchConfig(uneven_shard=uneven),
                         overlap_config=OverlapConfig(degree=1, min_chunk_size=4))
    key = magi_attn_flex_key(q_ranges, k_ranges, types, total_q, total_k, num_heads_q=HQ,
                             num_heads_kv=HKV, head_dim=D, chunk_size=4, cp_group=group,
                             dist_attn_config=cfg, is_same_source=False)
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(n, h, D, generator=gen, dtype=torch.float64)
               .to("cuda", torch.bfloat16).requires_grad_()
               for n, h in ((total_q, HQ), (total_k, HKV), (total_k, HKV)))
    out, _ = calc_attn(dispatch(q, key), dispatch(k, key, attn_role=AttnRole.KEY),
                       dispatch(v, key, attn_role=AttnRole.VALUE), key)
    total_out = undispatch(out, key)
    g = torch.randn(total_out.shape, generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64)
    (total_out.double() * g.cuda()).sum().backward()
    cpu = lambda t: t.detach().cpu()  # noqa: E731
    return dict(out=cpu(total_out), dq=cpu(q.grad), dk=cpu(k.grad), dv=cpu(v.grad), q=cpu(q),
                k=cpu(k), v=cpu(v), g=g, slices=list(key.slices), total=(total_q, total_k))


def new_mask_roll(rank, world_size):
    """Three layers with different masks on one dispatch (new-mask keys) and roll, over NCCL in
    bf16 (new_mask_workers' masks); the global results on the CPU. roll is checked here
    (exact: it moves rows)."""
    from magi_attention.api import (magi_attn_varlen_key,
                                    make_flex_key_for_new_mask_after_dispatch,
                                    make_varlen_key_for_new_mask_after_dispatch, roll)
    from new_mask_workers import CU, FLEX, TOTAL

    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", rank=rank, world_size=world_size)
    group = dist.new_group(list(range(world_size)), backend="nccl")
    key1 = magi_attn_varlen_key(CU, CU, head_dim=D, chunk_size=8, cp_group=group, causal=True)
    key2 = make_flex_key_for_new_mask_after_dispatch(*FLEX, key1)
    key3 = make_varlen_key_for_new_mask_after_dispatch([0, 50, TOTAL], [0, 50, TOTAL], key1,
                                                       window_size=(7, 3))
    x = torch.randn(TOTAL, HQ * D, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64).to("cuda", torch.bfloat16).requires_grad_()
    local = dispatch(x, key1)
    out = sum(calc_attn(*qkv_of(local, HQ, HKV, D), k)[0] for k in (key1, key2, key3))
    total_out = undispatch(out, key2)
    g = torch.randn(total_out.shape, generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64)
    (total_out.double() * g.cuda()).sum().backward()
    pos = torch.tensor(key1.runtime.position_ids(), device="cuda")
    padded = torch.cat([x.detach(), x.new_zeros(key1.pad_size, HQ * D)])
    for shift in (1, -7, 250):
        assert torch.equal(roll(local.detach(), shift, 0, key1), torch.roll(padded, shift, 0)[pos])
    return dict(out=total_out.detach().cpu(), x_grad=x.grad.cpu(), x=x.detach().cpu(),
                slices=[list(key1.slices), list(key2.slices), list(key3.slices)])


def max_logits(rank, world_size, softcap):
    """calc_attn(..., return_max_logits=True) on CUDA tensors over NCCL: each rank's max_logits
    (the maximum over every stage and rank) and the inputs for the dense reference."""
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", rank=rank, world_size=world_size)
    group = dist.new_group(list(range(world_size)), backend="nccl")
    total = 100
    q = [[0, 40], [20, 60], [10, 90], [60, total]]
    k = [[0, 40], [50, 100], [0, 30], [40, total]]
    key = magi_attn_flex_key(q, k, ["causal", "full", "bi_causal", "inv_causal"], total, total,
                             head_dim=D, chunk_size=8, cp_group=group)
    x = torch.randn(total, HQ * D, generator=torch.Generator().manual_seed(2),
                    dtype=torch.float64).to("cuda", torch.bfloat16)
    out, meta = calc_attn(*qkv_of(dispatch(x, key), HQ, HKV, D), key, softcap=softcap,
                          return_max_logits=True)
    plain, _ = calc_attn(*qkv_of(dispatch(x, key), HQ, HKV, D), key, softcap=softcap)
    return dict(max_logits=meta.max_logits.cpu(), x=x.cpu(), slices=list(key.slices),
                out=out.float().cpu(), plain=plain.float().cpu(), total=total)
