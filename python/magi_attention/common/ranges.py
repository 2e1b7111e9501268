"""Half-open token ranges ``[start, end)`` and ordered lists of them (pure Python)."""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence

__all__ = ["AttnRange", "AttnRanges", "RangeError"]


class RangeError(ValueError):
    """An invalid range (``start > end`` or a negative bound)."""


def _as_int(value, name: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"AttnRange.{name}: expected an int, got bool")
    try:
        return int(value.__index__())  # int, numpy and torch integer scalars
    except AttributeError:
        raise TypeError(f"AttnRange.{name}: expected an int, got {type(value).__name__}") from None


class AttnRange:
    """The half-open interval ``[start, end)``; valid when ``0 <= start <= end``."""

    __slots__ = ("_start", "_end")

    def __init__(self, start: int, end: int) -> None:
        start, end = _as_int(start, "start"), _as_int(end, "end")
        if start < 0 or start > end:
            raise RangeError(f"AttnRange [{start}, {end}): need 0 <= start <= end")
        self._start, self._end = start, end

    start = property(lambda self: self._start, doc="First token.")
    end = property(lambda self: self._end, doc="One past the last token.")

    @property
    def seqlen(self) -> int:
        """Number of tokens."""
        return self._end - self._start

    def __len__(self) -> int:
        return self.seqlen

    def is_empty(self) -> bool:
        """True when the range holds no token."""
        return self._end <= self._start

    def to_naive_range(self) -> tuple[int, int]:
        """``(start, end)``."""
        return (self._start, self._end)

    @classmethod
    def from_range(cls, r) -> "AttnRange":
        """From an ``AttnRange`` or a ``(start, end)`` pair."""
        if isinstance(r, AttnRange):
            return cls(r.start, r.end)
        if isinstance(r, (list, tuple)) and len(r) == 2:
            return cls(r[0], r[1])
        raise TypeError(f"expected an AttnRange or a (start, end) pair, got {r!r}")

    def offset(self, delta: int) -> "AttnRange":
        """The range moved by ``delta``."""
        return AttnRange(self._start + delta, self._end + delta)

    def intersect(self, other: "AttnRange") -> "AttnRange":
        """Intersection (``[0, 0)`` when empty)."""
        s, e = max(self._start, other.start), min(self._end, other.end)
        return AttnRange(s, e) if s < e else AttnRange(0, 0)

    def __eq__(self, other) -> bool:
        return isinstance(other, AttnRange) and self.to_naive_range() == other.to_naive_range()

    def __hash__(self) -> int:
        return hash(self.to_naive_range())

    def __repr__(self) -> str:
        return f"[{self._start}, {self._end})"


class AttnRanges:
    """An ordered list of :class:`AttnRange` (overlaps allowed)."""

    def __init__(self, ranges: Iterable[AttnRange] = ()) -> None:
        self._ranges: list[AttnRange] = [AttnRange.from_range(r) for r in ranges]

    @classmethod
    def from_ranges(cls, ranges, check: bool = False) -> "AttnRanges":
        """From pairs ``[[s, e], ...]``, ``AttnRange`` objects, an ``AttnRanges`` or an integer
        tensor of shape ``[N, 2]``. Every range must satisfy ``0 <= s <= e``."""
        if isinstance(ranges, AttnRanges):
            return cls(ranges._ranges)
        if hasattr(ranges, "tolist") and hasattr(ranges, "dim"):  # a torch tensor
            if ranges.dim() != 2 or ranges.shape[1] != 2:
                raise ValueError(f"ranges: expected shape [N, 2], got {list(ranges.shape)}")
            if ranges.is_floating_point():
                raise TypeError(f"ranges: expected an integer tensor, got {ranges.dtype}")
            ranges = ranges.tolist()
        if not isinstance(ranges, (list, tuple)):
            raise TypeError(f"ranges: expected a list of (start, end) pairs, "
                            f"got {type(ranges).__name__}")
        return cls(ranges)

    @classmethod
    def from_cu_seqlens(cls, cu_seqlens: Sequence[int], seq_len: int) -> "AttnRanges":
        """Ranges ``[cu[i], cu[i+1])``; ``cu`` starts at 0, increases strictly, ends at
        ``seq_len``."""
        cu = [int(c) for c in cu_seqlens]
        if not cu or cu[0] != 0 or cu[-1] != seq_len or any(
                b <= a for a, b in zip(cu, cu[1:])):
            raise ValueError(f"cu_seqlens {cu}: must start at 0, increase strictly and end at "
                             f"seq_len = {seq_len}")
        return cls(AttnRange(a, b) for a, b in zip(cu, cu[1:]))

    def to_naive_ranges(self) -> list[tuple[int, int]]:
        """``[(start, end), ...]``."""
        return [r.to_naive_range() for r in self._ranges]

    def to_tensor(self, device="cpu"):
        """An int32 tensor ``[N, 2]``."""
        import torch

        return torch.tensor(self.to_naive_ranges(), dtype=torch.int32,
                            device=device).reshape(-1, 2)

    def to_cu_seqlens(self, seq_len: int) -> list[int]:
        """Inverse of :meth:`from_cu_seqlens` (the ranges must tile ``[0, seq_len)`` in order)."""
        cu = [0]
        for r in self._ranges:
            if r.start != cu[-1]:
                raise ValueError(f"ranges {self}: not a contiguous partition")
            cu.append(r.end)
        if cu[-1] != seq_len:
            raise ValueError(f"ranges {self}: end {cu[-1]} != seq_len {seq_len}")
        return cu

    def append(self, r, check: bool = False) -> None:
        """Appends one range (``AttnRange`` or pair)."""
        self._ranges.append(AttnRange.from_range(r))

    def extend(self, other: Iterable) -> None:
        """Appends every range of ``other``."""
        self._ranges.extend(AttnRange.from_range(r) for r in other)

    def clone(self) -> "AttnRanges":
        """A copy."""
        return AttnRanges(self._ranges)

    def sort(self) -> "AttnRanges":
        """A copy sorted by ``(start, end)``."""
        return AttnRanges(sorted(self._ranges, key=AttnRange.to_naive_range))

    def merge(self) -> "AttnRanges":
        """The sorted union; overlapping or touching ranges are fused, empty ones dropped."""
        out: list[list[int]] = []
        for s, e in sorted(r.to_naive_range() for r in self._ranges if not r.is_empty()):
            if out and s <= out[-1][1]:
                out[-1][1] = max(out[-1][1], e)
            else:
                out.append([s, e])
        return AttnRanges(out)

    @property
    def total_seqlen(self) -> int:
        """Sum of the lengths (overlaps counted twice)."""
        return sum(r.seqlen for r in self._ranges)

    @property
    def max_seqlen(self) -> int:
        """Longest range (0 when empty)."""
        return max((r.seqlen for r in self._ranges), default=0)

    @property
    def start(self) -> int:
        """Smallest start (ValueError when empty)."""
        if not self._ranges:
            raise ValueError("empty AttnRanges has no start")
        return min(r.start for r in self._ranges)

    @property
    def end(self) -> int:
        """Largest end (ValueError when empty)."""
        if not self._ranges:
            raise ValueError("empty AttnRanges has no end")
        return max(r.end for r in self._ranges)

    @property
    def size(self) -> int:
        """Number of ranges."""
        return len(self._ranges)

    def is_empty(self) -> bool:
        """True when there is no range."""
        return not self._ranges

    def is_sorted(self) -> bool:
        """True when starts are non-decreasing."""
        return all(a.start <= b.start for a, b in zip(self._ranges, self._ranges[1:]))

    def is_non_overlap(self) -> bool:
        """True when no two ranges share a token."""
        return self.total_seqlen == self.merge().total_seqlen

    def __len__(self) -> int:
        return len(self._ranges)

    def __iter__(self) -> Iterator[AttnRange]:
        return iter(self._ranges)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return AttnRanges(self._ranges[i])
        return self._ranges[i]

    def __eq__(self, other) -> bool:
        return isinstance(other, AttnRanges) and self._ranges == other._ranges

    def __hash__(self) -> int:
        return hash(tuple(self.to_naive_ranges()))

    def __repr__(self) -> str:
        return "[" + ", ".join(map(repr, self._ranges)) + "]"
