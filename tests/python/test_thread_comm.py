"""tests/cuda/thread_ranks.py's ThreadComm (CP ranks as threads of one process; on the GPU it
runs the CUDA pipeline at cp >= 2 on one device) on CPU tensors, so its exchange protocol is
checked where there is no GPU: the pipeline at cp 2-4 against one process's flex_flash_attn_func
in float64, every rank gathering the same results."""

import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cuda"))
from thread_ranks import make_key, pipeline, run_ranks  # noqa: E402

from magi_attention import flex_flash_attn_func  # noqa: E402
from magi_attention.config import DistAttnConfig, OverlapConfig  # noqa: E402


@pytest.mark.parametrize("degree", [None, 0, 2])
@pytest.mark.parametrize("cp", [2, 3, 4])
def test_thread_comm_pipeline_cpu(cp, degree):
    s, hq, hkv, d = 300, 4, 2, 16
    slices = [(0, 120, 0, 120, 1), (120, s, 120, s, 1), (200, s, 0, 100, 0)]
    g = torch.Generator().manual_seed(cp)
    q, dout = (torch.randn(s, hq, d, generator=g, dtype=torch.float64) for _ in range(2))
    k, v = (torch.randn(s, hkv, d, generator=g, dtype=torch.float64) for _ in range(2))
    config = DistAttnConfig() if degree is None else DistAttnConfig(
        overlap_config=OverlapConfig(degree=degree, min_chunk_size=4))

    def rank(comm):
        key = make_key(comm, slices, s, hq, hkv, d, chunk_size=16, config=config)
        return pipeline(key, q, k, v, dout, d ** -0.5)

    results = run_ranks(cp, rank, cuda=False)
    for r, res in enumerate(results[1:], 1):
        for name, a, b in zip(("out", "dq", "dk", "dv"), res, results[0]):
            assert torch.equal(a, b), f"rank {r} {name} differs from rank 0's"
    qq, kk, vv = (x.clone().requires_grad_() for x in (q, k, v))
    ranges = torch.tensor([[a, b] for a, b, *_ in slices], dtype=torch.int32)
    kranges = torch.tensor([[c, e] for _, _, c, e, _ in slices], dtype=torch.int32)
    types = torch.tensor([t for *_, t in slices], dtype=torch.int32)
    out, _ = flex_flash_attn_func(qq, kk, vv, ranges, kranges, types)
    out.backward(dout)
    for name, got, ref in zip(("out", "dq", "dk", "dv"), results[0],
                              (out.detach(), qq.grad, kk.grad, vv.grad)):
        err = (got - ref).abs().max().item()
        assert err <= 1e-12 * (1 + ref.abs().max().item()), f"{name}: {err:.2e}"


def test_thread_comm_mismatch_raises():
    """Ranks that disagree on an exchange's counts get an error naming them, not a hang."""
    def rank(comm):
        send = torch.zeros(4, dtype=torch.uint8)
        recv = torch.zeros(4, dtype=torch.uint8)
        counts = [2, 2] if comm.rank() == 0 else [1, 3]
        h = comm.all_to_all_v((send.data_ptr(), 4, False, 0), counts,
                              (recv.data_ptr(), 4, False, 0), counts, 1)
        h.wait()

    with pytest.raises(RuntimeError, match="sends .* rows of 1 bytes to rank"):
        run_ranks(2, rank, cuda=False)


def test_bench_threads_cpu(tmp_path):
    """bench/bench_threads.py (the one-GPU trace of issue 12) runs its steps on CPU tensors."""
    import json
    import subprocess

    bench = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench",
                         "bench_threads.py")
    subprocess.run([sys.executable, bench, "--device", "cpu", "--cp", "3", "--seqlen", "256",
                    "--heads", "2:1", "--head-dim", "16", "--chunk", "16", "--iters", "1",
                    "--out", str(tmp_path)], check=True, timeout=300)
    report = json.load(open(tmp_path / "bench_threads_causal_cp3.json"))
    assert report["cp"] == 3 and report["fwd_ms"] > 0 and report["bwd_ms"] > 0
