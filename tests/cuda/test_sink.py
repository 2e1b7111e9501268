"""GPU tests of the attention sink on CUDA tensors (the CUDA backend's sink_merge and
sink_backward, src/kernels/cuda/runtime/sink_kernels.cu, and sum_rows): flex_flash_attn_func with
sink= against the dense reference with the sinks as extra softmax columns
(tests/python/reference.py), forward and backward including the sink's gradient, both layouts,
GQA, a row without keys and a -inf sink; and calc_attn with a sink at cp 1 over NCCL.
Run: PYTHONPATH=python python3 -m pytest tests/cuda/test_sink.py -q
"""
import os
import sys

import pytest
import torch

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "python"))
from ffa_ref import dense_mask  # noqa: E402

if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

from reference import attention_with_sink  # noqa: E402
from test_ffa import to_tensors  # noqa: E402

from magi_attention import flex_flash_attn_func  # noqa: E402

DEV = torch.device("cuda")
# Rows 0..63 see no key (lse = -inf before the sink), the rest a causal and a full slice.
SLICES = [(64, 400, 0, 300, 1), (200, 333, 300, 517, 0)]
SQ, SK = 400, 517


def reference(q, k, v, dout, sink, layout, dtype):
    """out, lse, dq, dk, dv, dsink of the dense reference in `dtype` (autograd)."""
    xs = [x.detach().to(dtype).requires_grad_(True) for x in (q, k, v, sink)]
    mask = dense_mask(SLICES, SQ, SK, DEV)
    out, lse = attention_with_sink(*xs[:3], mask, xs[3], layout)
    out.backward(dout.to(dtype))
    return [out.detach(), lse.detach()] + [x.grad for x in xs]


def check(name, got, r64, rlp, atol_scale=2e-3):
    got, r64 = got.double(), r64.double()
    fin = torch.isfinite(r64)
    assert torch.equal(torch.isfinite(got), fin), f"{name}: non-finite pattern differs"
    got, r64, rlp = got[fin], r64[fin], rlp.double()[fin]
    err = (got - r64).abs().max().item()
    err_lp = (rlp - r64).abs().max().item()
    atol = atol_scale * (1.0 + r64.abs().max().item())
    assert err <= 2 * err_lp + atol, f"{name}: err {err:.3e} > 2 * {err_lp:.3e} + {atol:.1e}"


@pytest.mark.parametrize("layout", ["sh", "ssh"])
@pytest.mark.parametrize("d,hq,hkv", [(64, 4, 2), (128, 2, 2)])
def test_sink_against_dense(layout, d, hq, hkv):
    torch.manual_seed(d + hq)
    dtype = torch.bfloat16
    q = torch.randn(SQ, hq, d, device=DEV, dtype=dtype)
    k = torch.randn(SK, hkv, d, device=DEV, dtype=dtype)
    v = torch.randn(SK, hkv, d, device=DEV, dtype=dtype)
    dout = torch.randn(SQ, hq, d, device=DEV, dtype=dtype)
    shape = (3, hq) if layout == "sh" else (SQ, 3, hq)
    sink = torch.randn(*shape, device=DEV, dtype=torch.float32)
    sink.view(-1)[1] = float("-inf")  # one sink that is not there
    qg, kg, vg, sg = (x.clone().requires_grad_(True) for x in (q, k, v, sink))
    out, lse = flex_flash_attn_func(qg, kg, vg, *to_tensors(SLICES), sink=sg, sink_layout=layout)
    out.backward(dout)
    r64 = reference(q, k, v, dout, sink, layout, torch.float64)
    rlp = reference(q, k, v, dout, sink, layout, dtype)  # the rule's low-precision reference
    for name, got, a, b in zip(("out", "lse", "dq", "dk", "dv", "dsink"),
                               (out, lse, qg.grad, kg.grad, vg.grad, sg.grad), r64, rlp):
        check(name, got, a, b)
    # Rows without keys: out 0, lse = logsumexp of the sinks.
    assert torch.equal(out[:64].float(), torch.zeros_like(out[:64].float()))


def test_sink_sh_gradient_is_repeatable():
    # Layout sh sums the rows in a fixed order: the same bits every run.
    torch.manual_seed(1)
    q = torch.randn(SQ, 2, 64, device=DEV, dtype=torch.bfloat16)
    k = torch.randn(SK, 1, 64, device=DEV, dtype=torch.bfloat16)
    v = torch.randn(SK, 1, 64, device=DEV, dtype=torch.bfloat16)
    sink = torch.randn(2, 2, device=DEV, requires_grad=True)
    grads = []
    for _ in range(3):
        sink.grad = None
        out, _ = flex_flash_attn_func(q, k, v, *to_tensors(SLICES), sink=sink)
        out.float().sum().backward()
        grads.append(sink.grad.clone())
    assert all(torch.equal(grads[0], g) for g in grads[1:])


@pytest.mark.parametrize("layout", ["sh", "ssh"])
def test_calc_attn_sink_matches_flex_cp1_nccl(layout):
    from dist_harness import run_ranks
    from sink_workers import calc_attn_vs_flex_cuda

    (flex, calc), = run_ranks(calc_attn_vs_flex_cuda, 1, layout, timeout=600)
    for name, a, b in zip(("out", "lse", "dq", "dk", "dv", "dsink"), calc, flex):
        err = ((a - b).abs().max() / (1 + b.abs().max())).item()
        assert err <= 2e-2, f"{name}: {err:.3e}"
