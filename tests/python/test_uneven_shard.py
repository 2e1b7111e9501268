"""DispatchConfig(uneven_shard=True): no padding, ranks of different lengths, on 1, 2, 3, 5 and
8 gloo ranks against float64 dense references (forward and x's gradient through dispatch,
calc_attn and undispatch); roll and is_partial_grad are checked inside the ranks. The C++ side
is tested on simulated ranks in tests/api/uneven_shard_test.cc."""

import pytest
import torch

from dist_attn_workers import qkv_of
from dist_harness import run_ranks
from magi_attention.api import DispatchConfig, ToppHeapDispatchAlg
from reference import attention, dense_mask, rel_err
from uneven_shard_workers import TOTAL, run


@pytest.mark.parametrize("world_size", [1, 2, 3, 5, 8])
def test_uneven_shards_match_the_dense_reference(world_size):
    results = run_ranks(run, world_size, timeout=400)
    r0 = results[0]
    for name, res in r0.items():
        for r, other in enumerate(results[1:], 1):
            assert torch.equal(other[name]["out"], res["out"]), (name, r)
            assert torch.equal(other[name]["x_grad"], res["x_grad"]), (name, r)
        x = res["x"].clone().requires_grad_()
        out = attention(*qkv_of(x), dense_mask(res["slices"], TOTAL, TOTAL))[0]
        g = torch.randn(out.shape, generator=torch.Generator().manual_seed(1),
                        dtype=torch.float64)
        (out * g).sum().backward()
        for what, got, ref in (("out", res["out"], out.detach()),
                               ("x.grad", res["x_grad"], x.grad)):
            err = rel_err(got, ref)
            assert err <= 1e-6, f"{name} {what}: relative error {err:.3e}"  # lse is float32
        # No padding: the shards add up to TOTAL; with more than one rank they differ, since
        # no chunk size used here divides 101 rows.
        lengths, chunk = res["lengths"], res["chunk"]
        assert sum(lengths) == TOTAL and min(lengths) >= 1, (name, lengths)
        assert max(lengths) <= -(-TOTAL // chunk // world_size) * chunk, (name, lengths)
        if world_size > 1:
            assert len(set(lengths)) > 1, (name, lengths)


def test_uneven_shard_config_is_validated():
    assert DispatchConfig(uneven_shard=True).uneven_shard
    with pytest.raises(ValueError, match="uneven_shard = true with DispatchAlg.type = topp_heap"):
        DispatchConfig(uneven_shard=True, alg=ToppHeapDispatchAlg(top_p=0.5))
    with pytest.raises(TypeError, match="uneven_shard"):
        DispatchConfig(uneven_shard=1)
