"""The hot path on a GPU: a repeated call reuses the mask's prepared work (one FfaWork object,
uploaded once), takes its scratch from torch's caching allocator (one block per backward, through
the package's allocator hook), and calc_attn with a key made without head counts plans nothing on
its first call. Run: PYTHONPATH=python python3 -m pytest tests/cuda/test_hot_path.py -q"""
import os
import sys

import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

from dist_harness import run_ranks  # noqa: E402

from magi_attention import flex_flash_attn_func  # noqa: E402
from magi_attention.functional import flex_flash_attn as ffa_mod  # noqa: E402


def test_flex_reuses_prepared_work_and_takes_scratch_from_torch(monkeypatch):
    S, H, D = 512, 4, 128
    qr = torch.tensor([[0, 200], [200, S]], dtype=torch.int32, device="cuda")
    tm = torch.tensor([1, 1], dtype=torch.int32, device="cuda")
    q, k, v = (torch.randn(S, H, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
               for _ in range(3))
    calls = []
    real = ffa_mod.alloc_bytes
    monkeypatch.setattr(ffa_mod, "alloc_bytes", lambda n, dev: calls.append(n) or real(n, dev))
    out, _ = flex_flash_attn_func(q, k, v, qr, qr, tm)
    out.sum().backward()
    work = ffa_mod._work_of(qr, qr, tm, S, S)
    monkeypatch.setattr(ffa_mod, "_get_slices", lambda *a: pytest.fail("mask converted again"))
    before = len(calls)
    for _ in range(3):
        out, _ = flex_flash_attn_func(q, k, v, qr, qr, tm)
        out.sum().backward()
    assert ffa_mod._work_of(qr, qr, tm, S, S) is work
    assert len(calls) - before == 3, calls  # one scratch block per backward, from torch


def _seed_form_key_worker(rank, world_size):
    import torch.distributed as dist

    import magi_attention._C as C
    from magi_attention.api import calc_attn, dispatch, magi_attn_flex_key

    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", rank=rank, world_size=world_size)
    key = magi_attn_flex_key([[0, 256]], [[0, 256]], "causal", 256, 256, head_dim=64,
                             chunk_size=32, cp_group=dist.group.WORLD)
    x = torch.randn(256, 8 * 64, device="cuda", dtype=torch.bfloat16)
    local = dispatch(x, key)
    real = C.make_flex_key
    C.make_flex_key = lambda *a, **k: (_ for _ in ()).throw(AssertionError("planned again"))
    try:
        for hq, hkv in ((8, 8), (4, 2)):
            q = local.view(-1, 8, 64)[:, :hq].contiguous().requires_grad_()
            kv = local.view(-1, 8, 64)[:, :hkv].contiguous().requires_grad_()
            out, _ = calc_attn(q, kv, kv, key)
            out.float().sum().backward()
    finally:
        C.make_flex_key = real
    torch.cuda.synchronize()
    return True


def test_calc_attn_with_a_seed_form_key_plans_nothing():
    assert run_ranks(_seed_form_key_worker, 1, timeout=600) == [True]


def test_misaligned_gradient_buffers_are_refused_not_faulted():
    """The C++ entry's dq, dk, dv must be pair-aligned: the kernels add and store pairs, and a
    misaligned one would be a sticky fault of the CUDA context. A view with odd strides is
    refused naming the tensor, and the next call still runs."""
    import magi_attention._C as C

    S, H, D = 256, 2, 64
    r = torch.tensor([[0, S]], dtype=torch.int32, device="cuda")
    q, k, v, dout = (torch.randn(S, H, D, device="cuda", dtype=torch.bfloat16) for _ in range(4))
    out, lse = flex_flash_attn_func(q, k, v, r, r)
    work = ffa_mod._work_of(r, r, None, S, S)
    stream = torch.cuda.current_stream().cuda_stream
    odd = torch.zeros(S, H, D + 1, device="cuda")[..., :D]  # head stride D + 1: odd
    dk, dv = (torch.zeros(S, H, D, device="cuda") for _ in range(2))
    with pytest.raises(ValueError, match="dq = .*pair-aligned base and even strides"):
        C.ffa_bwd(work, q, k, v, out, lse, dout, odd, dk, dv, 0.0, 0.0, stream)
    dq = torch.zeros(S, H, D, device="cuda")
    C.ffa_bwd(work, q, k, v, out, lse, dout, dq, dk, dv, 0.0, 0.0, stream)
    torch.cuda.synchronize()
    assert torch.isfinite(dq).all() and dq.abs().sum() > 0
