"""api/functools.py: infer_attn_mask_from_cu_seqlens with global_window_size (attention-sink
keys) against a dense definition, and the sliding-window helper around it."""

import random

import pytest
import torch

from reference import attention, dense_mask, rel_err

from magi_attention.api import (infer_attn_mask_from_cu_seqlens,
                                infer_attn_mask_from_sliding_window)
from magi_attention.functional.flex_flash_attn import flex_flash_attn_func


def window_mask(cu_q, cu_k, left, right, global_window=0) -> torch.Tensor:
    """bool [total_q, total_k] from the definition: per sequence, relative (i, j), d = Sk - Sq;
    the window d - left <= j - i <= d + right (-1: unbounded side), plus the global keys
    j < G with j - i <= d + right."""
    mask = torch.zeros(cu_q[-1], cu_k[-1], dtype=torch.bool)
    for s in range(len(cu_q) - 1):
        sq, sk = cu_q[s + 1] - cu_q[s], cu_k[s + 1] - cu_k[s]
        i = torch.arange(sq).unsqueeze(1)
        j = torch.arange(sk).unsqueeze(0)
        diff, d = j - i, sk - sq
        below_right = diff <= d + right if right >= 0 else torch.ones(sq, sk, dtype=torch.bool)
        above_left = diff >= d - left if left >= 0 else torch.ones(sq, sk, dtype=torch.bool)
        cell = (above_left & below_right) | ((j < global_window) & below_right)
        mask[cu_q[s]:cu_q[s + 1], cu_k[s]:cu_k[s + 1]] = cell
    return mask


def as_slices(q, k, types):
    return [(a.start, a.end, b.start, b.end, t.to_int_type()) for a, b, t in zip(q, k, types)]


def random_cu(rng, n, max_len):
    cu = [0]
    for _ in range(n):
        cu.append(cu[-1] + rng.randint(1, max_len))
    return cu


def test_union_of_slices_equals_the_definition():
    rng = random.Random(7)
    grew = 0
    for it in range(300):
        n = rng.randint(1, 4)
        cu_q = random_cu(rng, n, 16)
        # Sq != Sk per sequence in most cases; now and then self-attention (Sq == Sk).
        cu_k = list(cu_q) if it % 7 == 0 else random_cu(rng, n, 16)
        left, right = rng.randint(-1, 10), rng.randint(-1, 10)
        if (left, right) == (-1, -1):
            left = rng.randint(0, 5)
        g = rng.randint(1, 20)  # beyond some sequences' key length too
        q, k, types, tq, tk = infer_attn_mask_from_cu_seqlens(
            cu_q, cu_k, window_size=(left, right), global_window_size=g)
        assert (tq, tk) == (cu_q[-1], cu_k[-1])
        assert len(types) <= 5 * n
        slices = as_slices(q, k, types)
        want = window_mask(cu_q, cu_k, left, right, g)
        got = dense_mask(slices, tq, tk)
        assert torch.equal(got, want), (cu_q, cu_k, left, right, g)
        grew += int(want.sum() - window_mask(cu_q, cu_k, left, right).sum())
    assert grew > 0  # the global keys added cells in some cases


def test_zero_global_window_is_the_plain_window_and_tensors_work():
    cu_q, cu_k = torch.tensor([0, 9, 20], dtype=torch.int32), torch.tensor([0, 5, 30])
    for window in ((3, 0), (2, 4), (-1, 1), (4, -1)):
        q, k, types, tq, tk = infer_attn_mask_from_cu_seqlens(cu_q, cu_k, window_size=window)
        got = dense_mask(as_slices(q, k, types), tq, tk)
        assert torch.equal(got, window_mask([0, 9, 20], [0, 5, 30], *window)), window


def test_global_keys_follow_the_right_edge_bottom_right_aligned():
    # Sq = 4, Sk = 12 (d = 8), window (1, 0), G = 5: row 0 sees keys 0..4 and 7..8.
    q, k, types, tq, tk = infer_attn_mask_from_cu_seqlens(
        [0, 4], [0, 12], window_size=(1, 0), global_window_size=5)
    m = dense_mask(as_slices(q, k, types), tq, tk)
    assert m[0].nonzero().flatten().tolist() == [0, 1, 2, 3, 4, 7, 8]
    assert m[3].nonzero().flatten().tolist() == [0, 1, 2, 3, 4, 10, 11]
    # Sq = 12, Sk = 4 (d = -8), window (0, 2), G = 3: row i sees j <= i - 6 among the global
    # keys, so rows 0..5 see nothing and row 7 sees keys 0, 1.
    q, k, types, tq, tk = infer_attn_mask_from_cu_seqlens(
        [0, 12], [0, 4], window_size=(0, 2), global_window_size=3)
    m = dense_mask(as_slices(q, k, types), tq, tk)
    assert not m[:6].any()
    assert m[7].nonzero().flatten().tolist() == [0, 1]


def test_global_window_at_least_the_keys_unbounds_the_left_side():
    cu_q, cu_k = [0, 6, 16], [0, 10, 14]
    for right in (-1, 0, 2):
        a = infer_attn_mask_from_cu_seqlens(cu_q, cu_k, window_size=(1, right),
                                            global_window_size=10)
        b = infer_attn_mask_from_cu_seqlens(cu_q, cu_k, window_size=(-1, right))
        assert torch.equal(dense_mask(as_slices(*a[:3]), 16, 14),
                           dense_mask(as_slices(*b[:3]), 16, 14)), right


def test_bad_global_window_size_raises():
    with pytest.raises(ValueError, match="global_window_size"):
        infer_attn_mask_from_cu_seqlens([0, 8], [0, 8], window_size=(2, 0),
                                        global_window_size=-1)
    with pytest.raises(ValueError, match="global_window_size"):
        infer_attn_mask_from_cu_seqlens([0, 8], [0, 8], global_window_size=2)
    with pytest.raises(ValueError, match="global_window_size"):
        infer_attn_mask_from_cu_seqlens([0, 8], [0, 8], causal=True, global_window_size=2)
    with pytest.raises(TypeError, match="global_window_size"):
        infer_attn_mask_from_cu_seqlens([0, 8], [0, 8], window_size=(2, 0),
                                        global_window_size=1.5)


def test_sliding_window_helper_is_unchanged():
    q, k, types = infer_attn_mask_from_sliding_window((10, 30), (5, 25), (4, 0))
    got = dense_mask(as_slices(q, k, types), 30, 25)
    want = torch.zeros(30, 25, dtype=torch.bool)
    want[10:30, 5:25] = window_mask([0, 20], [0, 20], 4, 0)
    assert torch.equal(got, want)
    assert len(types) <= 3


def test_flex_flash_attn_with_global_window_matches_the_dense_reference():
    cu_q, cu_k = [0, 13, 40, 47], [0, 21, 39, 60]
    window, g = (3, 1), 4
    q_r, k_r, types, tq, tk = infer_attn_mask_from_cu_seqlens(
        cu_q, cu_k, window_size=window, global_window_size=g)
    gen = torch.Generator().manual_seed(3)
    q = torch.randn(tq, 4, 16, generator=gen, dtype=torch.float64)
    k = torch.randn(tk, 2, 16, generator=gen, dtype=torch.float64)
    v = torch.randn(tk, 2, 16, generator=gen, dtype=torch.float64)
    qr = torch.tensor([r.to_naive_range() for r in q_r], dtype=torch.int32)
    kr = torch.tensor([r.to_naive_range() for r in k_r], dtype=torch.int32)
    tm = torch.tensor([t.to_int_type() for t in types], dtype=torch.int32)
    out, lse = flex_flash_attn_func(q.float(), k.float(), v.float(), qr, kr, tm)
    ref_out, ref_lse = attention(q, k, v, window_mask(cu_q, cu_k, *window, g))
    assert rel_err(out, ref_out) <= 1e-5
    assert rel_err(lse, ref_lse) <= 1e-5
