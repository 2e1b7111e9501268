"""Worker of test_sink.py: dispatch -> calc_attn with a sink -> undispatch, with gradients of x
and of the sink, for the "sh" sink under each MAGI_ATTENTION_DSINK_ALL_REDUCE_OP and for the
"ssh" sink (dispatched from a global [total, num_sink, hq] tensor); and the CUDA worker of
tests/cuda/test_sink.py (calc_attn against flex_flash_attn_func at cp 1 over NCCL)."""

import os
import warnings

import pytest
import torch
import torch.distributed as dist

from magi_attention.api import calc_attn, dispatch, undispatch
from dist_attn_workers import HQ, make_key, qkv_of

NS = 3


def qkv_sink_of(x):
    return qkv_of(x)


def _sink(layout, total):
    g = torch.Generator().manual_seed(5)
    shape = (NS, HQ) if layout == "sh" else (total, NS, HQ)
    sink = (2 * torch.randn(shape, generator=g)).float()
    sink.view(-1)[2] = float("-inf")
    return sink


def _one(key, x_global, layout, op, total):
    if op == "none":
        os.environ.pop("MAGI_ATTENTION_DSINK_ALL_REDUCE_OP", None)
    else:
        os.environ["MAGI_ATTENTION_DSINK_ALL_REDUCE_OP"] = op
    x = x_global.clone().requires_grad_()
    sink = _sink(layout, total).requires_grad_()
    local_sink = sink if layout == "sh" else dispatch(sink, key)
    local = dispatch(x, key)
    out, lse = calc_attn(*qkv_of(local), key, local_sink, sink_layout=layout)
    assert lse.shape == (key.shard_seqlen, HQ)
    total_out = undispatch(out, key)
    g = torch.randn(total_out.shape, generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (total_out.double() * g).sum().backward()
    return dict(out=total_out.detach(), x_grad=x.grad, sink=sink.detach(), sink_grad=sink.grad)


def _validate(key, x_global):
    q, k, v = qkv_of(dispatch(x_global, key))
    with pytest.raises(ValueError, match=r"\[num_sink, 4\]"):
        calc_attn(q, k, v, key, torch.zeros(2, 3))
    with pytest.raises(ValueError, match=rf"\[{key.shard_seqlen}, num_sink, 4\]"):
        calc_attn(q, k, v, key, torch.zeros(7, 2, HQ), sink_layout="ssh")
    with pytest.raises(TypeError, match="float32"):
        calc_attn(q, k, v, key, torch.zeros(2, HQ, dtype=torch.float64))
    os.environ["MAGI_ATTENTION_DSINK_ALL_REDUCE_OP"] = "max"
    sink = torch.zeros(2, HQ, requires_grad=True)
    out, _ = calc_attn(q.clone().requires_grad_(), k, v, key, sink)
    with pytest.raises(ValueError, match="MAGI_ATTENTION_DSINK_ALL_REDUCE_OP = 'max'"):
        out.sum().backward()
    os.environ.pop("MAGI_ATTENTION_DSINK_ALL_REDUCE_OP")
    # The seed's form keeps working next to the sink.
    local_out, _ = calc_attn(q, k, v, key)
    return "ok"


def run_sink(rank, world_size, case, total):
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    group = dist.new_group(list(range(world_size)))
    key = make_key(case, group, total)
    x = torch.randn(total, HQ * 16, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64)
    validated = _validate(key, x) if world_size == 1 else None
    runs = {}
    for layout, op in (("sh", "none"), ("sh", "sum"), ("sh", "avg"), ("ssh", "none")):
        runs[f"{layout}-{op}"] = _one(key, x, layout, op, total)
    return dict(runs=runs, x=x, slices=list(key.slices), validated=validated)


def calc_attn_vs_flex_cuda(rank, world_size, layout):
    """calc_attn with a sink at cp 1 over NCCL (the runtime's sink merge and backward, with the
    sh gradient's scratch from the call's workspace) against flex_flash_attn_func's."""
    from magi_attention import flex_flash_attn_func
    from magi_attention.api import magi_attn_flex_key

    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", rank=rank, world_size=world_size)
    hq, hkv, d = 4, 2, 64
    qr, kr = [[0, 300], [200, 400]], [[0, 300], [100, 400]]
    key = magi_attn_flex_key(qr, kr, ["causal", "full"], 400, 400, num_heads_q=hq,
                             num_heads_kv=hkv, head_dim=d, chunk_size=16,
                             cp_group=dist.group.WORLD)
    g = torch.Generator().manual_seed(3)
    q, k, v, dout = (torch.randn(400, h, d, generator=g).to("cuda", torch.bfloat16)
                     for h in (hq, hkv, hkv, hq))
    shape = (2, hq) if layout == "sh" else (400, 2, hq)
    sink = torch.randn(*shape, generator=g).cuda()
    results = []
    for path in ("flex", "calc_attn"):
        qg, kg, vg, sg = (x.clone().requires_grad_() for x in (q, k, v, sink))
        if path == "flex":
            out, lse = flex_flash_attn_func(qg, kg, vg, torch.tensor(qr, dtype=torch.int32),
                                            torch.tensor(kr, dtype=torch.int32),
                                            torch.tensor([1, 0], dtype=torch.int32), sink=sg,
                                            sink_layout=layout)
        else:
            local_sink = sg if layout == "sh" else dispatch(sg, key)
            lo, llse = calc_attn(dispatch(qg, key), dispatch(kg, key), dispatch(vg, key), key,
                                 local_sink, sink_layout=layout)
            out, lse = undispatch(lo, key), undispatch(llse, key)
        out.backward(dout)
        results.append([t.detach().float().cpu() for t in (out, lse, qg.grad, kg.grad, vg.grad,
                                                            sg.grad)])
    return results
