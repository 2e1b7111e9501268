"""The distributed pipeline on CUDA tensors at cp 2, 4 and 8 on one GPU, ranks as threads
(thread_ranks.py: each rank its own compute and exchange streams): dispatch -> forward ->
backward -> undispatch against the float64 dense reference (test_ffa.check's rule), every rank
gathering the same global results. Covers what cp 1 over NCCL cannot: remote K/V rows, stage
merges, partial dK/dV summed back to their owners."""

import os
import random
import sys

import pytest
import torch

if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

sys.path.insert(0, os.path.dirname(__file__))
from ffa_ref import attention_ref, dense_mask  # noqa: E402
from test_ffa import check, random_slices, varlen  # noqa: E402
import thread_ranks  # noqa: E402
from thread_ranks import RanksHung, make_key, pipeline  # noqa: E402

from magi_attention.config import DistAttnConfig, OverlapConfig  # noqa: E402

DEV = "cuda"
_hung = []  # a case whose rank threads never ended: the later ones are skipped, not hung too


def run_ranks(cp, fn):
    if _hung:
        pytest.skip(f"rank threads of an earlier case did not end: {_hung[0]}")
    try:
        return thread_ranks.run_ranks(cp, fn)
    except RanksHung as e:
        _hung.append(str(e))
        raise


def _case(name, s, rng):
    if name == "causal":
        return [(0, s, 0, s, 1)]
    if name == "varlen_causal":
        return varlen(rng, s, 1)
    return random_slices(rng, s, s) + [(0, s // 3, 0, s // 3, 1)]  # overlapping q ranges


@pytest.mark.parametrize("degree", [None, 0, 2])
@pytest.mark.parametrize("name", ["causal", "varlen_causal", "random"])
@pytest.mark.parametrize("cp", [2, 4, 8])
def test_pipeline_on_thread_ranks(cp, name, degree):
    rng = random.Random(cp * 10 + len(name))
    s, hq, hkv, d = 1000, 4, 2, 128
    slices = _case(name, s, rng)
    torch.manual_seed(cp)
    q = torch.randn(s, hq, d, device=DEV, dtype=torch.bfloat16)
    k, v = (torch.randn(s, hkv, d, device=DEV, dtype=torch.bfloat16) for _ in range(2))
    dout = torch.randn(s, hq, d, device=DEV, dtype=torch.bfloat16)
    scale = d ** -0.5
    config = DistAttnConfig() if degree is None else DistAttnConfig(
        overlap_config=OverlapConfig(degree=degree, min_chunk_size=4))
    torch.cuda.synchronize()

    def rank(comm):
        key = make_key(comm, slices, s, hq, hkv, d, chunk_size=64, config=config)
        return pipeline(key, q, k, v, dout, scale)

    results = run_ranks(cp, rank)
    for r, res in enumerate(results[1:], 1):
        for name_, a, b in zip(("out", "dq", "dk", "dv"), res, results[0]):
            assert torch.equal(a, b), f"rank {r} {name_} differs from rank 0's"
    mask = dense_mask(slices, s, s, DEV)
    ref = attention_ref(q, k, v, dout, mask, scale)
    low = attention_ref(q, k, v, dout, mask, scale, dtype=torch.bfloat16)
    for name_, got, i in zip(("out", "dq", "dk", "dv"), results[0], (0, 2, 3, 4)):
        check(name_, got, ref[i], low[i])


@pytest.mark.parametrize("d,hq,hkv", [(64, 8, 1), (256, 4, 4)])
def test_pipeline_on_thread_ranks_head_dims(d, hq, hkv):
    """MQA at head dim 64, MHA at 256 (the split-head-dim backward), cp 4, causal."""
    s, cp = 700, 4
    slices = [(0, s, 0, s, 1)]
    torch.manual_seed(d)
    q, dout = (torch.randn(s, hq, d, device=DEV, dtype=torch.bfloat16) for _ in range(2))
    k, v = (torch.randn(s, hkv, d, device=DEV, dtype=torch.bfloat16) for _ in range(2))
    torch.cuda.synchronize()
    results = run_ranks(cp, lambda comm: pipeline(
        make_key(comm, slices, s, hq, hkv, d, chunk_size=64), q, k, v, dout, d ** -0.5))
    mask = dense_mask(slices, s, s, DEV)
    ref = attention_ref(q, k, v, dout, mask, d ** -0.5)
    low = attention_ref(q, k, v, dout, mask, d ** -0.5, dtype=torch.bfloat16)
    for name, got, i in zip(("out", "dq", "dk", "dv"), results[0], (0, 2, 3, 4)):
        check(name, got, ref[i], low[i])


def test_deterministic_mode_on_thread_ranks(monkeypatch):
    """MAGI_ATTENTION_DETERMINISTIC_MODE=1 at cp 4 (hierarchical-free, overlap degree 2): dq, dk,
    dv bit-identical over three runs, though rows sent to several ranks come back from each
    (the ordered scatter-add of their partial dK / dV)."""
    monkeypatch.setenv("MAGI_ATTENTION_DETERMINISTIC_MODE", "1")
    rng = random.Random(3)
    s, hq, hkv, d, cp = 1000, 4, 2, 128, 4
    slices = random_slices(rng, s, s) + [(0, s, 0, s, 1)]
    torch.manual_seed(3)
    q, dout = (torch.randn(s, hq, d, device=DEV, dtype=torch.bfloat16) for _ in range(2))
    k, v = (torch.randn(s, hkv, d, device=DEV, dtype=torch.bfloat16) for _ in range(2))
    config = DistAttnConfig(overlap_config=OverlapConfig(degree=2, min_chunk_size=4))
    torch.cuda.synchronize()
    runs = [run_ranks(cp, lambda comm: pipeline(
        make_key(comm, slices, s, hq, hkv, d, chunk_size=64, config=config), q, k, v, dout,
        d ** -0.5))[0] for _ in range(3)]
    for i, run in enumerate(runs[1:], 1):
        for name, a, b in zip(("out", "dq", "dk", "dv"), run, runs[0]):
            assert torch.equal(a, b), f"run {i}: {name} differs from run 0's"
