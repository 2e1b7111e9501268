"""Workers of test_graphs.py: forward + backward captured into a CUDA graph and replayed on new
data, against eager calls on the same data. The prepared mask (or key) exists before capture
(warm-up on a side stream, as torch's graph documentation asks), so a captured call uploads,
allocates outside torch's graph pool, and synchronises nothing."""

import torch
import torch.distributed as dist

HQ, HKV, D = 4, 2, 64


def _capture_and_replay(step, inputs, fill):
    """step(*inputs) -> dict of tensors (reading .grad of the inputs); captured once, then
    replayed for two fresh fillings of the inputs, each compared against eager."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):  # warm-up: prepares the mask / key on this device
            for t in inputs:
                t.grad = None
            step(*inputs)
    torch.cuda.current_stream().wait_stream(s)
    for t in inputs:
        t.grad = None
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static = step(*inputs)
    errors = []
    for seed in (1, 2):
        fill(seed)
        graph.replay()
        torch.cuda.synchronize()
        replayed = {k: v.detach().clone() for k, v in static.items()}
        for t in inputs:
            t.grad = None
        eager = step(*inputs)
        torch.cuda.synchronize()
        for name, ref in eager.items():
            got = replayed[name].double()
            err = ((got - ref.double()).norm() / ref.double().norm()).item()
            errors.append((seed, name, err))
    return errors


def _tensors(rows):
    """q, k, v (requiring grad) and dout, bf16 on the GPU, filled later."""
    def make(heads, grad):
        return torch.empty(rows, heads, D, device="cuda", dtype=torch.bfloat16,
                           requires_grad=grad)
    return make(HQ, True), make(HKV, True), make(HKV, True), make(HQ, False)


def flex(rank, world_size):
    from magi_attention import flex_flash_attn_func

    torch.cuda.set_device(rank)
    S = 300
    ranges = torch.tensor([[0, 100], [100, 220], [220, S]], dtype=torch.int32, device="cuda")
    types = torch.tensor([1, 0, 1], dtype=torch.int32, device="cuda")
    q, k, v, dout = _tensors(S)

    def fill(seed):
        g = torch.Generator(device="cuda").manual_seed(seed)
        with torch.no_grad():
            for t in (q, k, v, dout):
                t.copy_(torch.randn(t.shape, generator=g, device="cuda"))

    fill(0)

    def step(q, k, v):
        out, lse = flex_flash_attn_func(q, k, v, ranges, ranges, types)
        out.backward(dout)
        return dict(out=out, lse=lse, dq=q.grad, dk=k.grad, dv=v.grad)

    return _capture_and_replay(step, (q, k, v), fill)


def calc_attn(rank, world_size):
    from magi_attention.api import calc_attn, dispatch, magi_attn_varlen_key

    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", rank=rank, world_size=world_size)
    S = 256
    cu = [0, 100, 180, S]
    key = magi_attn_varlen_key(cu, cu, num_heads_q=HQ, num_heads_kv=HKV, head_dim=D,
                               causal=True, chunk_size=32, cp_group=dist.group.WORLD)
    shard = key.shard_seqlen
    q, k, v, dout = _tensors(shard)

    def fill(seed):
        g = torch.Generator(device="cuda").manual_seed(seed)
        with torch.no_grad():
            for t, h in ((q, HQ), (k, HKV), (v, HKV), (dout, HQ)):
                x = torch.randn(S, h * D, generator=g, device="cuda", dtype=torch.bfloat16)
                t.copy_(dispatch(x, key).view(shard, h, D))

    fill(0)

    def step(q, k, v):
        out, lse = calc_attn(q, k, v, key)
        out.backward(dout)
        return dict(out=out, lse=lse, dq=q.grad, dk=k.grad, dv=v.grad)

    return _capture_and_replay(step, (q, k, v), fill)
