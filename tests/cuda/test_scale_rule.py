"""The softmax_scale rule is the same on CUDA as on the CPU (ffa.h): 0 (None from Python) means
head_dim ** -0.5, any other finite value > 0 is used as given, a negative or non-finite scale is
rejected at the entry naming the value; the C++ entry and the Python API agree.
Run: PYTHONPATH=python python3 -m pytest tests/cuda/test_scale_rule.py -q"""
import math
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))
from ffa_ref import attention_ref, dense_mask  # noqa: E402

if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

from magi_attention import _C, flex_flash_attn_func  # noqa: E402
from magi_attention.functional import flex_flash_attn as ffa_mod  # noqa: E402

S, HQ, HKV = 200, 4, 2
SLICES = [(0, 120, 0, 120, 1), (120, S, 0, S, 0)]


def _inputs(d, device):
    g = torch.Generator().manual_seed(d)
    return [torch.randn(S, h, d, generator=g).to(device, torch.bfloat16) for h in (HQ, HKV, HKV)]


def _ranges(device):
    qr = torch.tensor([s[:2] for s in SLICES], dtype=torch.int32, device=device)
    kr = torch.tensor([s[2:4] for s in SLICES], dtype=torch.int32, device=device)
    tm = torch.tensor([s[4] for s in SLICES], dtype=torch.int32, device=device)
    return qr, kr, tm


@pytest.mark.parametrize("d", [64, 128])
def test_default_scale_is_head_dim_rsqrt_and_given_scales_are_honoured(d):
    q, k, v = _inputs(d, "cuda")
    qr, kr, tm = _ranges("cuda")
    out0, lse0 = flex_flash_attn_func(q, k, v, qr, kr, tm)
    out1, lse1 = flex_flash_attn_func(q, k, v, qr, kr, tm, softmax_scale=d ** -0.5)
    assert torch.equal(out0, out1) and torch.equal(lse0, lse1)
    mask = dense_mask(SLICES, S, S, "cuda")
    dout = torch.zeros_like(q)
    for scale in (0.05, 0.3):
        out, lse = flex_flash_attn_func(q, k, v, qr, kr, tm, softmax_scale=scale)
        r64 = attention_ref(q, k, v, dout, mask, scale, 0.0, torch.float64)
        rlp = attention_ref(q, k, v, dout, mask, scale, 0.0, torch.bfloat16)
        for got, ref, low in ((out, r64[0], rlp[0]), (lse, r64[1], rlp[1])):
            err = (got.double() - ref).abs().max().item()
            err_lp = (low.double() - ref).abs().max().item()
            assert err <= 2 * err_lp + 1e-3 * (1 + ref.abs().max().item()), (scale, err, err_lp)
        assert not torch.equal(out, out0)


@pytest.mark.parametrize("bad", [-0.125, -1.0, math.inf, math.nan])
def test_bad_scales_are_rejected_on_cuda_like_on_cpu(bad):
    for device in ("cpu", "cuda"):
        q, k, v = _inputs(64, device)
        qr, kr, tm = _ranges(device)
        with pytest.raises(ValueError, match="softmax_scale = "):
            flex_flash_attn_func(q, k, v, qr, kr, tm, softmax_scale=bad)
    # the C++ entry itself, below the Python API
    q, k, v = _inputs(64, "cuda")
    work = ffa_mod._get_slices(*_ranges("cpu")).work(S, S)
    out, lse = torch.empty_like(q), torch.empty(S, HQ, device="cuda")
    with pytest.raises(_C.MagiError, match="softmax_scale = "):
        _C.ffa_fwd(work, q, k, v, out, lse, bad, 0.0, False, torch.cuda.current_stream().cuda_stream)
