"""AttnRange / AttnRanges set operations of the original's API (magi_attention/common/
ranges.py), checked against Python sets of tokens on random ranges."""
import random

import pytest

from magi_attention.common.range import AttnRange as AttnRangeAlias
from magi_attention.common.ranges import (AttnRange, AttnRanges, RangeError,
                                          check_valid_cu_seqlens, is_valid_cu_seqlens)


def tokens(ranges):
    return {t for r in ranges for t in range(r.start, r.end)}


def random_ranges(rng, n, hi=40):
    out = []
    for _ in range(n):
        s = rng.randrange(hi)
        out.append((s, s + rng.randrange(0, 12)))
    return AttnRanges.from_ranges(out)


def test_range_module_alias_and_setters():
    assert AttnRangeAlias is AttnRange
    r = AttnRange(0, 5)
    r.start = 10  # as the original: moved one bound at a time, checked by check_valid()
    with pytest.raises(RangeError, match=r"\[10, 5\)"):
        r.check_valid()
    r.end = 15
    assert r.to_naive_range() == (10, 15) and r.check_valid() is None
    with pytest.raises(TypeError, match="AttnRange.end: expected an int"):
        r.end = 1.5
    assert r.to_naive_range() == (10, 15)


@pytest.mark.parametrize("seed", range(20))
def test_range_pair_operations_match_token_sets(seed):
    rng = random.Random(seed)
    for _ in range(50):
        a, b = random_ranges(rng, 2)
        ta, tb = tokens([a]), tokens([b])
        assert a.intersect_size(b) == len(ta & tb)
        assert a.union_size(b) == len(ta | tb)
        assert tokens(a.diff_by(b)) == tb - ta and all(not p.is_empty() for p in a.diff_by(b))
        # Sharing a token means overlapping; an empty range overlaps only when strictly inside.
        inside = a.is_empty() and b.start < a.start < b.end or \
            b.is_empty() and a.start < b.start < a.end
        assert a.is_overlap_with(b) == (bool(ta & tb) or inside)
        assert not a.is_empty() or a.is_subrange_of(b) == (b.start <= a.start <= b.end)
        assert a.is_empty() or a.is_subrange_of(b) == (ta <= tb)
        u = a.union(b)
        fused = not a.is_empty() and not b.is_empty() and a.is_overlap_with(b)
        assert tokens(u) == ta | tb and (len(u) == 1) == fused
        lo, hi = sorted(rng.randrange(45) for _ in range(2))
        t = a.truncate(lo, hi)
        assert tokens([t]) == ta & set(range(lo, hi)) and t.clone() == t
    assert AttnRange(3, 8).truncate(10, 12).to_naive_range() == (10, 10)
    assert AttnRange(3, 8).is_valid_open() and not AttnRange(3, 3).is_valid_open()
    assert AttnRange(3, 3).is_valid_close() and not AttnRange(3, 3).is_valid_close(4, 3)


@pytest.mark.parametrize("seed", range(20))
def test_ranges_set_operations_match_token_sets(seed):
    rng = random.Random(seed)
    a, b = random_ranges(rng, rng.randrange(0, 7)), random_ranges(rng, rng.randrange(0, 7))
    ta, tb = tokens(a), tokens(b)
    hole, overlap = a.find_hole_ranges(b), a.find_overlap_ranges(b)
    assert tokens(hole) == ta - tb and hole.is_merged() and len(hole) == len(hole.merge())
    assert tokens(overlap) == ta & tb and overlap.is_merged()
    assert a.intersect_size() == sum(r.seqlen for r in a) - len(ta)
    ends = {p for r in a for p in (r.start, r.end)}
    assert a.points == sorted(ends) and len(a.points) == len(ends)
    assert tokens(a.truncate(5, 20)) == ta & set(range(5, 20))
    assert all(not r.is_empty() for r in a.truncate(5, 20))
    assert tokens(a.clear_empty()) == ta and all(not r.is_empty() for r in a.clear_empty())
    # Local positions: the merged ranges stored one after another.
    merged = a.merge()
    order = [t for r in merged for t in range(r.start, r.end)]
    for r in merged:
        for s in range(r.start, r.end + 1):
            e = rng.randrange(s, r.end + 1)
            local, holder = a.make_range_local(AttnRange(s, e))
            assert holder == r and order[local.start:local.end] == list(range(s, e))
    if merged:
        with pytest.raises(ValueError, match="not inside one range"):
            a.make_range_local(AttnRange(merged.end, merged.end + 1))
        assert a.make_ranges_local(merged).to_naive_ranges() == AttnRanges.from_cu_seqlens(
            [0] + [sum(r.seqlen for r in merged[: i + 1]) for i in range(len(merged))],
            len(order)).to_naive_ranges()


@pytest.mark.parametrize("chunk", [1, 3, 7, 50])
def test_chunk_cuts_in_order_into_groups_of_chunk_size(chunk):
    rs = AttnRanges.from_ranges([(0, 5), (9, 9), (12, 20), (30, 31)])
    groups = rs.chunk(chunk)
    flat = [t for g in groups for r in g for t in range(r.start, r.end)]
    assert flat == [t for r in rs for t in range(r.start, r.end)]
    assert all(sum(r.seqlen for r in g) == chunk for g in groups[:-1])
    assert 0 < sum(r.seqlen for r in groups[-1]) <= chunk
    with pytest.raises(ValueError, match="overlap"):
        AttnRanges.from_ranges([(0, 5), (3, 8)]).chunk(2)
    with pytest.raises(ValueError, match="chunk_size = 0"):
        rs.chunk(0)


def test_list_mutation_and_predicates():
    rs = AttnRanges.from_ranges([(0, 4), (4, 9)])
    assert rs.is_cu_seqlens(9) and not rs.is_cu_seqlens(10) and AttnRanges().is_cu_seqlens(0)
    assert rs.is_sorted() and not rs.is_merged()  # touching ranges are not merged
    assert AttnRanges.from_ranges([(0, 4), (5, 9)]).is_merged()
    rs.insert(0, (20, 30))
    rs[1] = AttnRange(1, 2)
    rs[1:3] = [(2, 3), (3, 5)]
    assert rs.to_naive_ranges() == [(20, 30), (2, 3), (3, 5)]
    with pytest.raises(ValueError, match="2 ranges for the slice's 1"):
        rs[0:1] = [(0, 1), (1, 2)]
    assert rs.pop().to_naive_range() == (3, 5) and rs.pop(0).to_naive_range() == (20, 30)
    rs.pop()
    with pytest.raises(IndexError, match="empty"):
        rs.pop()
    kept = AttnRange(1, 3)
    rs.append(kept)
    assert rs[0] is kept  # as the original: the list holds the object given
    rs.extend(rs)
    assert rs.to_naive_ranges() == [(1, 3), (1, 3)]
    assert rs.is_valid() and rs.check_valid() is None
    assert is_valid_cu_seqlens([0, 3, 7], 7) and not is_valid_cu_seqlens([0, 3, 3, 7], 7)
    with pytest.raises(ValueError, match=r"cu_seqlens \[1, 7\]"):
        check_valid_cu_seqlens([1, 7], 7)


def test_padding_helpers():
    import torch

    from magi_attention.api import AttnMaskType, apply_padding, pad_at_dim, unpad_at_dim

    x = torch.arange(12.0).reshape(3, 4).requires_grad_()
    y = pad_at_dim(x, 1, 2, value=-1.0)
    assert y.shape == (3, 6) and (y[:, 4:] == -1).all() and torch.equal(y[:, :4], x)
    z = pad_at_dim(x, -2, 1, side="left")
    assert z.shape == (4, 4) and (z[0] == 0).all() and torch.equal(z[1:], x)
    assert torch.equal(unpad_at_dim(y, 1, 2), x) and torch.equal(unpad_at_dim(z, 0, 1), z[:3])
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))
    same = pad_at_dim(x, 0, 0)
    assert same is not x and torch.equal(same, x)  # a new tensor, as the original
    with pytest.raises(ValueError, match="side = 'up'"):
        pad_at_dim(x, 0, 1, side="up")
    with pytest.raises(ValueError, match="dim = 2: out of range"):
        pad_at_dim(x, 2, 1)
    with pytest.raises(ValueError, match="pad_size = 5: more than the 4 rows of dim 1"):
        unpad_at_dim(x, 1, 5)
    q, k = AttnRanges.from_ranges([(0, 10)]), AttnRanges.from_ranges([(0, 10)])
    q2, k2, t2 = apply_padding(q, k, AttnMaskType.CAUSAL, 10, 6)
    assert q2.to_naive_ranges() == [(0, 10), (10, 16)] and k2.to_naive_ranges() == [(0, 10), (0, 0)]
    assert t2 == [AttnMaskType.CAUSAL, AttnMaskType.FULL] and len(q) == 1  # copies
    q3, k3, t3 = apply_padding(q, k, [AttnMaskType.FULL], 10, 0)  # an empty padding slice
    assert q3.to_naive_ranges() == [(0, 10), (10, 10)] and k3.to_naive_ranges()[1] == (0, 0)
    assert t3 == [AttnMaskType.FULL, AttnMaskType.FULL]
