"""flex_flash_attn_func on CPU tensors against the dense torch reference (fwd and bwd)."""

import pytest
import torch

from reference import attention, dense_mask, rel_err

from magi_attention.functional.flex_flash_attn import flex_flash_attn_func

# (name, total_q, total_k, slices (qs, qe, ks, ke, type))
CASES = [
    ("full", 37, 37, [(0, 37, 0, 37, 0)]),
    ("causal", 37, 37, [(0, 37, 0, 37, 1)]),
    ("inv_causal", 37, 37, [(0, 37, 0, 37, 2)]),
    ("bi_causal", 37, 37, [(0, 37, 0, 37, 3)]),
    ("causal_rect", 40, 50, [(0, 20, 5, 45, 1), (20, 40, 0, 10, 1)]),
    ("inv_bi_rect", 40, 50, [(0, 20, 5, 45, 2), (20, 30, 10, 50, 3)]),
    ("varlen_causal", 48, 48, [(0, 16, 0, 16, 1), (16, 40, 16, 40, 1), (40, 48, 40, 48, 0)]),
    # overlapping q ranges: disjoint cells, and cells covered twice (union counts once)
    ("overlap_q", 40, 60, [(0, 30, 0, 10, 0), (10, 40, 10, 40, 1), (0, 40, 35, 60, 3)]),
    ("overlap_cells", 32, 32, [(0, 32, 0, 32, 1), (8, 24, 0, 20, 0), (0, 16, 0, 32, 2)]),
    ("uncovered_rows", 30, 30, [(5, 12, 0, 30, 0), (20, 25, 3, 9, 1)]),
]
HEADS = [(2, 2), (4, 2), (3, 1)]  # MHA, GQA, MQA


def _inputs(total_q, total_k, hq, hkv, d, dtype, seed=0, dv=None):
    dv = d if dv is None else dv
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(total_q, hq, d, generator=g, dtype=torch.float64)
    k = torch.randn(total_k, hkv, d, generator=g, dtype=torch.float64)
    v = torch.randn(total_k, hkv, dv, generator=g, dtype=torch.float64)
    dout = torch.randn(total_q, hq, dv, generator=g, dtype=torch.float64)
    return [t.to(dtype) for t in (q, k, v)], dout


def _run_magi(q, k, v, slices, dout, **kw):
    q, k, v = (t.clone().requires_grad_() for t in (q, k, v))
    qr = torch.tensor([s[:2] for s in slices], dtype=torch.int32)
    kr = torch.tensor([s[2:4] for s in slices], dtype=torch.int32)
    tm = torch.tensor([s[4] for s in slices], dtype=torch.int32)
    out, lse = flex_flash_attn_func(q, k, v, qr, kr, tm, **kw)
    out.backward(dout.to(out.dtype))
    return out, lse, q.grad, k.grad, v.grad


def _run_ref(q, k, v, slices, dout, **kw):
    q, k, v = (t.clone().requires_grad_() for t in (q, k, v))
    mask = dense_mask(slices, q.shape[0], k.shape[0])
    out, lse = attention(q, k, v, mask, **kw)
    out.backward(dout.to(out.dtype))
    return out, lse, q.grad, k.grad, v.grad


@pytest.mark.parametrize("heads", HEADS, ids=lambda h: f"hq{h[0]}_hkv{h[1]}")
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["fp64", "fp32"])
def test_matches_dense_reference(case, heads, dtype):
    _, tq, tk, slices = case
    (q, k, v), dout = _inputs(tq, tk, *heads, 16, dtype)
    got = _run_magi(q, k, v, slices, dout)
    ref = _run_ref(*(t.double() for t in (q, k, v)), slices, dout)
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    for name, x, r in zip(("out", "lse", "dq", "dk", "dv"), got, ref):
        assert x.dtype == (torch.float32 if name == "lse" else dtype), name
        err = rel_err(x, r)
        # NOTE: lse is float32 for every dtype, and backward reads it: fp64 grads ~1e-7.
        limit = tol if name == "out" else max(tol, 1e-6)
        assert err <= limit, f"{name}: relative error {err:.3e} > {tol:g}"


@pytest.mark.parametrize("case", CASES[:4] + CASES[7:9], ids=lambda c: c[0])
def test_bfloat16_rule(case):
    """bf16 rule (STYLE.md 22): error vs the fp64 reference <= 3 x the error of the same
    computation done by torch in bf16, + 1e-3."""
    _, tq, tk, slices = case
    (q, k, v), dout = _inputs(tq, tk, 4, 2, 64, torch.bfloat16)
    got = _run_magi(q, k, v, slices, dout)
    ref = _run_ref(*(t.double() for t in (q, k, v)), slices, dout)
    low = _run_ref(q, k, v, slices, dout)
    for name, x, r, lp in zip(("out", "lse", "dq", "dk", "dv"), got, ref, low):
        err, err_lp = rel_err(x, r), rel_err(lp, r)
        assert err <= 3 * err_lp + 1e-3, f"{name}: {err:.3e} > 3 * {err_lp:.3e} + 1e-3"


def test_softmax_scale_and_softcap():
    slices = [(0, 24, 0, 24, 1)]
    (q, k, v), dout = _inputs(24, 24, 2, 2, 16, torch.float64)
    got = _run_magi(q, k, v, slices, dout, softmax_scale=0.3, softcap=2.0)
    ref = _run_ref(q, k, v, slices, dout, softmax_scale=0.3, softcap=2.0)
    for name, x, r in zip(("out", "lse", "dq", "dk", "dv"), got, ref):
        assert rel_err(x, r) <= (1e-10 if name == "out" else 1e-6), name


def test_deterministic_flag_on_cpu():
    """deterministic=True is accepted on the CPU (whose kernels always are) and changes
    nothing: bit-identical to the default, run after run."""
    slices = CASES[7][3]
    (q, k, v), dout = _inputs(40, 60, 4, 2, 16, torch.float32)
    base = _run_magi(q, k, v, slices, dout)
    for _ in range(2):
        det = _run_magi(q, k, v, slices, dout, deterministic=True)
        for name, x, y in zip(("out", "lse", "dq", "dk", "dv"), base, det):
            assert torch.equal(x, y), name


def test_no_slices_gives_zero_and_minus_inf():
    (q, k, v), _ = _inputs(8, 8, 2, 2, 16, torch.float32)
    empty = torch.zeros(0, 2, dtype=torch.int32)
    out, lse = flex_flash_attn_func(q, k, v, empty, empty)
    assert torch.all(out == 0) and torch.all(torch.isneginf(lse))


def test_strided_and_misaligned_inputs_and_range_cache():
    """Strided (last dim contiguous) and misaligned inputs give the same result; repeated calls
    reuse the prepared work (one object, no new conversion) until a range tensor is modified in
    place."""
    from magi_attention.functional import flex_flash_attn as ffa_mod

    slices = [(0, 20, 0, 20, 1)]
    g = torch.Generator().manual_seed(3)
    q = torch.randn(20, 2, 32, generator=g, dtype=torch.float64)[:, :, :16]
    k = torch.randn(20 * 2 * 16 + 1, generator=g, dtype=torch.float64)[1:].view(20, 2, 16)
    v = torch.randn(20, 4, 16, generator=g, dtype=torch.float64)[:, 1:3]
    dout = torch.randn(20, 2, 16, generator=g, dtype=torch.float64)
    got = _run_magi(q, k, v, slices, dout)
    ref = _run_ref(q, k, v, slices, dout)
    for name, x, r in zip(("out", "lse", "dq", "dk", "dv"), got, ref):
        assert rel_err(x, r) <= (1e-10 if name == "out" else 1e-6), name

    qr = torch.tensor([[0, 20]], dtype=torch.int32)
    tm = torch.tensor([1], dtype=torch.int32)
    out1, _ = flex_flash_attn_func(q, k, v, qr, qr, tm)
    entries, work = len(ffa_mod._WORK_CACHE), ffa_mod._work_of(qr, qr, tm, 20, 20)
    out2, _ = flex_flash_attn_func(q, k, v, qr, qr, tm)
    assert len(ffa_mod._WORK_CACHE) == entries and torch.equal(out1, out2)
    assert ffa_mod._work_of(qr, qr, tm, 20, 20) is work
    tm[0] = 0  # in place: the cached copy must not be used
    out3, _ = flex_flash_attn_func(q, k, v, qr, qr, tm)
    ref3, _ = attention(q, k, v, dense_mask([(0, 20, 0, 20, 0)], 20, 20))
    assert rel_err(out3, ref3) <= 1e-10
    assert ffa_mod._work_of(qr, qr, tm, 20, 20) is not work
    # Writes that torch does not count (no _version bump) are seen too: through numpy, through
    # .data; and range tensors made under inference_mode (no version counter) work.
    kr = torch.tensor([[0, 20]], dtype=torch.int32)
    flex_flash_attn_func(q, k, v, qr, kr, tm)
    for write, end in ((lambda: kr.numpy().__setitem__((0, 1), 4), 4),
                       (lambda: kr.data.__setitem__((0, 1), 9), 9)):
        write()
        got, _ = flex_flash_attn_func(q, k, v, qr, kr, tm)
        ref, _ = attention(q, k, v, dense_mask([(0, 20, 0, end, 0)], 20, 20))
        assert rel_err(got, ref) <= 1e-10, end
    with torch.inference_mode():
        ir = torch.tensor([[0, 12]], dtype=torch.int32)
    for end in (12, 6):
        if end == 6:
            with torch.inference_mode():
                ir[0, 1] = 6
        got, _ = flex_flash_attn_func(q, k, v, ir, ir)
        ref, _ = attention(q, k, v, dense_mask([(0, end, 0, end, 0)], 20, 20))
        assert rel_err(got, ref) <= 1e-10, end


@pytest.mark.parametrize("d", [192, 256])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_head_dims_192_and_256(d, dtype):
    """The head dims of video and MLA-style models on the CPU kernels (GQA, two mask cases);
    bf16 by the rule of test_bfloat16_rule."""
    for _, tq, tk, slices in (CASES[4], CASES[7]):
        (q, k, v), dout = _inputs(tq, tk, 4, 2, d, dtype, seed=d)
        _check_wide(q, k, v, slices, dout, f"d={d}")


def _check_wide(q, k, v, slices, dout, label):
    """out, lse and the gradients against float64 within 1e-5, or in bf16 by the rule of
    test_bfloat16_rule (3x the error of the same formula in bf16, plus 1e-3)."""
    got = _run_magi(q, k, v, slices, dout)
    ref = _run_ref(*(t.double() for t in (q, k, v)), slices, dout)
    low = _run_ref(q, k, v, slices, dout) if q.dtype == torch.bfloat16 else None
    for i, (name, x, r) in enumerate(zip(("out", "lse", "dq", "dk", "dv"), got, ref)):
        assert x.shape == r.shape, f"{label} {name}: shape {tuple(x.shape)}"
        err = rel_err(x, r)
        limit = 1e-5 if low is None else 3 * rel_err(low[i], r) + 1e-3
        assert err <= limit, f"{label} {name}: relative error {err:.3e} > {limit:.3e}"


@pytest.mark.parametrize("dims", [(192, 128), (24, 40)], ids=["mla_192_128", "24_40"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_value_head_dim_of_its_own(dims, dtype):
    """v's head dim apart from q / k's (MLA: 192 / 128; and a wider v) on the CPU kernels: out
    and dv take v's width; GQA, three mask cases; bf16 by the rule of test_bfloat16_rule."""
    d, dv = dims
    for _, tq, tk, slices in (CASES[4], CASES[7], CASES[9]):
        (q, k, v), dout = _inputs(tq, tk, 4, 2, d, dtype, seed=d, dv=dv)
        _check_wide(q, k, v, slices, dout, f"d={d} dv={dv}")
