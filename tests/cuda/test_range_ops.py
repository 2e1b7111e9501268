"""GPU tests of the CUDA row-range kernels (range_gather, range_scatter_add, merge_out_lse)
against torch on the same device."""
import math
import random

import pytest
import torch

if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

from magi_attention import _C  # noqa: E402
from magi_attention._tensor import tensor_desc as td  # noqa: E402

DEV = "cuda"


def rand_ranges(rng, n, k=5):
    out = []
    for _ in range(k):
        a = rng.randint(0, n)
        b = rng.randint(a, n)
        out.append((a, b))
    return out


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.int32, torch.float64])
def test_range_gather(dtype):
    rng = random.Random(0)
    src = (torch.randn(97, 3, 8, device=DEV) * 100).to(dtype)
    ranges = rand_ranges(rng, 97)
    total = sum(b - a for a, b in ranges)
    dst = torch.full((total, 3, 8), 7, device=DEV).to(dtype)
    _C.range_gather(td(src), ranges, td(dst), torch.cuda.current_stream().cuda_stream)
    ref = torch.cat([src[a:b] for a, b in ranges]) if total else dst
    assert torch.equal(dst, ref)
    # strided source rows (dim 0 stride != row size)
    big = (torch.randn(97, 2, 3, 8, device=DEV) * 100).to(dtype)
    src2 = big[:, 1]
    dst2 = torch.empty((total, 3, 8), device=DEV, dtype=dtype)
    _C.range_gather(td(src2), ranges, td(dst2))
    torch.cuda.synchronize()
    assert torch.equal(dst2, torch.cat([src2[a:b] for a, b in ranges]) if total else dst2)


@pytest.mark.parametrize("dst_dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_range_scatter_add_overlapping(dst_dtype):
    rng = random.Random(1)
    ranges = rand_ranges(rng, 50, 7) + [(3, 9), (3, 9)]
    total = sum(b - a for a, b in ranges)
    src = torch.randn(total, 4, 16, device=DEV)
    dst = torch.randn(50, 4, 16, device=DEV).to(dst_dtype)
    ref = dst.double().clone()
    off = 0
    for a, b in ranges:
        ref[a:b] += src[off:off + b - a].double()
        off += b - a
    stream = torch.cuda.current_stream().cuda_stream
    if dst_dtype == torch.bfloat16:
        # The CUDA scatter-add accumulates with atomics: fp32 / fp64 destinations only, and a
        # 16-bit one is refused by name rather than rounded per addition.
        with pytest.raises(_C.MagiError, match="bfloat16.*fp32 or fp64 only"):
            _C.range_scatter_add(td(src), ranges, td(dst), stream)
        return
    _C.range_scatter_add(td(src), ranges, td(dst), stream)
    torch.cuda.synchronize()
    tol = 1e-12 if dst_dtype == torch.float64 else (1e-5 if dst_dtype == torch.float32 else 3e-2)
    assert (dst.double() - ref).abs().max().item() <= tol * (1 + ref.abs().max().item())


# fp32 accumulators take the one-warp-per-row kernel (d = 40: lanes 0-9, d = 256: two steps
# per lane); fp64 ones the generic strided kernel.
@pytest.mark.parametrize("acc_dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("d", [40, 256])
def test_merge_out_lse(acc_dtype, d):
    torch.manual_seed(d)
    n, h = 33, 3
    out_acc = torch.randn(n, h, d, device=DEV, dtype=acc_dtype)
    lse_acc = torch.randn(n, h, device=DEV, dtype=acc_dtype)
    out_part = torch.randn(n, h, d, device=DEV, dtype=torch.bfloat16)
    lse_part = torch.randn(n, h, device=DEV, dtype=torch.float32)
    lse_acc[0] = -math.inf
    out_acc[0] = float("nan")  # never read when lse_acc = -inf
    lse_part[1] = -math.inf
    lse_acc[2] = -math.inf
    lse_part[2] = -math.inf
    la, lp = lse_acc.double().clone(), lse_part.double()
    oa, op = out_acc.double().clone(), out_part.double()
    lse = torch.logaddexp(la, lp)
    wa = torch.where(torch.isinf(la), torch.zeros_like(la), torch.exp(la - lse))
    wp = torch.where(torch.isinf(lp), torch.zeros_like(lp), torch.exp(lp - lse))
    ref_out = torch.nan_to_num(oa, nan=0.0) * wa[..., None] + op * wp[..., None]
    ref_out[1] = oa[1]
    ref_out[2] = oa[2]
    ref_lse = torch.where(torch.isinf(lp), la, lse)
    _C.merge_out_lse(td(out_acc), td(lse_acc), td(out_part), td(lse_part),
                     torch.cuda.current_stream().cuda_stream)
    torch.cuda.synchronize()
    fin = ~torch.isnan(ref_out)
    assert torch.allclose(out_acc.double()[fin], ref_out[fin], atol=1e-5, rtol=1e-5)
    assert torch.equal(torch.isinf(lse_acc), torch.isinf(ref_lse))
    f = torch.isfinite(ref_lse)
    assert torch.allclose(lse_acc.double()[f], ref_lse[f], atol=1e-6, rtol=1e-6)
