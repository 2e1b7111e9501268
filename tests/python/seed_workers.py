"""Worker side of the seed-example tests: runs an example's main() on one rank, backpropagates
a fixed loss, and returns what the parent checks."""

import importlib

import torch


def loss_weights(shape, dtype=torch.float64) -> torch.Tensor:
    """The fixed upstream gradient d loss / d total_out (same on every rank)."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(1)).to(dtype)


def run_example(rank, world_size, example: str, dtype_name: str):
    result = importlib.import_module(f"{example}_cpu").main(getattr(torch, dtype_name))
    total_out = result["total_out"]
    (total_out.double() * loss_weights(total_out.shape)).sum().backward()
    x = result["x_leaf"]
    out = {"total_out": total_out.detach(), "x_grad": x.grad.detach().reshape(-1, x.shape[-1])}
    if rank == 0:
        out.update(x=x.detach().reshape(-1, x.shape[-1]), slices=result["slices"],
                   heads=result["heads"],
                   weights=[(p.weight.detach(), p.bias.detach()) for p in result["projs"]])
    return out
