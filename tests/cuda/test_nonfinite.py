"""GPU tests: NaN and Inf in the CUDA kernels (DESIGN.md section 6, issue 15 item 1).

Forward (exact): one NaN in a key row makes exactly the rows that see that key NaN (lse and
every element of out), a NaN in a query row makes exactly that row NaN; other rows stay finite,
rows without a cell keep lse = -inf. The same holds after a log-sum-exp merge of partials
(the kernel's accumulate mode and the runtime's merge_out_lse). The CPU kernels, which follow
the same rules exactly, are the reference for the NaN pattern.
Backward (no loss): every gradient entry that the CPU kernels make NaN is NaN on the GPU too
(a tile may add NaN to cells of its own that do not depend on it: 0 * NaN in a matmul).
Run both kernel families:
  PYTHONPATH=python python3 -m pytest tests/cuda/test_nonfinite.py -q
  MAGI_FFA_PORTABLE=1 PYTHONPATH=python python3 -m pytest tests/cuda/test_nonfinite.py -q
"""
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))
from ffa_ref import dense_mask  # noqa: E402

if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

from magi_attention import _ext  # noqa: E402
from magi_attention._tensor import view  # noqa: E402
from magi_attention.functional import flex_flash_attn as ffa_mod  # noqa: E402

DEV = torch.device("cuda")
NAN, INF = float("nan"), float("inf")

MASKS = {
    "varlen_causal": [(0, 300, 0, 300, 1), (300, 700, 300, 700, 1), (700, 1000, 700, 1000, 1)],
    "full": [(0, 1000, 0, 1000, 0)],
    "flex_empty_rows": [(100, 300, 0, 500, 0), (600, 700, 650, 900, 1), (650, 1000, 200, 800, 3),
                        (0, 200, 150, 420, 2)],
}


def slices_of(sl):
    qr = torch.tensor([[a, b] for a, b, _, _, _ in sl], dtype=torch.int32, device=DEV)
    kr = torch.tensor([[c, d] for _, _, c, d, _ in sl], dtype=torch.int32, device=DEV)
    tm = torch.tensor([t for *_, t in sl], dtype=torch.int32, device=DEV)
    return ffa_mod._get_slices(qr, kr, tm)


def inputs(s, hq, hkv, d, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    mk = lambda n, h: torch.randn(n, h, d, generator=g).to(dtype)  # noqa: E731
    return mk(s, hq), mk(s, hkv), mk(s, hkv), mk(s, hq)


def ffa(q, k, v, dout, sl, device):
    """out, lse, dq, dk, dv of the FFA kernels on `device` (fp32 results, on the CPU)."""
    q, k, v, dout = (x.to(device) for x in (q, k, v, dout))
    slices = slices_of(sl)  # the core's slice list serves either device
    scale = q.shape[-1] ** -0.5
    out, lse = ffa_mod.ffa_forward(q, k, v, slices, scale, 0.0)
    dq, dk, dv = ffa_mod.ffa_backward(dout, q, k, v, out, lse, slices, scale, 0.0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return [x.float().cpu() for x in (out, lse, dq, dk, dv)]


def sees(sl, s, key):
    """[s] bool: the rows whose cells include `key`."""
    return dense_mask(sl, s, s, torch.device("cpu"))[:, key]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize("mask", list(MASKS))
@pytest.mark.parametrize("poison", ["nan_k", "inf_k", "nan_q"])
def test_forward_nan_reaches_exactly_the_rows_that_see_it(poison, mask, d, dtype):
    s, hq, hkv, key, row = 1000, 4, 2, 437, 150  # every mask has cells in row 150
    sl = MASKS[mask]
    q, k, v, dout = inputs(s, hq, hkv, d, dtype)
    if poison == "nan_k":
        k[key, 1, 5] = NAN  # kv head 1: query heads 2 and 3
    elif poison == "inf_k":
        k[key, 1, :] = INF  # every score of the key +inf (q.k with random signs: NaN or inf)
    else:
        q[row, 2, 5] = NAN
    out, lse = ffa(q, k, v, dout, sl, DEV)[:2]
    ref_out, ref_lse = ffa(q, k, v, dout, sl, torch.device("cpu"))[:2]
    m = dense_mask(sl, s, s, torch.device("cpu"))
    if poison == "nan_q":
        want = torch.zeros(s, hq, dtype=torch.bool)
        want[row, 2] = True
    else:
        want = torch.zeros(s, hq, dtype=torch.bool)
        want[:, 2:] = sees(sl, s, key)[:, None]
        if poison == "inf_k":
            want = torch.isnan(ref_lse)  # -inf scores weigh 0: those rows stay finite
    assert want.any(), "the test must poison some row"
    assert torch.equal(torch.isnan(ref_lse), want), "CPU reference: NaN rows"
    assert torch.equal(torch.isnan(lse), want), "lse: NaN rows differ from the rows that see it"
    assert torch.equal(torch.isnan(out).any(-1), want), "out: NaN rows"
    assert torch.isnan(out[want]).all(), "out: every element of a NaN row is NaN"
    empty = ~m.any(1)
    assert torch.equal(torch.isneginf(lse), empty[:, None].expand(s, hq)), "lse: -inf rows"
    assert torch.isfinite(out[~want]).all(), "out: NaN outside the rows that see it"


@pytest.mark.parametrize("portion", ["first", "second"])
def test_accumulate_merge_keeps_nan(portion):
    """Two partials over disjoint keys merged in the kernel's fp32 accumulate mode: a NaN in
    either one makes its rows NaN in the merged lse and out."""
    s, h, d, key = 600, 2, 128, 100 if portion == "first" else 450
    q, k, v, _ = inputs(s, h, h, d, torch.bfloat16, seed=2)
    k[key, 0, 0] = NAN
    q, k, v = q.to(DEV), k.to(DEV), v.to(DEV)
    a, b = [(0, s, 0, 300, 0)], [(0, s, 300, s, 1)]
    out = torch.full((s, h, d), NAN, device=DEV)
    lse = torch.full((s, h), -INF, device=DEV)
    for part in (a, b):
        ffa_mod.ffa_forward(q, k, v, slices_of(part), d ** -0.5, 0.0, out=out, lse=lse,
                            accumulate=True)
    torch.cuda.synchronize()
    want = torch.zeros(s, h, dtype=torch.bool)
    want[:, 0] = sees(a + b, s, key)
    lse, out = lse.cpu(), out.cpu()
    assert want.any()
    assert torch.equal(torch.isnan(lse), want)
    assert torch.isnan(out[want]).all() and torch.isfinite(out[~want & ~torch.isneginf(lse)]).all()


def test_runtime_merge_out_lse_keeps_nan():
    n, h, d = 5, 1, 16
    out_acc = torch.ones(n, h, d, device=DEV)
    lse_acc = torch.tensor([[0.5], [NAN], [-INF], [NAN], [0.5]], device=DEV)
    out_part = torch.full((n, h, d), 2.0, device=DEV)
    lse_part = torch.tensor([[NAN], [0.5], [NAN], [-INF], [0.25]], device=DEV)
    _ext.core().merge_out_lse(view(out_acc), view(lse_acc), view(out_part), view(lse_part),
                              torch.cuda.current_stream().cuda_stream)
    torch.cuda.synchronize()
    lse = lse_acc.cpu()[:, 0]
    assert torch.isnan(lse[:4]).all(), lse
    assert torch.isfinite(lse[4])
    assert torch.isnan(out_acc[:2]).all(), "a NaN partial or accumulator makes out NaN"


@pytest.mark.parametrize("mask", list(MASKS))
@pytest.mark.parametrize("poison", ["nan_k", "nan_q", "nan_dout"])
def test_backward_loses_no_nan(poison, mask):
    """NaN lse (and NaN inputs) give NaN gradients wherever the CPU kernels give them."""
    s, hq, hkv, d, row = 1000, 4, 2, 128, 150
    sl = MASKS[mask]
    q, k, v, dout = inputs(s, hq, hkv, d, torch.bfloat16, seed=1)
    {"nan_k": k, "nan_q": q, "nan_dout": dout}[poison][row, 1, 3] = NAN
    got = ffa(q, k, v, dout, sl, DEV)
    ref = ffa(q, k, v, dout, sl, torch.device("cpu"))
    for name, g, r in zip(("out", "lse", "dq", "dk", "dv"), got, ref):
        lost = torch.isnan(r) & ~torch.isnan(g)
        assert not lost.any(), f"{name}: {int(lost.sum())} NaN entries lost on the GPU"
        assert torch.isnan(r).any() or name in ("out", "lse"), f"{name}: test poisons nothing"
