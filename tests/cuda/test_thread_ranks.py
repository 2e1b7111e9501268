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
from test_ffa import HOPPER, check, random_slices, varlen  # noqa: E402
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


NAMES = ("out", "dq", "dk", "dv")


def _case(name, s, rng):
    if name == "causal":
        return [(0, s, 0, s, 1)]
    if name == "varlen_causal":
        return varlen(rng, s, 1)
    return random_slices(rng, s, s) + [(0, s // 3, 0, s // 3, 1)]  # overlapping q ranges


def _inputs(s, hq, hkv, d, seed):
    """Global bf16 q, k, v, dout, complete before the ranks read them on their own streams."""
    torch.manual_seed(seed)
    q, dout = (torch.randn(s, hq, d, device=DEV, dtype=torch.bfloat16) for _ in range(2))
    k, v = (torch.randn(s, hkv, d, device=DEV, dtype=torch.bfloat16) for _ in range(2))
    torch.cuda.synchronize()
    return q, k, v, dout


def _pipeline(cp, slices, inputs, degree=None):
    """Every rank's global (out, dq, dk, dv), checked equal across ranks; rank 0's."""
    q, k, v, dout = inputs
    s, hq, d = q.shape
    config = DistAttnConfig() if degree is None else DistAttnConfig(
        overlap_config=OverlapConfig(degree=degree, min_chunk_size=4))
    results = run_ranks(cp, lambda comm: pipeline(
        make_key(comm, slices, s, hq, k.shape[1], d, chunk_size=64, config=config), q, k, v,
        dout, d ** -0.5))
    for r, res in enumerate(results[1:], 1):
        for name, a, b in zip(NAMES, res, results[0]):
            assert torch.equal(a, b), f"rank {r} {name} differs from rank 0's"
    return results[0]


def _check_reference(slices, inputs, got):
    q, k, v, dout = inputs
    s, d = q.shape[0], q.shape[2]
    mask = dense_mask(slices, s, s, DEV)
    ref = attention_ref(q, k, v, dout, mask, d ** -0.5)
    low = attention_ref(q, k, v, dout, mask, d ** -0.5, dtype=torch.bfloat16)
    for name, x, i in zip(NAMES, got, (0, 2, 3, 4)):
        check(name, x, ref[i], low[i])


@pytest.mark.parametrize("degree", [None, 0, 2])
@pytest.mark.parametrize("name", ["causal", "varlen_causal", "random"])
@pytest.mark.parametrize("cp", [2, 4, 8])
def test_pipeline_on_thread_ranks(cp, name, degree):
    slices = _case(name, 1000, random.Random(cp * 10 + len(name)))
    inputs = _inputs(1000, 4, 2, 128, seed=cp)
    _check_reference(slices, inputs, _pipeline(cp, slices, inputs, degree))


@pytest.mark.parametrize("d,hq,hkv", [(64, 8, 1), (256, 4, 4)])
def test_pipeline_on_thread_ranks_head_dims(d, hq, hkv):
    """MQA at head dim 64, MHA at 256 (the split-head-dim backward), cp 4, causal."""
    slices = [(0, 700, 0, 700, 1)]
    inputs = _inputs(700, hq, hkv, d, seed=d)
    _check_reference(slices, inputs, _pipeline(4, slices, inputs))


@pytest.mark.skipif(not HOPPER, reason="deterministic mode needs the Hopper kernels")
def test_deterministic_mode_on_thread_ranks(monkeypatch):
    """MAGI_ATTENTION_DETERMINISTIC_MODE=1 at cp 4 (flat, overlap degree 2): out, dq, dk, dv
    bit-identical over three runs, though rows sent to several ranks come back from each (the
    ordered scatter-add of their partial dK / dV)."""
    monkeypatch.setenv("MAGI_ATTENTION_DETERMINISTIC_MODE", "1")
    slices = random_slices(random.Random(3), 1000, 1000) + [(0, 1000, 0, 1000, 1)]
    inputs = _inputs(1000, 4, 2, 128, seed=3)
    runs = [_pipeline(4, slices, inputs, degree=2) for _ in range(3)]
    for i, run in enumerate(runs[1:], 1):
        for name, a, b in zip(NAMES, run, runs[0]):
            assert torch.equal(a, b), f"run {i}: {name} differs from run 0's"
