"""Half-open token ranges ``[start, end)`` and ordered lists of them (pure Python)."""

from __future__ import annotations

import bisect
import itertools
from typing import Iterable, Iterator, Sequence

__all__ = ["AttnRange", "AttnRanges", "RangeError", "check_valid_cu_seqlens", "is_valid_cu_seqlens"]


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

    @property
    def start(self) -> int:
        """First token (settable, as the original's)."""
        return self._start

    @start.setter
    def start(self, value: int) -> None:
        # NOTE: as the original, a setter does not check the order of the bounds (a range may be
        # moved one bound at a time); check_valid() does, and so does every key function.
        self._start = _as_int(value, "start")

    @property
    def end(self) -> int:
        """One past the last token (settable)."""
        return self._end

    @end.setter
    def end(self, value: int) -> None:
        self._end = _as_int(value, "end")

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
    def from_range(cls, r, check: bool = False) -> "AttnRange":
        """From an ``AttnRange`` or a ``(start, end)`` pair (always checked: ``check`` is
        accepted for the original's signature)."""
        if isinstance(r, AttnRange):
            return cls(r.start, r.end)
        if isinstance(r, (list, tuple)) and len(r) == 2:
            return cls(r[0], r[1])
        raise TypeError(f"expected an AttnRange or a (start, end) pair, got {r!r}")

    def clone(self) -> "AttnRange":
        """A copy."""
        return AttnRange(self._start, self._end)

    def offset(self, delta: int) -> "AttnRange":
        """The range moved by ``delta``."""
        return AttnRange(self._start + delta, self._end + delta)

    def truncate(self, start: int | None = None, end: int | None = None) -> "AttnRange":
        """The part inside ``[start, end)`` (None: unbounded on that side); ``[s, s)`` with ``s``
        the clamped start when nothing is left."""
        s = self._start if start is None else max(self._start, start)
        e = self._end if end is None else min(self._end, end)
        return AttnRange(s, max(s, e))

    def intersect(self, other: "AttnRange") -> "AttnRange":
        """Intersection (``[0, 0)`` when empty)."""
        s, e = max(self._start, other.start), min(self._end, other.end)
        return AttnRange(s, e) if s < e else AttnRange(0, 0)

    def intersect_size(self, other: "AttnRange") -> int:
        """Tokens in both ranges."""
        return self.intersect(other).seqlen

    def is_subrange_of(self, other: "AttnRange") -> bool:
        """True when ``other`` holds every bound of this range (``start``, ``end``)."""
        return other.start <= self._start and self._end <= other.end

    def is_overlap_with(self, other: "AttnRange") -> bool:
        """``start < other.end and other.start < end``: the ranges share a token, or one is
        empty and lies strictly inside the other (as the original)."""
        return self._start < other.end and other.start < self._end

    def union(self, other: "AttnRange") -> list["AttnRange"]:
        """``[merged]`` when both are non-empty and :meth:`is_overlap_with`, else both (as the
        original: touching ranges are not fused here, unlike :meth:`AttnRanges.merge`)."""
        if not self.is_empty() and not other.is_empty() and self.is_overlap_with(other):
            return [AttnRange(min(self._start, other.start), max(self._end, other.end))]
        return [self, other]

    def union_size(self, other: "AttnRange") -> int:
        """Tokens in either range."""
        return self.seqlen + other.seqlen - self.intersect_size(other)

    def diff_by(self, other: "AttnRange") -> list["AttnRange"]:
        """``other`` minus this range: its non-empty pieces before and after this range."""
        pieces = [AttnRange(other.start, max(other.start, min(other.end, self._start))),
                  AttnRange(min(other.end, max(other.start, self._end)), other.end)]
        return [p for p in pieces if not p.is_empty()]

    def is_valid_close(self, start: int | None = None, end: int | None = None) -> bool:
        """``start <= end`` (this range's bounds where not given)."""
        return (self._start if start is None else start) <= (self._end if end is None else end)

    def is_valid_open(self, start: int | None = None, end: int | None = None) -> bool:
        """``start < end`` (this range's bounds where not given)."""
        return (self._start if start is None else start) < (self._end if end is None else end)

    def check_valid(self, start: int | None = None, end: int | None = None) -> None:
        """RangeError unless ``0 <= start <= end`` (this range's bounds where not given)."""
        s = self._start if start is None else start
        e = self._end if end is None else end
        if s < 0 or s > e:
            raise RangeError(f"AttnRange [{s}, {e}): need 0 <= start <= end")

    def __eq__(self, other) -> bool:
        return isinstance(other, AttnRange) and self.to_naive_range() == other.to_naive_range()

    def __hash__(self) -> int:
        return hash(self.to_naive_range())

    def __repr__(self) -> str:
        return f"[{self._start}, {self._end})"


def is_valid_cu_seqlens(cu_seqlens: Sequence[int], seq_len: int) -> bool:
    """True when ``cu_seqlens`` starts at 0, increases strictly and ends at ``seq_len`` (or is
    empty)."""
    cu = [int(c) for c in cu_seqlens]
    return not cu or (cu[0] == 0 and cu[-1] == seq_len and all(a < b for a, b in zip(cu, cu[1:])))


def check_valid_cu_seqlens(cu_seqlens: Sequence[int], seq_len: int) -> None:
    """ValueError naming ``cu_seqlens`` unless :func:`is_valid_cu_seqlens`."""
    if not is_valid_cu_seqlens(cu_seqlens, seq_len):
        raise ValueError(f"cu_seqlens {list(cu_seqlens)}: must start at 0, increase strictly and "
                         f"end at seq_len = {seq_len}")


def _range(r) -> AttnRange:
    """``r`` itself when an AttnRange (the original's lists hold the objects given), else a new
    one from a pair."""
    return r if isinstance(r, AttnRange) else AttnRange.from_range(r)


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
        """Appends one range (an ``AttnRange`` is kept as it is; a pair becomes one)."""
        self._ranges.append(_range(r))

    def insert(self, i: int, r, check: bool = False) -> None:
        """Inserts one range before index ``i`` (``list.insert``)."""
        self._ranges.insert(i, _range(r))

    def extend(self, other: Iterable, check: bool = False) -> None:
        """Appends every range of ``other``."""
        self._ranges.extend([_range(r) for r in other])  # a list: other may be self

    def pop(self, i: int = -1) -> AttnRange:
        """Removes and returns range ``i`` (IndexError when empty or out of range)."""
        if not self._ranges:
            raise IndexError("pop from an empty AttnRanges")
        return self._ranges.pop(i)

    def __setitem__(self, i, value) -> None:
        if isinstance(i, slice):
            new = [_range(r) for r in value]
            if len(range(*i.indices(len(self._ranges)))) != len(new):
                raise ValueError(f"AttnRanges[{i}] = ...: {len(new)} ranges for the slice's "
                                 f"{len(range(*i.indices(len(self._ranges))))}")
            self._ranges[i] = new
        else:
            self._ranges[i] = _range(value)

    def is_valid(self) -> bool:
        """True when every range has ``0 <= start <= end``."""
        return all(0 <= r.start <= r.end for r in self._ranges)

    def check_valid(self) -> None:
        """RangeError naming the first invalid range."""
        for r in self._ranges:
            r.check_valid()

    def clear_empty(self) -> "AttnRanges":
        """A copy without the empty ranges."""
        return AttnRanges(r for r in self._ranges if not r.is_empty())

    def truncate(self, start: int | None = None, end: int | None = None) -> "AttnRanges":
        """Every range cut to ``[start, end)``; the ones left empty are dropped."""
        return AttnRanges(t for t in (r.truncate(start, end) for r in self._ranges)
                          if not t.is_empty())

    def chunk(self, chunk_size: int, check: bool = True) -> list["AttnRanges"]:
        """Walks the ranges in order and cuts them into groups of exactly ``chunk_size``
        tokens (the last group may hold fewer). ``check``: the ranges must not overlap."""
        chunk_size = _as_int(chunk_size, "chunk_size")
        if chunk_size <= 0:
            raise ValueError(f"chunk_size = {chunk_size}: must be > 0")
        if check and not self.is_non_overlap():
            raise ValueError(f"ranges {self}: overlap, cannot be chunked")
        groups: list[AttnRanges] = []
        cur, filled = AttnRanges(), 0
        for r in self._ranges:
            s = r.start
            while s < r.end:
                e = min(r.end, s + chunk_size - filled)
                cur._ranges.append(AttnRange(s, e))
                filled += e - s
                s = e
                if filled == chunk_size:
                    groups.append(cur)
                    cur, filled = AttnRanges(), 0
        if cur._ranges:
            groups.append(cur)
        return groups

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

    def is_merged(self) -> bool:
        """True when sorted by start and every range ends before the next starts (no overlap,
        no contact)."""
        return all(a.start <= b.start and a.end < b.start
                   for a, b in zip(self._ranges, self._ranges[1:]))

    def is_cu_seqlens(self, seq_len: int) -> bool:
        """True when the ranges tile ``[0, seq_len)`` in order (no range when seq_len is 0)."""
        cu = 0
        for r in self._ranges:
            if r.start != cu:
                return False
            cu = r.end
        return cu == seq_len

    @property
    def points(self) -> list[int]:
        """Every range's start and end, sorted, without duplicates."""
        return sorted({p for r in self._ranges for p in (r.start, r.end)})

    def intersect_size(self) -> int:
        """Tokens counted more than once: the sum over tokens of (ranges holding it - 1)."""
        return self.total_seqlen - self.merge().total_seqlen

    def find_overlap_ranges(self, other: "AttnRanges", is_self_merged: bool = False,
                            is_other_merged: bool = False) -> "AttnRanges":
        """The tokens in both (merged); the flags are accepted for the original's
        signature."""
        a, b = self.merge(), AttnRanges.from_ranges(other).merge()
        out, i, j = [], 0, 0
        while i < len(a._ranges) and j < len(b._ranges):
            r1, r2 = a._ranges[i], b._ranges[j]
            s, e = max(r1.start, r2.start), min(r1.end, r2.end)
            if s < e:
                out.append((s, e))
            if r1.end <= r2.end:
                i += 1
            else:
                j += 1
        return AttnRanges(out)

    def find_hole_ranges(self, other: "AttnRanges", is_self_merged: bool = False,
                         is_other_merged: bool = False) -> "AttnRanges":
        """The tokens of this list that ``other`` lacks (set difference, merged)."""
        holes, j = [], 0
        b = AttnRanges.from_ranges(other).merge()._ranges
        for r in self.merge()._ranges:
            s = r.start
            while j < len(b) and b[j].end <= s:
                j += 1
            k = j
            while k < len(b) and b[k].start < r.end:
                if b[k].start > s:
                    holes.append((s, b[k].start))
                s = max(s, b[k].end)
                k += 1
            if s < r.end:
                holes.append((s, r.end))
        return AttnRanges(holes)

    def _local_index(self):
        """The merged ranges, their starts and their offsets in the compact buffer."""
        merged = self.merge()._ranges
        offsets = list(itertools.accumulate((m.seqlen for m in merged), initial=0))
        return merged, [m.start for m in merged], offsets

    @staticmethod
    def _locate(index, r: AttnRange) -> tuple[AttnRange, AttnRange]:
        merged, starts, offsets = index
        i = bisect.bisect_right(starts, r.start) - 1
        if i < 0 or not r.is_subrange_of(merged[i]):
            raise ValueError(f"range {r}: not inside one range of the merged {AttnRanges(merged)}")
        local = offsets[i] + r.start - merged[i].start
        return AttnRange(local, local + r.seqlen), merged[i]

    def make_range_local(self, r: AttnRange, is_self_merged: bool = False,
                         prefix_offset: list[int] | None = None) -> tuple[AttnRange, AttnRange]:
        """Where ``r`` lies in a buffer that stores the merged ranges of this list one after
        another in ascending order: ``(local range, the merged range holding r)``. ValueError
        when no merged range holds all of ``r``. ``is_self_merged`` and ``prefix_offset`` are
        accepted for the original's signature and ignored."""
        return self._locate(self._local_index(), AttnRange.from_range(r))

    def make_ranges_local(self, other: "AttnRanges", is_self_merged: bool = False) -> "AttnRanges":
        """:meth:`make_range_local` of each range of ``other``: the local ranges (one merge,
        then a binary search per range)."""
        index = self._local_index()
        return AttnRanges(self._locate(index, r)[0] for r in AttnRanges.from_ranges(other))

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
