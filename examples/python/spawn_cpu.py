# Runs varlen_cpu.py or flex_cpu.py in N local processes without torchrun:
#   /usr/bin/python3 examples/python/spawn_cpu.py {varlen|flex} N [float32|bfloat16]
import os
import socket
import sys

import torch
import torch.multiprocessing as mp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _worker(rank, world_size, port, which, dtype):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    example = __import__(f"{which}_cpu")
    result = example.main(getattr(torch, dtype))
    result["total_out"].float().square().sum().backward()
    print(f"rank {rank}: total_out {tuple(result['total_out'].shape)}, "
          f"|x.grad| = {result['x_leaf'].grad.float().norm():.4f}", flush=True)
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    which, n = sys.argv[1], int(sys.argv[2])
    dtype = sys.argv[3] if len(sys.argv) > 3 else "float32"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(n, port, which, dtype), nprocs=n)
