"""The log-sum-exp merges of magi_attention.functional.utils against one FFA call over all keys
(float64, CPU), with sinks, empty rows and in-place forms."""
import pytest
import torch

from magi_attention.functional import (correct_attn_lse, correct_attn_lse_with_sink,
                                       correct_attn_out, correct_attn_out_lse,
                                       correct_attn_out_lse_with_sink, correct_attn_out_with_sink,
                                       flex_flash_attn_func)

S, H, D = 40, 3, 8


def ranges(*pairs):
    return torch.tensor(pairs, dtype=torch.int32)


def inputs():
    g = torch.Generator().manual_seed(0)
    return [torch.randn(S, H, D, generator=g, dtype=torch.float64) for _ in range(3)]


def test_two_halves_merge_to_the_whole():
    q, k, v = inputs()
    # Rows 30.. see no key in the first half, rows 35.. none at all.
    q1, k1 = ranges((0, 30)), ranges((0, 20))
    q2, k2 = ranges((0, 35)), ranges((20, 40))
    o1, l1 = flex_flash_attn_func(q, k, v, q1, k1)
    o2, l2 = flex_flash_attn_func(q, k, v, q2, k2)
    # The whole: rows 0..30 see all keys, 30..35 the second half.
    ow, lw = flex_flash_attn_func(q, k, v, ranges((0, 30), (30, 35)), ranges((0, 40), (20, 40)))
    lse = correct_attn_lse(l1, l2)
    assert torch.allclose(lse, lw, atol=1e-6) and torch.isneginf(lse[35:]).all()
    out = correct_attn_out(o1, l1, o2, l2, lse)
    assert torch.allclose(out, ow, atol=1e-6) and (out[35:] == 0).all()
    o, l = correct_attn_out_lse(o1.clone(), l1.clone(), o2, l2)
    assert torch.allclose(o, ow, atol=1e-6) and torch.allclose(l, lw, atol=1e-6)
    o1c, l1c = o1.clone(), l1.clone()
    ro, rl = correct_attn_out_lse(o1c, l1c, o2, l2, inplace=True)
    assert ro is o1c and rl is l1c and torch.allclose(o1c, ow, atol=1e-6)
    l1c = l1.clone()
    assert correct_attn_lse(l1c, l2, inplace=True) is l1c


@pytest.mark.parametrize("layout", ["sh", "ssh"])
def test_sink_merge_matches_the_kernels_sink(layout):
    q, k, v = inputs()
    g = torch.Generator().manual_seed(1)
    sink = torch.randn((2, H) if layout == "sh" else (S, 2, H), generator=g, dtype=torch.float32)
    qr, kr = ranges((0, 35)), ranges((0, 40))
    o, l = flex_flash_attn_func(q, k, v, qr, kr)
    os_, ls = flex_flash_attn_func(q, k, v, qr, kr, sink=sink, sink_layout=layout)
    assert torch.allclose(correct_attn_lse_with_sink(l, sink, layout), ls, atol=1e-6)
    assert torch.allclose(correct_attn_out_with_sink(o, l, sink, layout), os_, atol=1e-6)
    o2, l2 = correct_attn_out_lse_with_sink(o, l, sink, layout)
    assert torch.allclose(o2, os_, atol=1e-6) and torch.allclose(l2, ls, atol=1e-6)
    # Rows with no key: lse is the sinks' alone, out stays 0.
    assert (o2[35:] == 0).all() and torch.isfinite(l2[35:]).all()


def test_nan_propagates_and_bad_arguments_are_named():
    l1 = torch.tensor([[0.0, float("nan")]])
    l2 = torch.tensor([[1.0, 0.0]])
    merged = correct_attn_lse(l1, l2)
    assert torch.isnan(merged[0, 1]) and torch.isfinite(merged[0, 0])
    with pytest.raises(ValueError, match=r"lse2: expected 2 dims, got shape \[2\]"):
        correct_attn_lse(l1, torch.zeros(2))
    with pytest.raises(ValueError, match="sink_layout = 'shd'"):
        correct_attn_lse_with_sink(l1, torch.zeros(1, 2), "shd")
    with pytest.raises(ValueError, match="sink: 3 rows for 1 query rows"):
        correct_attn_lse_with_sink(l1, torch.zeros(3, 1, 2), "ssh")


def test_the_original_kernels_tuning_keywords_are_accepted_and_index_attention_refused():
    q, k, v = inputs()
    qr, kr = ranges((0, 40)), ranges((0, 40))
    base = flex_flash_attn_func(q, k, v, qr, kr)[0]
    tuned = flex_flash_attn_func(q, k, v, qr, kr, sm_margin=4, disable_fwd_atomic_reduction=True,
                                 disable_bwd_dkv_atomic_reduction=True, auto_range_merge=True,
                                 max_seqlen_q=40, ref_block_size=(64, 64), swap_ab=True,
                                 pack_gqa=True, cat_gqa=True, sparse_load=True,
                                 swap_bwd_qk_loop=True)[0]
    assert torch.equal(base, tuned)
    for kw in ({"index_attn": True}, {"index_attn_indices": torch.zeros(1, dtype=torch.int32)},
               {"q_block_size": 64}, {"k_block_size": 2}):
        with pytest.raises(NotImplementedError, match="index attention"):
            flex_flash_attn_func(q, k, v, qr, kr, **kw)
    with pytest.raises(ValueError, match="q_ranges, k_ranges: required"):
        flex_flash_attn_func(q, k, v)


def test_a_head_without_sinks_has_a_zero_sink_gradient():
    g = torch.Generator().manual_seed(2)
    out = torch.randn(5, 2, 4, generator=g, dtype=torch.float64)
    lse = torch.randn(5, 2, generator=g, dtype=torch.float64)
    sink = torch.tensor([[0.5, float("-inf")], [0.1, float("-inf")]], requires_grad=True)
    o, l = correct_attn_out_lse_with_sink(out, lse, sink)
    assert torch.equal(o[:, 1], out[:, 1]) and torch.equal(l[:, 1], lse[:, 1])
    (o.sum() + l.sum()).backward()
    assert torch.isfinite(sink.grad).all() and (sink.grad[:, 1] == 0).all()
    assert (sink.grad[:, 0] != 0).all()
