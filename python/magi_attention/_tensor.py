"""torch.Tensor helpers for the core: stream, layout, and the TensorView of a tensor.

The core reads torch tensors itself (``_C`` reads data pointer, dtype, device, shape and strides
through Python attribute access, no libtorch); this module registers torch's types with it once
and keeps what only Python can do cheaply (the current stream, making a tensor contiguous).
"""

from __future__ import annotations

import torch

from ._checks import FLOAT_DTYPES, check_device  # noqa: F401 (re-exported)
from ._ext import core

_C = core()
_C._register_torch(torch.Tensor, {
    torch.float32: _C.DType.float32, torch.float64: _C.DType.float64,
    torch.bfloat16: _C.DType.bfloat16, torch.float16: _C.DType.float16,
    torch.int32: _C.DType.int32, torch.int64: _C.DType.int64})


def view(t: torch.Tensor, name: str = "tensor"):
    """The core TensorView of ``t`` (at most 4 dims; element strides); it does not own the
    memory, so keep ``t`` alive while the view is used."""
    return _C.tensor_view(t, name)


def optional_view(t):
    """``view(t)``, or None."""
    return None if t is None else view(t)


# NOTE: torch >= 1.12 (with CUDA) has a raw accessor that builds no Stream object.
_raw_stream = getattr(torch._C, "_cuda_getCurrentRawStream", None)


def stream_of(t: torch.Tensor) -> int:
    """torch's current CUDA stream handle for ``t``'s device (0 for CPU tensors)."""
    if not t.is_cuda:
        return 0
    if _raw_stream is not None:
        return _raw_stream(t.get_device())
    return torch.cuda.current_stream(t.device).cuda_stream


def alloc_bytes(nbytes: int, device_index: int) -> torch.Tensor:
    """The core's scratch memory (the Allocator hook): ``nbytes`` of torch's caching allocator
    on ``cuda:device_index``, so the core's temporaries are torch's (and graph-aware)."""
    return torch.empty(nbytes, dtype=torch.uint8, device=device_index)


def empty_out(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The attention output of q and v, contiguous: ``[Sq, Hq, Dv]`` in q's dtype."""
    return q.new_empty((q.shape[0], q.shape[1], v.shape[2]))


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


def prepared(t: torch.Tensor) -> torch.Tensor:
    """``prepare(t)`` with a fast path for the common case (contiguous and, on CUDA, aligned)."""
    if t.is_contiguous() and (not t.is_cuda or t.data_ptr() % 16 == 0):
        return t
    return prepare(t)


def ready(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """``prepared`` of q, k and v, with one test for the common case."""
    if q.is_contiguous() and k.is_contiguous() and v.is_contiguous() and (
            not q.is_cuda or (q.data_ptr() | k.data_ptr() | v.data_ptr()) % 16 == 0):
        return q, k, v
    return prepared(q), prepared(k), prepared(v)


# The name the kernel benchmark and GPU tests use.
tensor_desc = view
