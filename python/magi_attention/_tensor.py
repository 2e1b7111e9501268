"""torch.Tensor -> core TensorView (pointer, dtype, device, shape, strides), and the stream.

The only place that looks inside torch tensors for the core; the views do not own memory, so
callers keep the tensors alive across the core call.
"""

from __future__ import annotations

import torch

from ._ext import core

FLOAT_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)

_DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64",
                torch.bfloat16: "bfloat16", torch.float16: "float16",
                torch.int32: "int32", torch.int64: "int64"}
_dtype_codes: dict = {}


def check_device(name: str, t: torch.Tensor) -> None:
    """``t`` holds data on the CPU or a CUDA device (ValueError naming ``name`` otherwise)."""
    if not t.is_cuda and t.device.type != "cpu":
        what = "meta tensors" if t.is_meta else f"tensors on device '{t.device.type}'"
        raise ValueError(f"{name}: {what} are not supported: magi_attention computes on CPU "
                         f"and CUDA tensors that hold data")


def view(t: torch.Tensor, name: str = "tensor"):
    """The core TensorView of ``t`` (at most 4 dims; element strides)."""
    check_device(name, t)
    code = _dtype_codes.get(t.dtype)
    if code is None:
        code = getattr(core().DType, _DTYPE_NAMES[t.dtype])
        _dtype_codes[t.dtype] = code
    return core().TensorView(t.data_ptr(), code, t.is_cuda, t.device.index or 0,
                             list(t.shape), list(t.stride()))


def optional_view(t):
    """``view(t)``, or None."""
    return None if t is None else view(t)


def stream_of(t: torch.Tensor) -> int:
    """torch's current CUDA stream handle for ``t``'s device (0 for CPU tensors)."""
    if not t.is_cuda:
        return 0
    return torch.cuda.current_stream(t.device).cuda_stream


def accumulator_dtype(dtype: torch.dtype) -> torch.dtype:
    """fp64 for fp64 inputs, fp32 otherwise (the core's gradient accumulators)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def prepare(t: torch.Tensor) -> torch.Tensor:
    """``t`` as the kernels read it: each row (dims after the first) contiguous, rows and base
    16-byte aligned. Copies only when ``t`` is not like that already (a row-strided view, e.g.
    a slice of a wider tensor, stays a view)."""
    esize = t.element_size()
    inner, ok = 1, t.data_ptr() % 16 == 0
    for size, stride in zip(reversed(t.shape[1:]), reversed(t.stride()[1:])):
        ok = ok and (size <= 1 or stride == inner)
        inner *= size
    if ok and (t.dim() == 0 or t.shape[0] <= 1 or (t.stride(0) * esize) % 16 == 0):
        return t
    t = t.contiguous()
    # NOTE: contiguous() returns a misaligned view unchanged; a fresh allocation is aligned.
    return t if t.data_ptr() % 16 == 0 else t.clone()


# The name the kernel benchmark and GPU tests use.
tensor_desc = view
