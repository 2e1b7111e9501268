"""GPU tests of the CUDA FFA kernels against a float64 reference.

Rule (FA3 style): max |ffa - ref64| <= 2 * max |ref_lowprec - ref64| + atol, for out, lse, dq,
dk, dv, where ref_lowprec is the same computation done by torch in the kernel's dtype.
Run: PYTHONPATH=python python3 -m pytest tests/cuda -q
"""
import os
import random
import subprocess
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))
from ffa_ref import attention_ref, dense_mask  # noqa: E402

if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

from magi_attention import flex_flash_attn_func  # noqa: E402
from magi_attention.functional import flex_flash_attn as ffa_mod  # noqa: E402

DEV = torch.device("cuda")
# Whether FFA runs its Hopper kernels here (the deterministic mode and the tile plan need them).
HOPPER = (torch.cuda.get_device_capability() == (9, 0)
          and os.environ.get("MAGI_FFA_PORTABLE", "0") in ("", "0"))
SHAPES_SEEN = set()


def random_slices(rng, sq, sk, n_max=6):
    """Any types, overlapping q ranges, slices sharing cells, empty slices."""
    out = []
    for _ in range(rng.randint(1, n_max)):
        a, b = sorted(rng.randint(0, sq) for _ in range(2))
        c, d = sorted(rng.randint(0, sk) for _ in range(2))
        out.append((a, b, c, d, rng.randint(0, 3)))
    return out


def varlen(rng, s, typ, n=5):
    cuts = sorted(rng.sample(range(1, s), n - 1))
    b = [0] + cuts + [s]
    return [(b[i], b[i + 1], b[i], b[i + 1], typ) for i in range(n)]


def swa(s, w):
    return [(0, w, 0, w, 1), (w, s, 1, s, 3)]


def to_tensors(slices):
    qr = torch.tensor([[a, b] for a, b, _, _, _ in slices], dtype=torch.int32, device=DEV)
    kr = torch.tensor([[c, d] for _, _, c, d, _ in slices], dtype=torch.int32, device=DEV)
    tm = torch.tensor([t for *_, t in slices], dtype=torch.int32, device=DEV)
    return qr, kr, tm


def check(name, got, ref64, reflp, atol_scale=1e-3):
    got = got.double()
    if name == "lse":
        fin = torch.isfinite(ref64)
        assert torch.equal(torch.isfinite(got), fin), "lse: -inf pattern differs"
        assert not torch.isnan(got).any()
        got, ref64, reflp = got[fin], ref64[fin], reflp.double()[fin]
        if got.numel() == 0:
            return
    assert not torch.isnan(got).any(), f"{name}: NaN"
    err = (got - ref64).abs().max().item() if got.numel() else 0.0
    err_lp = (reflp.double() - ref64).abs().max().item() if got.numel() else 0.0
    atol = atol_scale * (1.0 + (ref64.abs().max().item() if got.numel() else 0.0))
    assert err <= 2 * err_lp + atol, f"{name}: err {err:.3e} > 2 * {err_lp:.3e} + {atol:.1e}"


def run_case(slices, sq, sk, hq, hkv, d, dtype, softcap=0.0, seed=0, dv=None):
    """``dv``: v's head dim (None: d)."""
    dv = d if dv is None else dv
    SHAPES_SEEN.add((sq, sk, hq, hkv, d if dv == d else f"{d}/{dv}", str(dtype), softcap > 0))
    torch.manual_seed(seed)
    q = torch.randn(sq, hq, d, device=DEV, dtype=dtype)
    k = torch.randn(sk, hkv, d, device=DEV, dtype=dtype)
    v = torch.randn(sk, hkv, dv, device=DEV, dtype=dtype)
    dout = torch.randn(sq, hq, dv, device=DEV, dtype=dtype)
    scale = d ** -0.5
    mask = dense_mask(slices, sq, sk, DEV)
    r64 = attention_ref(q, k, v, dout, mask, scale, softcap, torch.float64)
    rlp = attention_ref(q, k, v, dout, mask, scale, softcap, dtype)

    # Forward through the low-level entry with poisoned outputs: every element must be written.
    qr, kr, tm = to_tensors(slices)
    sl = ffa_mod._get_slices(qr, kr, tm)
    out = torch.full((sq, hq, dv), float("nan"), device=DEV, dtype=dtype)
    lse = torch.full((sq, hq), float("nan"), device=DEV)
    ffa_mod.ffa_forward(q, k, v, sl, scale, softcap, out=out, lse=lse)
    torch.cuda.synchronize()
    check("out", out, r64[0], rlp[0])
    check("lse", lse, r64[1], rlp[1])

    # Backward through autograd (dq/dk/dv accumulated in fp32, then cast).
    qg, kg, vg = (x.clone().requires_grad_(True) for x in (q, k, v))
    o2, l2 = flex_flash_attn_func(qg, kg, vg, qr, kr, tm, softmax_scale=scale, softcap=softcap)
    assert torch.equal(o2, out)
    o2.backward(dout)
    check("dq", qg.grad, r64[2], rlp[2])
    check("dk", kg.grad, r64[3], rlp[3])
    check("dv", vg.grad, r64[4], rlp[4])

    # The fp32 gradient accumulators are added into (dk and dv of their own widths).
    bases = [torch.randn(x.shape, device=DEV) for x in (q, k, v)]
    dq, dk, dv_ = (b.clone() for b in bases)
    ffa_mod.ffa_backward(dout, q, k, v, out, lse, sl, scale, softcap, dq=dq, dk=dk, dv=dv_)
    for name, got, base, i in (("dq", dq, bases[0], 2), ("dk", dk, bases[1], 3),
                               ("dv", dv_, bases[2], 4)):
        check(name + "(add)", got - base, r64[i], rlp[i])


DTYPES = [torch.bfloat16, torch.float16]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize("seed", range(4))
def test_random_masks(dtype, d, seed):
    rng = random.Random(seed * 7 + d)
    sq, sk = rng.randint(100, 700), rng.randint(100, 700)
    hkv = rng.choice([1, 2])
    hq = hkv * rng.choice([1, 2])
    run_case(random_slices(rng, sq, sk), sq, sk, hq, hkv, d, dtype, seed=seed)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("typ", [0, 1, 2, 3])
def test_each_type_unaligned(dtype, typ):
    # Sq != Sk, unaligned to every tile size, one slice of the type plus a second slice
    # whose q range overlaps it.
    sq, sk = 389, 517
    slices = [(13, 389, 7, 500, typ), (200, 300, 0, 517, (typ + 1) % 4)]
    run_case(slices, sq, sk, 4, 2, 128, dtype, seed=typ)


@pytest.mark.parametrize("name", ["full", "causal", "varlen_full", "varlen_causal", "swa",
                                  "block_causal", "empty_rows", "shared_cells"])
@pytest.mark.parametrize("d", [64, 128])
def test_named_masks(name, d):
    rng = random.Random(1)
    s = 1000
    if name == "full":
        sl = [(0, s, 0, s, 0)]
    elif name == "causal":
        sl = [(0, s, 0, s, 1)]
    elif name == "varlen_full":
        sl = varlen(rng, s, 0)
    elif name == "varlen_causal":
        sl = varlen(rng, s, 1)
    elif name == "swa":
        sl = swa(s, 128)
    elif name == "block_causal":
        sl = [(a, min(a + 256, s), 0, min(a + 256, s), 0) for a in range(0, s, 256)]
    elif name == "empty_rows":
        sl = [(100, 300, 0, 500, 0), (600, 700, 650, 900, 1), (750, 760, 0, 0, 0)]
    else:  # every cell of the causal part covered twice or three times
        sl = [(0, s, 0, s, 1), (0, s, 0, s, 1), (200, 600, 0, 400, 0), (0, s, 0, s, 3)]
    run_case(sl, s, s, 4, 4, d, torch.bfloat16)


def test_gqa_softcap():
    rng = random.Random(5)
    sl = random_slices(rng, 600, 600) + [(0, 600, 0, 600, 1)]
    run_case(sl, 600, 600, 8, 2, 128, torch.bfloat16, softcap=30.0)
    run_case(sl, 600, 600, 8, 1, 64, torch.float16, softcap=5.0)


def forward_one_slice(q, k, v, typ, scale, dtype):
    """The forward of one slice of type `typ` over all of q and k, in `dtype` (out and lse
    poisoned first), checked against the float64 reference."""
    q, k, v = (x.to(dtype) for x in (q, k, v))
    s, hq, _ = q.shape
    slices = [(0, s, 0, k.shape[0], typ)]
    mask = dense_mask(slices, s, k.shape[0], DEV)
    dout = torch.zeros(s, hq, v.shape[2], device=DEV, dtype=dtype)
    r64 = attention_ref(q, k, v, dout, mask, scale, 0.0, torch.float64)
    rlp = attention_ref(q, k, v, dout, mask, scale, 0.0, dtype)
    sl = ffa_mod._get_slices(*to_tensors(slices))
    out = torch.full((s, hq, v.shape[2]), float("nan"), device=DEV, dtype=dtype)
    lse = torch.full((s, hq), float("nan"), device=DEV)
    ffa_mod.ffa_forward(q, k, v, sl, scale, 0.0, out=out, lse=lse)
    torch.cuda.synchronize()
    check("out", out, r64[0], rlp[0])
    check("lse", lse, r64[1], rlp[1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [64, 128, 256])
@pytest.mark.parametrize("jump", [20, 200], ids=["moves", "overflows"])
@pytest.mark.parametrize("typ", [0, 1], ids=["full", "causal"])
def test_score_far_above_the_running_max(dtype, d, jump, typ):
    """One key, in a later key tile, scores `jump` log2 units above every key before it: the
    row's reference moves there (20: past the slack, 200: where 2^(score - reference) overflows
    fp32, so the Hopper forward takes that tile's scores again from q and k)."""
    s, hq, hkv, big = 640, 4, 2, 400
    torch.manual_seed(jump + d)
    q = 0.1 * torch.randn(s, hq, d, device=DEV)
    k = torch.randn(s, hkv, d, device=DEV)
    v = torch.randn(s, hkv, d, device=DEV)
    scale = d ** -0.5
    a = 8.0
    b = round(jump / (a * scale * 1.4426950408889634))
    q[:, :, 0] = a
    k[:, :, 0] = 0.0
    k[big, :, 0] = b
    forward_one_slice(q, k, v, typ, scale, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize("rise", [2.0, 9.0])
@pytest.mark.parametrize("typ", [0, 1], ids=["full", "causal"])
def test_scores_rising_along_the_row(dtype, d, rise, typ):
    """Scores that rise by `rise` log2 units every 128 keys along every row (as bench_ffa.py
    --inputs rising:X): the rows' references move again and again, and the summed softmax's
    check by the row sums fails on most key tiles (softmax.cuh, bench/NOTES.md v66)."""
    s, hq, hkv = 1536, 4, 2
    torch.manual_seed(int(rise) + d + typ)
    q = torch.randn(s, hq, d, device=DEV)
    k = torch.randn(s, hkv, d, device=DEV)
    v = torch.randn(s, hkv, d, device=DEV)
    scale = d ** -0.5
    a = 4.0
    u = torch.randn(d, device=DEV)
    u /= u.norm()
    b = torch.arange(s, device=DEV, dtype=torch.float32) * (
        rise / (128 * 1.4426950408889634 * a * scale))
    q += a * u
    k += b[:, None, None] * u
    forward_one_slice(q, k, v, typ, scale, dtype)


@pytest.mark.parametrize("d,dv", [(64, 64), (128, 128), (192, 128)], ids=["64", "128", "mla"])
def test_accumulate_merge(d, dv):
    """Two calls over disjoint key sets merged by log-sum-exp equal one call over the union
    (merge mode, calc_attn's stages; with MLA's dims out has v's width)."""
    rng = random.Random(3)
    sq, sk, h = 500, 800, 4
    a = [(x[0], x[1], min(x[2], 400), min(x[3], 400), x[4]) for x in random_slices(rng, sq, sk)]
    b = [(x[0], x[1], max(x[2], 400), max(x[3], 400), x[4]) for x in random_slices(rng, sq, sk)]
    torch.manual_seed(0)
    q = torch.randn(sq, h, d, device=DEV, dtype=torch.bfloat16)
    k = torch.randn(sk, h, d, device=DEV, dtype=torch.bfloat16)
    v = torch.randn(sk, h, dv, device=DEV, dtype=torch.bfloat16)
    scale = d ** -0.5
    out = torch.full((sq, h, dv), float("nan"), device=DEV)
    lse = torch.full((sq, h), float("-inf"), device=DEV)
    for part in (a, b):
        sl = ffa_mod._get_slices(*to_tensors(part))
        ffa_mod.ffa_forward(q, k, v, sl, scale, 0.0, out=out, lse=lse, accumulate=True)
    dout = torch.zeros(sq, h, dv, device=DEV, dtype=torch.bfloat16)
    mask = dense_mask(a + b, sq, sk, DEV)
    r64 = attention_ref(q, k, v, dout, mask, scale, 0.0, torch.float64)
    rlp = attention_ref(q, k, v, dout, mask, scale, 0.0, torch.bfloat16)
    empty = ~mask.any(1)
    out = torch.where(empty[:, None, None], torch.zeros_like(out), out)  # never written rows
    check("out", out, r64[0], rlp[0])
    check("lse", lse, r64[1], rlp[1])


@pytest.mark.parametrize("hkv,kind", [(4, "disjoint"), (4, "overlapping"), (2, "disjoint")])
def test_backward_dkv_in_input_dtype(hkv, kind):
    """dk / dv passed in the input dtype are overwritten with the gradient (direct stores when
    every key row has one owner block and one query head, fp32 scratch and a cast otherwise)
    and equal the fp32-accumulator result rounded; keys without cells get 0."""
    sq, sk, h, d = 700, 700, 4, 128
    if kind == "disjoint":
        sl = [(0, 300, 0, 300, 1), (300, 640, 300, 640, 0), (640, 700, 640, 650, 3)]
    else:  # a large slice whose key blocks start at 50 overlaps the blocks starting at 0
        sl = [(0, 300, 0, 300, 0), (300, 700, 50, 650, 1)]
    torch.manual_seed(5)
    q = torch.randn(sq, h, d, device=DEV, dtype=torch.bfloat16)
    k = torch.randn(sk, hkv, d, device=DEV, dtype=torch.bfloat16)
    v = torch.randn(sk, hkv, d, device=DEV, dtype=torch.bfloat16)
    dout = torch.randn(sq, h, d, device=DEV, dtype=torch.bfloat16)
    slices = ffa_mod._get_slices(*to_tensors(sl))
    scale = d ** -0.5
    out, lse = ffa_mod.ffa_forward(q, k, v, slices, scale, 0.0)
    _, dk32, dv32 = ffa_mod.ffa_backward(dout, q, k, v, out, lse, slices, scale, 0.0)
    dk16 = torch.full_like(k, float("nan"))
    dv16 = torch.full_like(v, float("nan"))
    _, dk16, dv16 = ffa_mod.ffa_backward(dout, q, k, v, out, lse, slices, scale, 0.0,
                                         dk=dk16, dv=dv16)
    torch.cuda.synchronize()
    for name, got, ref in (("dk", dk16, dk32), ("dv", dv16, dv32)):
        assert got.dtype == torch.bfloat16 and not torch.isnan(got).any(), name
        assert torch.equal(got[650:], torch.zeros_like(got[650:])), f"{name}: uncovered keys"
        err = (got.double() - ref.double()).abs().max().item()
        assert err <= 1e-2 * ref.abs().max().item(), f"{name}: {err}"


@pytest.mark.parametrize("d", [64, 128, 256])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
@pytest.mark.parametrize("det", [False, True], ids=["default", "deterministic"])
def test_backward_dq_in_input_dtype(d, layout, det):
    """dq passed in the input dtype (poisoned with NaN) is overwritten with the gradient: cast
    after the kernel, or (test_backward_dq_cast_by_the_kernel) by the Hopper kernel at head dims
    64 / 128 where its rows take 8-byte stores (sm90/dq_cast.h; else after it: head dim 256,
    strides of 2 mod 4 elements); equal to the fp32-accumulator result rounded, bitwise in the
    deterministic mode (its sums do not depend on the CTAs' order); rows no cell touches get 0. The slices start off the 64-row
    blocks (a tile adds to two blocks), overlap, and leave rows 0-9, 420-449, 650-699 empty."""
    if det and not HOPPER:
        pytest.skip("the deterministic mode runs the Hopper backward")
    sq, sk, hq, hkv = 700, 600, 4, 2
    sl = [(10, 300, 0, 300, 1), (100, 420, 50, 600, 0), (450, 650, 300, 600, 3)]
    torch.manual_seed(d)
    q = torch.randn(sq, hq, d, device=DEV, dtype=torch.bfloat16)
    k, v = (torch.randn(sk, hkv, d, device=DEV, dtype=torch.bfloat16) for _ in range(2))
    dout = torch.randn(sq, hq, d, device=DEV, dtype=torch.bfloat16)
    slices = ffa_mod._get_slices(*to_tensors(sl))
    out, lse = ffa_mod.ffa_forward(q, k, v, slices, d ** -0.5, 0.0)
    dq32, _, _ = ffa_mod.ffa_backward(dout, q, k, v, out, lse, slices, d ** -0.5, 0.0,
                                      deterministic=det)
    pad = 2 if layout == "strided" else 0
    dq16 = torch.full((sq, hq, d + pad), float("nan"), device=DEV, dtype=torch.bfloat16)
    dq16 = dq16[:, :, :d]
    ffa_mod.ffa_backward(dout, q, k, v, out, lse, slices, d ** -0.5, 0.0, dq=dq16,
                         deterministic=det)
    torch.cuda.synchronize()
    assert not torch.isnan(dq16).any()
    for r0, r1 in ((0, 10), (420, 450), (650, 700)):
        assert torch.equal(dq16[r0:r1], torch.zeros_like(dq16[r0:r1])), f"rows {r0}-{r1}"
    if det:
        assert torch.equal(dq16, dq32.to(torch.bfloat16))
    else:
        err = (dq16.double() - dq32.double()).abs().max().item()
        assert err <= 1e-2 * dq32.abs().max().item(), err


@pytest.mark.skipif(not HOPPER, reason="the dQ cast by the kernel is the Hopper backward's")
def test_backward_dq_cast_by_the_kernel():
    """The tests above, with dq cast by the Hopper kernel itself (MAGI_FFA_BWD_DQ_CAST=1, a
    development variant read once per process: a fresh one)."""
    env = dict(os.environ, MAGI_FFA_BWD_DQ_CAST="1")
    r = subprocess.run([sys.executable, "-m", "pytest", __file__, "-q", "-k",
                        "dq_in_input_dtype or without_cells"], env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0 and "13 passed" in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]


def test_backward_gradients_in_input_dtype_without_cells():
    """A mask without cells: the gradients asked for in the input dtype are all 0."""
    q, k, v, dout = (torch.randn(100, 2, 64, device=DEV, dtype=torch.bfloat16) for _ in range(4))
    slices = ffa_mod._get_slices(*to_tensors([(10, 10, 0, 100, 0)]))
    out, lse = torch.zeros_like(q), torch.full((100, 2), float("-inf"), device=DEV)
    dq, dk, dv = (torch.full_like(t, float("nan")) for t in (q, k, v))
    ffa_mod.ffa_backward(dout, q, k, v, out, lse, slices, 0.125, 0.0, dq=dq, dk=dk, dv=dv)
    torch.cuda.synchronize()
    for name, g in (("dq", dq), ("dk", dk), ("dv", dv)):
        assert torch.equal(g, torch.zeros_like(g)), name


def check_stored_dkv(sl, s, d, h=2, dv=None):
    """dk / dv in the input dtype, poisoned with NaN, one query head per kv head (stored by the
    kernel): every element written and equal to the fp32-accumulator result rounded. ``dv``:
    v's head dim (None: d)."""
    torch.manual_seed(d)
    dv = d if dv is None else dv
    q, k, v, dout = (torch.randn(s, h, w, device=DEV, dtype=torch.bfloat16)
                     for w in (d, d, dv, dv))
    slices = ffa_mod._get_slices(*to_tensors(sl))
    out, lse = ffa_mod.ffa_forward(q, k, v, slices, d ** -0.5, 0.0)
    _, dk32, dv32 = ffa_mod.ffa_backward(dout, q, k, v, out, lse, slices, d ** -0.5, 0.0)
    dk16, dv16 = torch.full_like(k, float("nan")), torch.full_like(v, float("nan"))
    ffa_mod.ffa_backward(dout, q, k, v, out, lse, slices, d ** -0.5, 0.0, dk=dk16, dv=dv16)
    torch.cuda.synchronize()
    for name, got, ref in (("dk", dk16, dk32), ("dv", dv16, dv32)):
        assert not torch.isnan(got).any(), name
        err = (got.double() - ref.double()).abs().max().item()
        assert err <= 1e-2 * ref.abs().max().item(), f"{name}: {err}"


@pytest.mark.parametrize("d,dv", [(64, 64), (128, 128), (256, 256), (192, 128)],
                         ids=["64", "128", "256", "mla"])
def test_backward_dkv_store_covering_blocks(d, dv):
    """Key blocks that cover every key: dk / dv are not zero-filled first (WorkList::
    covers_keys), so every row must come from the kernel's stores (MLA: dK's and dV's windows
    per warpgroup differ, bwd_ws_consumer_split_d.cuh)."""
    check_stored_dkv([(0, 300, 0, 300, 1), (300, 700, 300, 700, 0)], 700, d, dv=dv)


@pytest.mark.parametrize("d", [192, 256])
@pytest.mark.parametrize("seed", range(3))
def test_large_head_dims(d, seed):
    """The split-head-dim backward (two 64-key passes per item) and the narrow forward tiles:
    random masks with overlapping q ranges, GQA, unaligned lengths, both dtypes, softcap."""
    rng = random.Random(seed * 11 + d)
    sq, sk = rng.randint(100, 700), rng.randint(100, 700)
    hkv = rng.choice([1, 2])
    hq = hkv * rng.choice([1, 2])
    dtype = DTYPES[seed % 2]
    run_case(random_slices(rng, sq, sk), sq, sk, hq, hkv, d, dtype, seed=seed,
             softcap=20.0 if seed == 2 else 0.0)


@pytest.mark.parametrize("d", [192, 256])
@pytest.mark.parametrize("name", ["causal", "varlen_causal"])
def test_large_head_dims_named(d, name):
    rng = random.Random(2)
    s = 1000
    sl = [(0, s, 0, s, 1)] if name == "causal" else varlen(rng, s, 1)
    run_case(sl, s, s, 4, 2, d, torch.bfloat16)


@pytest.mark.parametrize("d,dv", [(192, 192), (256, 256), (192, 128)], ids=["192", "256", "mla"])
def test_large_head_dims_dkv_store(d, dv):
    """dk / dv in the input dtype with one owner per key row: stored by the kernel per pass
    (keys 650-700 have no cells: zero-filled, not stored)."""
    check_stored_dkv([(0, 300, 0, 300, 1), (300, 640, 300, 640, 0), (640, 700, 640, 650, 3)],
                     700, d, dv=dv)


def test_unsupported_head_dim_refused_by_name():
    q = torch.randn(64, 1, 96, device=DEV, dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match="head_dim.*96"):
        flex_flash_attn_func(q, q, q, *to_tensors([(0, 64, 0, 64, 0)]))


@pytest.mark.parametrize("seed", range(4))
def test_value_head_dim_of_its_own(seed):
    """MLA's head dims (q / k 192, v 128; on Hopper the Hopper pair, MAGI_FFA_PORTABLE=1 the
    portable pair): random masks with overlapping q ranges, GQA, unaligned lengths, both dtypes,
    softcap; out and dv of v's width."""
    rng = random.Random(seed * 17 + 5)
    sq, sk = rng.randint(100, 700), rng.randint(100, 700)
    hkv = rng.choice([1, 2])
    hq = hkv * rng.choice([1, 2])
    run_case(random_slices(rng, sq, sk), sq, sk, hq, hkv, 192, DTYPES[seed % 2], seed=seed,
             softcap=20.0 if seed == 3 else 0.0, dv=128)


@pytest.mark.parametrize("name", ["causal", "varlen_causal"])
def test_value_head_dim_of_its_own_named(name):
    rng = random.Random(4)
    s = 1000
    sl = [(0, s, 0, s, 1)] if name == "causal" else varlen(rng, s, 1)
    run_case(sl, s, s, 4, 1, 192, torch.bfloat16, dv=128)


def test_value_head_dims_refused_by_name():
    """A (q / k, v) head dim pair without kernels is refused naming v and the pairs there are."""
    q = torch.randn(64, 2, 128, device=DEV, dtype=torch.bfloat16)
    v = torch.randn(64, 2, 64, device=DEV, dtype=torch.bfloat16)
    with pytest.raises(ValueError, match=r"v = .*head dim 64 differs from q's 128.*192 / 128"):
        flex_flash_attn_func(q, q, v, *to_tensors([(0, 64, 0, 64, 0)]))


def test_zz_print_coverage():
    print(f"\nshape coverage ({len(SHAPES_SEEN)}): (sq, sk, hq, hkv, d, dtype, softcap)")
    for s in sorted(SHAPES_SEEN):
        print("  ", s)
