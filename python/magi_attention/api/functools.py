"""Helpers of the public API: padding, batch squashing, varlen/sliding-window mask builders and
the hierarchical mesh."""

from __future__ import annotations

import torch

from .._checks import check_int
from ..common.enum import AttnMaskType
from ..common.padding import compute_pad_size
from ..common.ranges import AttnRange, AttnRanges
from ..dist.group import hierarchical_comm_enabled

__all__ = [
    "compute_pad_size", "squash_batch_dim", "full_attention_to_varlen_attention",
    "infer_varlen_mask_from_batch", "infer_attn_mask_from_sliding_window",
    "infer_attn_mask_from_cu_seqlens", "init_hierarchical_mesh", "pad_at_dim", "unpad_at_dim",
    "apply_padding",
]


def squash_batch_dim(x: torch.Tensor) -> torch.Tensor:
    """``[batch, seqlen, ...] -> [batch * seqlen, ...]`` (a view when possible;
    differentiable)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(f"x: expected at least 2 dims [batch, seqlen, ...], got {list(x.shape)}")
    return x.flatten(0, 1)


def _dim(x: torch.Tensor, dim) -> int:
    dim = check_int("dim", dim)
    if not -x.dim() <= dim < x.dim():
        raise ValueError(f"dim = {dim}: out of range for a {x.dim()}-dim tensor")
    return dim % x.dim()


def pad_at_dim(x: torch.Tensor, dim: int, pad_size: int, value: float = 0.0,
               side: str = "right") -> torch.Tensor:
    """A new tensor: ``x`` with ``pad_size`` rows of ``value`` added along ``dim`` on the
    ``"right"`` (end) or ``"left"`` (differentiable)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
    dim = _dim(x, dim)
    pad_size = check_int("pad_size", pad_size, 0)
    if side not in ("left", "right"):
        raise ValueError(f"side = {side!r}: expected 'left' or 'right'")
    shape = list(x.shape)
    shape[dim] = pad_size
    pad = torch.full(shape, value, dtype=x.dtype, device=x.device)
    return torch.cat([x, pad] if side == "right" else [pad, x], dim=dim)


def unpad_at_dim(x: torch.Tensor, dim: int, pad_size: int) -> torch.Tensor:
    """``x`` without its last ``pad_size`` rows along ``dim`` (a view). The original narrows
    dim 0 whatever ``dim`` says; this one narrows ``dim`` (the same for dim 0)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
    dim = _dim(x, dim)
    pad_size = check_int("pad_size", pad_size, 0)
    if pad_size > x.shape[dim]:
        raise ValueError(f"pad_size = {pad_size}: more than the {x.shape[dim]} rows of dim {dim}")
    return x.narrow(dim, 0, x.shape[dim] - pad_size)


def apply_padding(q_ranges: AttnRanges, k_ranges: AttnRanges, attn_mask_type, total_seqlen: int,
                  pad_size: int):
    """Copies of the mask with the padding rows' slice appended, as the keys pad a mask:
    ``q = [total_seqlen, total_seqlen + pad_size)``, ``k = [0, 0)``, FULL (padding rows attend
    nothing; appended, empty, when ``pad_size`` is 0 too, as the original). Returns
    ``(q_ranges, k_ranges, attn_mask_type)``."""
    total_seqlen = check_int("total_seqlen", total_seqlen, 0)
    pad_size = check_int("pad_size", pad_size, 0)
    q, k = AttnRanges.from_ranges(q_ranges), AttnRanges.from_ranges(k_ranges)
    types = list(attn_mask_type) if isinstance(attn_mask_type, (list, tuple)) else \
        [attn_mask_type] * len(q)
    q.append(AttnRange(total_seqlen, total_seqlen + pad_size))
    k.append(AttnRange(0, 0))
    types.append(AttnMaskType.FULL)
    return q, k, types


def infer_varlen_mask_from_batch(batch_size: int, seq_len: int, device=None):
    """``(cu_seqlens_q, cu_seqlens_k)`` of ``batch_size`` sequences of ``seq_len`` tokens: the
    same int32 tensor ``arange(batch_size + 1) * seq_len`` twice. ``device`` defaults to CUDA
    when available, else CPU."""
    batch_size = check_int("batch_size", batch_size, 1)
    seq_len = check_int("seq_len", seq_len, 1)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    cu = torch.arange(batch_size + 1, dtype=torch.int32, device=device) * seq_len
    return cu, cu


def full_attention_to_varlen_attention(batch_size: int, seq_len: int):
    """The seed's name for :func:`infer_varlen_mask_from_batch`, on the CPU: ``(cu_seqlens_q,
    cu_seqlens_k)`` for a batch squashed by :func:`squash_batch_dim`."""
    return infer_varlen_mask_from_batch(batch_size, seq_len, device="cpu")


def _cu_list(name: str, cu) -> list[int]:
    if isinstance(cu, torch.Tensor):
        if cu.is_floating_point() or cu.dtype == torch.bool:
            raise TypeError(f"{name}: expected an int32/int64 tensor, got {cu.dtype}")
        if cu.dim() != 1:
            raise ValueError(f"{name}: expected a 1-D tensor, got shape {list(cu.shape)}")
        cu = cu.tolist()
    elif not isinstance(cu, (list, tuple)):
        raise TypeError(f"{name}: expected a tensor or a list of ints, got {type(cu).__name__}")
    cu = [check_int(f"{name}[{i}]", c) for i, c in enumerate(cu)]
    if len(cu) < 2 or cu[0] != 0 or any(b <= a for a, b in zip(cu, cu[1:])):
        raise ValueError(f"{name} = {cu}: must start at 0 and increase strictly")
    return cu


def _window(window_size) -> tuple[int, int]:
    if not isinstance(window_size, (list, tuple)) or len(window_size) != 2:
        raise TypeError(f"window_size: expected a (left, right) pair, got {window_size!r}")
    left, right = (check_int("window_size", w, -1) for w in window_size)
    return left, right


def _slices_to_mask(slices) -> tuple[AttnRanges, AttnRanges, list[AttnMaskType]]:
    q = AttnRanges((s[0], s[1]) for s in slices)
    k = AttnRanges((s[2], s[3]) for s in slices)
    return q, k, [AttnMaskType.from_int_type(s[4]) for s in slices]


def infer_attn_mask_from_cu_seqlens(cu_seqlens_q, cu_seqlens_k, causal: bool = False,
                                    window_size=(-1, -1), global_window_size: int = 0):
    """The flex mask of a varlen batch.

    One slice per sequence (FULL, or CAUSAL when ``causal``), or with ``window_size = (left,
    right)`` a sliding window per sequence (bottom-right aligned; ``-1`` = unbounded side),
    expressed exactly with CAUSAL/BICAUSAL/INVCAUSAL/FULL slices.

    Per sequence, with relative query row ``i``, key column ``j`` and ``d = Sk - Sq``, the
    window holds ``d - left <= j - i <= d + right``. ``global_window_size = G > 0`` (attention
    sink / system-prompt keys) also lets each row see the sequence's first ``G`` keys, up to
    its window's right edge: ``j < G and j - i <= d + right`` (all ``G`` keys when ``right ==
    -1``). ``G`` at least a sequence's key length makes that sequence's left side unbounded.

    Raises:
        ValueError: ``causal`` with a window; ``global_window_size < 0``; ``global_window_size >
            0`` with ``window_size == (-1, -1)`` (it would add nothing).

    Returns:
        ``(q_ranges, k_ranges, attn_mask_type, total_seqlen_q, total_seqlen_k)``.
    """
    from .._ext import core

    cu_q, cu_k = _cu_list("cu_seqlens_q", cu_seqlens_q), _cu_list("cu_seqlens_k", cu_seqlens_k)
    if len(cu_q) != len(cu_k):
        raise ValueError(f"cu_seqlens_k: {len(cu_k) - 1} sequences, cu_seqlens_q has "
                         f"{len(cu_q) - 1}")
    left, right = _window(window_size)
    if (left, right) != (-1, -1) and causal:
        raise ValueError("causal: must be False with a window_size (the window decides)")
    global_window_size = check_int("global_window_size", global_window_size, 0)
    if global_window_size and (left, right) == (-1, -1):
        raise ValueError(f"global_window_size = {global_window_size}: needs a window_size "
                         "other than (-1, -1)")
    slices = core().varlen_slices(cu_q, cu_k, bool(causal), left, right, global_window_size)
    q, k, types = _slices_to_mask(slices)
    return q, k, types, cu_q[-1], cu_k[-1]


def infer_attn_mask_from_sliding_window(q_range: AttnRange, k_range: AttnRange, window_size):
    """The slices of one sliding-window block ``q_range x k_range`` (bottom-right aligned;
    ``window_size = (left, right)``, ``-1`` = unbounded side).

    Returns:
        ``(q_ranges, k_ranges, attn_mask_type)`` with at most three slices.
    """
    q_range, k_range = AttnRange.from_range(q_range), AttnRange.from_range(k_range)
    q, k, types, _, _ = infer_attn_mask_from_cu_seqlens(
        [0, q_range.seqlen], [0, k_range.seqlen], False, window_size)
    q = AttnRanges(r.offset(q_range.start) for r in q)
    k = AttnRanges(r.offset(k_range.start) for r in k)
    return q, k, types


def init_hierarchical_mesh(world_size: int, world_size_inter_node: int,
                           world_size_intra_node: int):
    """A 2-D ``DeviceMesh`` ``(inter, intra)`` for hierarchical communication, or None.

    Returns None unless ``MAGI_ATTENTION_HIERARCHICAL_COMM=1``. Given as ``cp_mesh`` to the
    key functions (with that variable still set), the key communicates in two levels: a remote
    K/V row crosses between nodes at most once per destination node and fans out inside it, and
    partial dK/dV are summed inside a node before they cross back. Results equal those of flat
    communication (outputs bit for bit, gradients up to the order of their sums).
    """
    for name, v in (("world_size", world_size), ("world_size_inter_node", world_size_inter_node),
                    ("world_size_intra_node", world_size_intra_node)):
        check_int(name, v, 1)
    if world_size_inter_node * world_size_intra_node != world_size:
        raise ValueError(f"world_size = {world_size}: must equal world_size_inter_node * "
                         f"world_size_intra_node = "
                         f"{world_size_inter_node * world_size_intra_node}")
    if not hierarchical_comm_enabled():
        return None
    try:
        from torch.distributed.device_mesh import init_device_mesh
    except ImportError:
        raise NotImplementedError("init_hierarchical_mesh: this torch has no DeviceMesh") from None
    device_type = "cuda" if torch.cuda.is_available() else "cpu"
    return init_device_mesh(device_type, (world_size_inter_node, world_size_intra_node),
                            mesh_dim_names=("inter", "intra"))
