"""Argument checks shared by the API: TypeError for wrong types/dtypes, ValueError for wrong
values/shapes, both naming the argument."""

from __future__ import annotations

import operator

import torch

FLOAT_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)


def check_device(name: str, t: torch.Tensor) -> None:
    """``t`` holds data on the CPU or a CUDA device (ValueError naming ``name`` otherwise)."""
    if not t.is_cuda and t.device.type != "cpu":
        what = "meta tensors" if t.is_meta else f"tensors on device '{t.device.type}'"
        raise ValueError(f"{name}: {what} are not supported: magi_attention computes on CPU "
                         f"and CUDA tensors that hold data")


def check_tensor(name: str, t, *, ndim: int | None = None, dtypes=None) -> None:
    """``t`` is a tensor with ``ndim`` dims and a dtype in ``dtypes``."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    check_device(name, t)
    if dtypes is not None and t.dtype not in dtypes:
        allowed = ", ".join(str(d).replace("torch.", "") for d in dtypes)
        raise TypeError(f"{name}: dtype {str(t.dtype).replace('torch.', '')} is not supported; "
                        f"expected one of {allowed}")
    if ndim is not None and t.dim() != ndim:
        raise ValueError(f"{name}: expected {ndim} dims, got shape {list(t.shape)}")


def check_qkv(q, k, v) -> None:
    """q ``[Sq, Hq, D]``, k ``[Sk, Hkv, D]``, v ``[Sk, Hkv, Dv]`` (Dv may differ from D, as
    MLA's 192 / 128): same float dtype and device, ``Hq % Hkv == 0``."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_tensor(name, t, ndim=3, dtypes=FLOAT_DTYPES)
    if k.dtype != q.dtype or v.dtype != q.dtype:
        raise TypeError(f"k, v: dtypes {k.dtype}, {v.dtype} differ from q's {q.dtype}")
    if k.device != q.device or v.device != q.device:
        raise ValueError(f"k, v: devices {k.device}, {v.device} differ from q's {q.device}")
    if k.shape[:2] != v.shape[:2]:
        raise ValueError(f"v: shape {list(v.shape)} differs from k's {list(k.shape)} in "
                         f"[Sk, Hkv]")
    if k.shape[2] != q.shape[2]:
        raise ValueError(f"k: head_dim {k.shape[2]} differs from q's {q.shape[2]}")
    if q.shape[1] == 0 or k.shape[1] == 0:
        raise ValueError(f"q, k: num_heads_q = {q.shape[1]}, num_heads_kv = {k.shape[1]}: "
                         "head counts must be >= 1")
    if q.shape[1] % k.shape[1] != 0:
        raise ValueError(f"q, k: num_heads_q = {q.shape[1]} is not a multiple of "
                         f"num_heads_kv = {k.shape[1]}")


def check_int(name: str, value, minimum: int | None = None) -> int:
    """``value`` is an int (not bool; numpy/torch integer scalars too), at least ``minimum``;
    returns it as a Python int."""
    if isinstance(value, bool) or (hasattr(value, "is_floating_point") and value.dim()):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}") from None
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} = {value}: must be >= {minimum}")
    if not -(1 << 63) <= value < (1 << 63):
        raise ValueError(f"{name} = {value}: out of the int64 range")
    return value


def check_scale(softmax_scale, softcap) -> tuple[float, float]:
    """The score options as the core takes them: softmax_scale None -> 0 (the core's
    ``head_dim ** -0.5``). Only types are checked here (TypeError); the values follow the
    core's one rule (0: default; otherwise finite and > 0; softcap finite and >= 0), checked
    by the core, which raises ValueError naming the value."""
    if softmax_scale is None and type(softcap) is float:
        return 0.0, softcap
    if softmax_scale is not None:
        if isinstance(softmax_scale, bool) or not isinstance(softmax_scale, (int, float)):
            raise TypeError(f"softmax_scale: expected a float or None, got "
                            f"{type(softmax_scale).__name__}")
    if isinstance(softcap, bool) or not isinstance(softcap, (int, float)):
        raise TypeError(f"softcap: expected a float, got {type(softcap).__name__}")
    return float(softmax_scale or 0.0), float(softcap)


SINK_LAYOUTS = ("sh", "ssh")


def check_sink(sink, sink_layout):
    """The sink as the core takes it: None, or a float32 tensor (contiguous: a copy when it is
    not). TypeError for a non-tensor, another dtype or a non-str layout, ValueError for a layout
    other than 'sh' / 'ssh' (also without a sink); the core checks the shape against q."""
    if not isinstance(sink_layout, str):
        raise TypeError(f"sink_layout: expected 'sh' or 'ssh', got {type(sink_layout).__name__}")
    if sink_layout not in ("sh", "ssh"):
        raise ValueError(f"sink_layout = {sink_layout!r}: expected 'sh' or 'ssh'")
    if sink is None:
        return None
    check_tensor("sink", sink, dtypes=(torch.float32,))
    return sink if sink.is_contiguous() else sink.contiguous()
