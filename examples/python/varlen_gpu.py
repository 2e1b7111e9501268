# The seed's "Basic Usage For Varlen Api" example, verbatim (docs: magi_attention_api.md).
# Run on 2 GPUs: torchrun --nproc-per-node 2 examples/python/varlen_gpu.py
import os
from datetime import timedelta

import torch
import torch.distributed as dist

from magi_attention.api import (
    AttnOverlapMode,
    DispatchConfig,
    DistAttnConfig,
    MinHeapDispatchAlg,
    OverlapConfig,
    UniformOverlapAlg,
    calc_attn,
    compute_pad_size,
    full_attention_to_varlen_attention,
    magi_attn_varlen_dispatch,
    squash_batch_dim,
    undispatch,
)

# ---  prepare data and args for magi_attention --- #
# init params
embed_dim = 1024
dtype = torch.bfloat16
cp_size = 2
head_dim = 128
chunk_size = 512
q_heads = 48
kv_heads = 8
batch_size = 5
seqlen = 25

dist_attn_config = DistAttnConfig(
    dispatch_config=DispatchConfig(alg=MinHeapDispatchAlg()),
    overlap_config=OverlapConfig(
        enable=True,
        mode=AttnOverlapMode.STATIC,
        degree=2,
        min_chunk_size=512,
        max_num_chunks=64,
        alg=UniformOverlapAlg(
            random_costs=True,
            random_seed=42,
        ),
    ),
    high_bandwith_domain_size=1,
)

# init distributed environment if necessary
rank = int(os.environ["RANK"])
world_size = int(os.environ["WORLD_SIZE"])
assert world_size == cp_size
dist.init_process_group(
    backend="nccl",
    world_size=world_size,
    rank=rank,
    timeout=timedelta(minutes=30),
)
local_rank = rank % 8
torch.cuda.set_device(local_rank)
device = torch.cuda.current_device()

# init cp_group
cp_group = dist.new_group(list(range(cp_size)), backend="nccl")
cp_mesh = None
# if you want to use hierarchical_comm
# first export MAGI_ATTENTION_HIERARCHICAL_COMM = 1 and CUDA_DEVICE_MAX_CONNECTIONS = 8
# second set cp_group = None and init cp_mesh with init_hierarchical_mesh function

# create input data with shape (bs, seqlen, h)
x_with_batch = torch.randn(
    batch_size, seqlen, embed_dim, device=device, dtype=dtype, requires_grad=True
)

# squash the batch dim, magi_attention do not support input data with batch dim.
x = squash_batch_dim(x_with_batch)  # ((b, seqlen), h)

# get cu_seqlens_q,k after squashing.
cu_seqlens_q, cu_seqlens_k = full_attention_to_varlen_attention(batch_size, seqlen)
total_seqlen_q: int = batch_size * seqlen
total_seqlen_k: int = batch_size * seqlen

# pad input seqlen for better performance
pad_size = compute_pad_size(total_seqlen_q, cp_size, head_dim, chunk_size)

# ---   magi_attention dispatch   --- #

# dispatch global input tensor to each rank and get the runtime_key
(
    local_x,
    magi_attn_runtime_key,
) = magi_attn_varlen_dispatch(  # local_x with shape ((total_seq + pad_size) / cp_size), h)
    x,
    cu_seqlens_q,
    cu_seqlens_k,
    head_dim=head_dim,
    pad_size=pad_size,
    chunk_size=chunk_size,
    cp_group=cp_group,
    cp_mesh=cp_mesh,
    causal=False,
    dist_attn_config=dist_attn_config,
)

# ---  magi_attention calculation and undispatch  --- #
# do q k v projection, here's just an example
q_proj = torch.nn.Linear(embed_dim, q_heads * head_dim, dtype=dtype, device=device)
k_proj = torch.nn.Linear(embed_dim, kv_heads * head_dim, dtype=dtype, device=device)
v_proj = torch.nn.Linear(embed_dim, kv_heads * head_dim, dtype=dtype, device=device)

local_q, local_k, local_v = (
    q_proj(local_x).view(-1, q_heads, head_dim),
    k_proj(local_x).view(-1, kv_heads, head_dim),
    v_proj(local_x).view(-1, kv_heads, head_dim),
)  # q, k, v with shape ((bs * seqlen + pad_size) / cp_size, nh, hd)

# Do local attention computation with runtime key
local_out, _ = calc_attn(
    local_q, local_k, local_v, magi_attn_runtime_key
)  # local out with shape ((bs * seqlen + pad_size) / cp_size, nh, hd)

# Gather local attention results to global result with runtime key
total_out = undispatch(
    local_out, magi_attn_runtime_key
)  # total out with shape (bs * seqlen, nh, hd)
