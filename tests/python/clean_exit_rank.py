"""One rank of a plain user script, as torchrun would start it (RANK, WORLD_SIZE, MASTER_ADDR,
MASTER_PORT in the environment): dispatch -> calc_attn -> undispatch -> backward on
cp_group=dist.group.WORLD (gloo), then a normal interpreter exit with the process group, the
key and the caches still alive. Its exit status must be 0 (issue 15, item 2).
Launched by tests/python/clean_exit.py."""

import torch
import torch.distributed as dist

from magi_attention.api import calc_attn, dispatch, magi_attn_flex_key, undispatch

dist.init_process_group("gloo")
total, hq, hkv, d = 96, 2, 1, 16
key = magi_attn_flex_key([[0, 40], [40, total]], [[0, 40], [0, total]], ["causal", "causal"],
                         total, total, head_dim=d, chunk_size=8, cp_group=dist.group.WORLD)
x = torch.randn(total, hq * d, generator=torch.Generator().manual_seed(0), requires_grad=True)
local = dispatch(x, key)
q = local.view(-1, hq, d)
k = local[:, : hkv * d].reshape(-1, hkv, d)
v = local[:, -hkv * d:].reshape(-1, hkv, d)
out, _ = calc_attn(q, k, v, key)
total_out = undispatch(out, key)
total_out.square().sum().backward()
assert torch.isfinite(x.grad).all()
print(f"rank {dist.get_rank()}: ok", flush=True)
