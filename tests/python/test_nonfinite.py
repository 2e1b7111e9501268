"""NaN and Inf through the distributed pipeline on CPU (gloo), DESIGN.md section 6 and issue 15
item 1: one non-finite element of x (it reaches q and k, or v) gives the distributed output and
x.grad exactly the NaN entries of the single-device FFA on the whole sequence, and the NaN
reaches the output at all (it used to vanish in the log-sum-exp merge at cp >= 2)."""

import pytest
import torch

from dist_attn_workers import qkv_of, run
from dist_harness import run_ranks

from magi_attention.functional.flex_flash_attn import flex_flash_attn_func

POISONS = {"nan_qk": (31, 0, float("nan")), "inf_qk": (31, 0, float("inf")),
           "nan_v": (57, 63, float("nan"))}


def single_device(x, slices):
    x = x.clone().requires_grad_()
    qr = torch.tensor([s[:2] for s in slices], dtype=torch.int32)
    kr = torch.tensor([s[2:4] for s in slices], dtype=torch.int32)
    tm = torch.tensor([s[4] for s in slices], dtype=torch.int32)
    out, _ = flex_flash_attn_func(*qkv_of(x), qr, kr, tm)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    (out * g).sum().backward()
    return out.detach(), x.grad


def same_nonfinite(name, got, ref):
    assert torch.equal(torch.isnan(got), torch.isnan(ref)), \
        f"{name}: NaN at {int(torch.isnan(got).sum())} entries, single device at " \
        f"{int(torch.isnan(ref).sum())}"
    assert torch.equal(torch.isinf(got), torch.isinf(ref)), f"{name}: Inf entries differ"
    fin = torch.isfinite(ref)
    assert torch.allclose(got[fin], ref[fin], rtol=1e-9, atol=1e-9), f"{name}: finite values"


@pytest.mark.parametrize("poison", list(POISONS))
@pytest.mark.parametrize("world_size", [2, 4])
@pytest.mark.parametrize("case", [("flex", "default"), ("varlen_causal", "no_overlap")],
                         ids=lambda c: c[0])
def test_nonfinite_propagates_as_on_one_device(case, world_size, poison):
    total = 100
    r0 = run_ranks(run, world_size, case, "float64", total, POISONS[poison], timeout=300)[0]
    out, x_grad = single_device(r0["x"], r0["slices"])
    assert torch.isnan(out).any(), "the poison must reach some row on one device"
    same_nonfinite("out", r0["out"], out)
    same_nonfinite("x.grad", r0["x_grad"], x_grad)
