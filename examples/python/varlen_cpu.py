# The seed's "Basic Usage For Varlen Api" example on CPU. Changed only where a CPU machine forces
# it (marked "CPU:"): gloo instead of NCCL, CPU tensors, float32 or bfloat16, cp_size = the
# number of processes, and a fixed seed so every rank builds the same global x and weights.
#
#   torchrun --nproc-per-node 2 examples/python/varlen_cpu.py [--dtype bfloat16]
#
# main() returns the tensors so tests (tests/python/test_seed_examples.py) can check them.
import argparse
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


def main(dtype=torch.float32):
    torch.manual_seed(0)  # CPU: the same x and weights on every rank (see the header)
    # ---  prepare data and args for magi_attention --- #
    # init params
    embed_dim = 1024
    # CPU: dtype is an argument (float32 or bfloat16)
    cp_size = int(os.environ["WORLD_SIZE"])  # CPU: 2 or 4 processes
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
        backend="gloo",  # CPU
        world_size=world_size,
        rank=rank,
        timeout=timedelta(minutes=30),
    )
    device = torch.device("cpu")  # CPU: no torch.cuda.set_device

    # init cp_group
    cp_group = dist.new_group(list(range(cp_size)), backend="gloo")  # CPU
    cp_mesh = None

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

    return dict(x_leaf=x_with_batch, total_out=total_out, projs=(q_proj, k_proj, v_proj),
                key=magi_attn_runtime_key, heads=(q_heads, kv_heads, head_dim),
                slices=[(b * seqlen, (b + 1) * seqlen, b * seqlen, (b + 1) * seqlen, 0)
                        for b in range(batch_size)])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    result = main(getattr(torch, parser.parse_args().dtype))
    result["total_out"].float().square().sum().backward()
    print(f"rank {dist.get_rank()}: total_out {tuple(result['total_out'].shape)}, "
          f"|x.grad| = {result['x_leaf'].grad.float().norm():.4f}")
    dist.destroy_process_group()
