"""The attention sink through the Python API (flex_flash_attn_func, calc_attn) against a dense
float64 softmax with the sinks as extra columns: out, lse and the gradients of q, k, v and
sink, both layouts, GQA; 1, 2, 4 and 8 gloo ranks with each MAGI_ATTENTION_DSINK_ALL_REDUCE_OP;
validation errors; non-finite sinks."""

import pytest
import torch

from magi_attention.api import flex_flash_attn_func
from dist_harness import run_ranks
from reference import attention, attention_with_sink, dense_mask, rel_err
from sink_workers import NS, qkv_sink_of, run_sink

SLICES = [(0, 6, 0, 6, 1), (4, 12, 2, 11, 0), (5, 9, 0, 4, 0), (14, 20, 3, 20, 3)]  # row 12-13: none


def _ranges(slices):
    qr = torch.tensor([[s[0], s[1]] for s in slices], dtype=torch.int32)
    kr = torch.tensor([[s[2], s[3]] for s in slices], dtype=torch.int32)
    tm = torch.tensor([s[4] for s in slices], dtype=torch.int32)
    return qr, kr, tm


def _inputs(dtype, hq, hkv, layout, sq=20, sk=20, d=8, ns=3, seed=0, dv=None):
    dv = d if dv is None else dv
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(sq, hq, d, generator=g, dtype=torch.float64).to(dtype)
    k = torch.randn(sk, hkv, d, generator=g, dtype=torch.float64).to(dtype)
    v = torch.randn(sk, hkv, dv, generator=g, dtype=torch.float64).to(dtype)
    shape = (ns, hq) if layout == "sh" else (sq, ns, hq)
    sink = (2 * torch.randn(shape, generator=g)).float()
    sink.view(-1)[1] = float("-inf")  # one sink that is "no sink"
    dout = torch.randn(sq, hq, dv, generator=g, dtype=torch.float64).to(dtype)
    return q, k, v, sink, dout


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("heads", [(4, 4), (4, 2), (4, 1)], ids=["mha", "gqa", "mqa"])
@pytest.mark.parametrize("layout", ["sh", "ssh"])
@pytest.mark.parametrize("dv", [8, 5], ids=["dv8", "dv5"])  # dv5: v's head dim apart (MLA-like)
def test_ffa_sink_matches_dense(dv, layout, heads, dtype):
    q, k, v, sink, dout = _inputs(dtype, *heads, layout, dv=dv)
    qr, kr, tm = _ranges(SLICES)
    leaves = [t.clone().requires_grad_() for t in (q, k, v, sink)]
    out, lse = flex_flash_attn_func(*leaves[:3], qr, kr, tm, sink=leaves[3], sink_layout=layout)
    (out.double() * dout.double()).sum().backward()

    ref_leaves = [t.double().requires_grad_() for t in (q, k, v, sink)]
    mask = dense_mask(SLICES, q.shape[0], k.shape[0])
    ref_out, ref_lse = attention_with_sink(*ref_leaves[:3], mask, ref_leaves[3], layout)
    (ref_out * dout.double()).sum().backward()

    tol = 1e-6 if dtype == torch.float64 else 2e-5  # lse (and dsink) are float32 everywhere
    assert lse.dtype == torch.float32 and leaves[3].grad.dtype == torch.float32
    for name, got, ref in (("out", out, ref_out), ("lse", lse, ref_lse),
                           ("dq", leaves[0].grad, ref_leaves[0].grad),
                           ("dk", leaves[1].grad, ref_leaves[1].grad),
                           ("dv", leaves[2].grad, ref_leaves[2].grad),
                           ("dsink", leaves[3].grad, ref_leaves[3].grad)):
        err = rel_err(got, ref.detach())
        assert err <= tol, f"{name}: relative error {err:.3e} > {tol:g}"
    # Rows 12 and 13 have no key: out 0, lse = logsumexp of their sinks.
    assert torch.equal(out[12:14].detach(), torch.zeros_like(out[12:14]))
    assert torch.isfinite(lse[12:14]).all()
    # The -inf sink gets no gradient.
    assert leaves[3].grad.view(-1)[1] == 0


def test_minus_inf_sink_is_no_sink_and_nan_propagates():
    q, k, v, _, _ = _inputs(torch.float32, 4, 2, "sh")
    qr, kr, tm = _ranges(SLICES)
    out0, lse0 = flex_flash_attn_func(q, k, v, qr, kr, tm)
    none = torch.full((2, 4), float("-inf"))
    out1, lse1 = flex_flash_attn_func(q, k, v, qr, kr, tm, sink=none)
    assert torch.equal(out0, out1) and torch.equal(lse0, lse1)
    # A NaN in q stays in its row (lse and out), with or without a sink.
    qn = q.clone()
    qn[3, 1, 0] = float("nan")
    sink = torch.zeros(2, 4)
    out2, lse2 = flex_flash_attn_func(qn, k, v, qr, kr, tm, sink=sink)
    assert torch.isnan(lse2[3, 1]) and torch.isnan(out2[3, 1]).all()
    assert torch.isfinite(lse2[torch.arange(20) != 3]).all()
    # A NaN sink logit makes the rows of its head NaN.
    sink[0, 2] = float("nan")
    out3, lse3 = flex_flash_attn_func(q, k, v, qr, kr, tm, sink=sink)
    assert torch.isnan(lse3[:, 2]).all() and torch.isnan(out3[:, 2]).all()
    assert torch.isfinite(lse3[:, [0, 1, 3]]).all()


def test_seed_form_without_sink_and_sink_only_grad():
    q, k, v, sink, _ = _inputs(torch.float64, 4, 2, "sh")
    qr, kr, tm = _ranges(SLICES)
    out, lse = flex_flash_attn_func(q, k, v, qr, kr, tm)  # the seed's form
    ref, _ = attention(q, k, v, dense_mask(SLICES, 20, 20))
    assert rel_err(out, ref) <= 1e-10
    s = sink.clone().requires_grad_()  # only the sink needs a gradient
    out, _ = flex_flash_attn_func(q, k, v, qr, kr, tm, sink=s)
    out.sum().backward()
    assert s.grad is not None and s.grad.shape == s.shape


@pytest.mark.parametrize("sink, layout, exc, words", [
    (torch.zeros(2, 4, dtype=torch.float64), "sh", TypeError, "float32"),
    (torch.zeros(2, 3), "sh", ValueError, "[num_sink, 4]"),
    (torch.zeros(0, 4), "sh", ValueError, "num_sink = 0"),
    (torch.zeros(19, 2, 4), "ssh", ValueError, "[20, num_sink, 4]"),
    (torch.zeros(2, 4), "ssh", ValueError, "expected 3 dims"),
    (torch.zeros(2, 4), "shd", ValueError, "sink_layout = 'shd'"),
    ([[0.0]], "sh", TypeError, "sink"),
])
def test_sink_validation(sink, layout, exc, words):
    q, k, v, _, _ = _inputs(torch.float32, 4, 2, "sh")
    qr, kr, tm = _ranges(SLICES)
    with pytest.raises(exc) as info:
        flex_flash_attn_func(q, k, v, qr, kr, tm, sink=sink, sink_layout=layout)
    assert words in str(info.value)


# ---- distributed ----------------------------------------------------------------------------

@pytest.mark.parametrize("world_size, case", [(1, ("flex", "default")),
                                              (2, ("flex", "no_overlap")),
                                              (4, ("flex", "seq_3stages")),
                                              (8, ("varlen_causal", "default"))],
                         ids=lambda x: str(x) if isinstance(x, int) else "-".join(x))
def test_calc_attn_sink_matches_dense(world_size, case):
    total = 100
    results = run_ranks(run_sink, world_size, case, total, timeout=300)
    r0 = results[0]
    for name, res in r0["runs"].items():
        layout, op = name.split("-")
        x = r0["x"].detach().clone().requires_grad_()
        sink = res["sink"].double().requires_grad_()
        q, k, v = qkv_sink_of(x)
        out, _ = attention_with_sink(q, k, v, dense_mask(r0["slices"], total, total), sink, layout)
        g = torch.randn(out.shape, generator=torch.Generator().manual_seed(1),
                        dtype=torch.float64)
        (out * g).sum().backward()
        for r, rr in enumerate(results):
            got = rr["runs"][name]
            assert rel_err(got["out"], out.detach()) <= 1e-6, (name, r)
            assert rel_err(got["x_grad"], x.grad) <= 1e-6, (name, r)
        grads = [rr["runs"][name]["sink_grad"] for rr in results]
        if layout == "ssh" or op == "sum":  # exact on every rank
            for r, gr in enumerate(grads):
                assert rel_err(gr, sink.grad) <= 1e-5, (name, r)
        elif op == "avg":
            for r, gr in enumerate(grads):
                assert rel_err(gr * world_size, sink.grad) <= 1e-5, (name, r)
        else:  # none: partial per rank, summing to the gradient
            assert rel_err(sum(gr.double() for gr in grads), sink.grad) <= 1e-5, name
            if world_size > 1:
                assert not torch.equal(grads[0], grads[1]), "the partials should differ"
        if op != "none" or layout == "ssh":
            assert all(torch.equal(gr, grads[0]) for gr in grads), name  # same bits everywhere
    if world_size == 1:  # calc_attn's validation errors, checked in the same process
        assert r0["validated"] == "ok"
