"""Worker of test_communicator.py: TorchCommunicator.all_to_all_v over raw buffers."""

import torch
import torch.distributed as dist

from magi_attention.dist.communicator import TorchCommunicator


def _buffer(t: torch.Tensor):
    return (t.data_ptr(), t.numel() * t.element_size(), t.is_cuda, t.device.index or 0)


def run(rank, world_size):
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    group = dist.new_group(list(range(world_size)))
    comm = TorchCommunicator(group)
    assert (comm.rank(), comm.size()) == (rank, world_size)
    assert comm.group_id() == "torch:" + ",".join(map(str, range(world_size)))
    row = 3  # elements per row, bfloat16 (gloo sees bytes)
    # rank r sends (r + d) % 3 rows to rank d; row values encode (src, dst, index)
    send_counts = [(rank + d) % 3 for d in range(world_size)]
    recv_counts = [(s + rank) % 3 for s in range(world_size)]
    send = torch.cat([torch.full((c, row), float(100 * rank + 10 * d), dtype=torch.bfloat16)
                      + torch.arange(c, dtype=torch.bfloat16).unsqueeze(1)
                      for d, c in enumerate(send_counts)]) if sum(send_counts) else \
        torch.empty(0, row, dtype=torch.bfloat16)
    recv = torch.full((sum(recv_counts), row), -1.0, dtype=torch.bfloat16)
    work = comm.all_to_all_v(_buffer(send), send_counts, _buffer(recv), recv_counts,
                             row * recv.element_size())
    work.wait()
    expect = torch.cat([torch.full((c, row), float(100 * s + 10 * rank), dtype=torch.bfloat16)
                        + torch.arange(c, dtype=torch.bfloat16).unsqueeze(1)
                        for s, c in enumerate(recv_counts)]) if sum(recv_counts) else recv
    assert torch.equal(recv, expect), (recv, expect)
    # the stream-aware form: a producer stream (0: none on the CPU) and wait_on a consumer one
    again = torch.full_like(recv, -1.0)
    comm.all_to_all_v(_buffer(send), send_counts, _buffer(again), recv_counts,
                      row * recv.element_size(), 0).wait_on(0)
    assert torch.equal(again, expect), (again, expect)
    # an exchange with nothing to move still runs (every rank must take part)
    empty = torch.empty(0, dtype=torch.uint8)
    comm.all_to_all_v(_buffer(empty), [0] * world_size, _buffer(empty), [0] * world_size,
                      8).wait()
    return True
