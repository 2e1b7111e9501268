"""Workers of test_compile.py: small attention modules over flex_flash_attn_func and over
dispatch -> calc_attn -> undispatch, run eagerly and compiled with torch.compile(fullgraph=True)
on the same inputs; they return both results (outputs and gradients)."""

import torch
import torch.distributed as dist

from magi_attention import flex_flash_attn_func
from magi_attention.api import calc_attn, dispatch, magi_attn_varlen_key, undispatch

H, D = 2, 64  # head_dim 64: a size the CUDA kernels support too


class FlexAttention(torch.nn.Module):
    """x [S, H * D] -> attention over a packed varlen-causal mask -> [S, H * D]."""

    def __init__(self, cu, device, dtype):
        super().__init__()
        self.qkv = torch.nn.Linear(H * D, 3 * H * D, bias=False, device=device, dtype=dtype)
        self.o = torch.nn.Linear(H * D, H * D, bias=False, device=device, dtype=dtype)
        ranges = [[cu[i], cu[i + 1]] for i in range(len(cu) - 1)]
        # NOTE: buffers, so every call passes the same range tensors (the prepared mask is
        # found by their identity).
        self.register_buffer("ranges", torch.tensor(ranges, dtype=torch.int32))
        self.register_buffer("types", torch.ones(len(ranges), dtype=torch.int32))

    def forward(self, x):
        q, k, v = self.qkv(x).view(x.shape[0], 3, H, D).unbind(1)
        out, lse = flex_flash_attn_func(q, k, v, self.ranges, self.ranges, self.types)
        return self.o(out.reshape(x.shape[0], H * D)), lse


def _run_both(model, x, fn):
    """fn(model, x) -> (y, ...) eagerly and compiled; returns outputs and grads of both."""
    results = {}
    for mode in ("eager", "compiled"):
        model.zero_grad(set_to_none=True)
        xi = x.detach().clone().requires_grad_()
        f = fn if mode == "eager" else torch.compile(fn, fullgraph=True)
        y, aux = f(model, xi)
        y.float().square().sum().backward()
        results[mode] = dict(y=y.detach().cpu(), aux=aux.detach().cpu(), dx=xi.grad.cpu(),
                             dw=model.qkv.weight.grad.cpu())
    return results


def flex(rank, world_size, device, dtype_name):
    torch.manual_seed(0)
    dtype = getattr(torch, dtype_name)
    model = FlexAttention([0, 40, 100, 128], device, dtype)
    x = torch.randn(128, H * D, device=device, dtype=dtype)
    return _run_both(model, x, lambda m, t: m(t))


def dist_pipeline(rank, world_size, device, dtype_name):
    if device == "cuda":
        torch.cuda.set_device(rank)
    dist.init_process_group("nccl" if device == "cuda" else "gloo", rank=rank,
                            world_size=world_size)
    torch.manual_seed(0)
    dtype = getattr(torch, dtype_name)
    cu = [0, 40, 100, 128]
    key = magi_attn_varlen_key(cu, cu, num_heads_q=H, num_heads_kv=H, head_dim=D, causal=True,
                               chunk_size=16, cp_group=dist.group.WORLD)
    model = FlexAttention(cu, device, dtype)

    def step(m, x):
        local = dispatch(x, key)
        q, k, v = m.qkv(local).view(local.shape[0], 3, H, D).unbind(1)
        out, lse = calc_attn(q, k, v, key)
        return undispatch(m.o(out.reshape(local.shape[0], H * D)), key), lse

    x = torch.randn(128, H * D, device=device, dtype=dtype)
    return _run_both(model, x, step)
