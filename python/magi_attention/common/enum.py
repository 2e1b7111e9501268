"""Enumerations of the public API: mask types and overlap modes."""

from __future__ import annotations

import functools
from enum import Enum

__all__ = ["AttnMaskType", "AttnOverlapMode", "AttnRole"]


class AttnMaskType(Enum):
    """Mask type of one attention slice ``(q_range, k_range, type)``.

    With ``i = q - q_start``, ``j = k - k_start``, ``Sq = |q_range|``, ``Sk = |k_range|``:

    - ``FULL`` (``"full"``, code 0): every cell.
    - ``CAUSAL`` (``"causal"``, code 1): ``j <= i + (Sk - Sq)``; the diagonal is aligned
      bottom-right, so the last query row sees the whole k range.
    - ``INVCAUSAL`` (``"inv_causal"``, code 2): ``j >= i``; aligned top-left.
    - ``BICAUSAL`` (``"bi_causal"``, code 3): both constraints (a band).

    ``AttnMaskType("causal")`` converts a string; ``to_int_type()``/``from_int_type()`` convert
    the integer codes the kernels use.
    """

    FULL = "full"
    CAUSAL = "causal"
    INVCAUSAL = "inv_causal"
    BICAUSAL = "bi_causal"

    def to_int_type(self) -> int:
        """The kernel's integer code: 0 full, 1 causal, 2 inv_causal, 3 bi_causal."""
        return _codes()[self]

    @classmethod
    def from_int_type(cls, code: int) -> "AttnMaskType":
        """The mask type of an integer code (ValueError for anything but 0..3)."""
        for member, value in _codes().items():
            if value == code and not isinstance(code, bool):
                return member
        raise ValueError(f"attn mask type code {code!r}: expected 0, 1, 2 or 3")

    def __int__(self) -> int:
        return _codes()[self]


@functools.lru_cache(maxsize=None)
def _codes() -> dict:
    """Each member's code, read from the core's bound enum (``_C.AttnMaskType``, whose names
    are this enum's values): one vocabulary, no table kept in step by hand."""
    from .._ext import core

    return {AttnMaskType(name): int(value)
            for name, value in core().AttnMaskType.__members__.items()}


class AttnOverlapMode(Enum):
    """How the overlap degree (number of remote K/V stages) is chosen.

    ``STATIC``: ``OverlapConfig.degree`` stages. ``DYNAMIC``: chosen per key from a cost model,
    at most ``OverlapConfig.dynamic_max_degree``.
    """

    STATIC = "static"
    DYNAMIC = "dynamic"


class AttnRole(Enum):
    """Which side of the attention a tensor belongs to, for dispatch / undispatch /
    get_position_ids: ``QUERY`` (q, out, lse, dq, ...) follows the q dispatch, ``KEY`` and
    ``VALUE`` (k, v, dk, dv) the K/V dispatch. The two differ only for cross-attention
    (``is_same_source=False``)."""

    QUERY = "query"
    KEY = "key"
    VALUE = "value"


def normalize_mask_types(attn_mask_type, num_slices: int,
                         name: str = "attn_mask_type") -> list[AttnMaskType]:
    """Mask types given as one value or a list of ``AttnMaskType``/``str``, as a list of
    ``num_slices`` enum members. TypeError/ValueError name the argument ``name``."""
    if isinstance(attn_mask_type, (str, AttnMaskType)):
        items = [attn_mask_type] * num_slices
    elif isinstance(attn_mask_type, (list, tuple)):
        items = list(attn_mask_type)
    else:
        raise TypeError(f"{name}: expected an AttnMaskType, a str or a list of them, "
                        f"got {type(attn_mask_type).__name__}")
    if len(items) != num_slices:
        raise ValueError(f"{name}: {len(items)} entries for {num_slices} slices")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, AttnMaskType):
            out.append(item)
        elif isinstance(item, str):
            try:
                out.append(AttnMaskType(item))
            except ValueError:
                valid = ", ".join(repr(t.value) for t in AttnMaskType)
                raise ValueError(f"{name}[{i}] = {item!r}: unknown mask type; "
                                 f"expected one of {valid}") from None
        else:
            raise TypeError(f"{name}[{i}]: expected an AttnMaskType or a str, "
                            f"got {type(item).__name__}")
    return out
