"""Ranges, mask types, configs (and their bound core types), key equality."""

import pytest

from magi_attention.api import (
    AttnMaskType,
    AttnRanges,
    DispatchConfig,
    DistAttnConfig,
    MinHeapDispatchAlg,
    OverlapConfig,
    ToppHeapDispatchAlg,
    UniformOverlapAlg,
)
import magi_attention._C as C
from magi_attention.common.ranges import RangeError
from magi_attention.dist.key import DistAttnRuntimeKey, KeyCache


def test_ranges():
    r = AttnRanges.from_ranges([[0, 128], [128, 256], [300, 310]])
    assert r.to_naive_ranges() == [(0, 128), (128, 256), (300, 310)]
    assert r.merge().to_naive_ranges() == [(0, 256), (300, 310)]
    assert r.total_seqlen == 266 and r.max_seqlen == 128 and r.start == 0 and r.end == 310
    assert AttnRanges.from_cu_seqlens([0, 3, 7], 7).to_cu_seqlens(7) == [0, 3, 7]
    assert AttnRanges.from_ranges(r.to_tensor()) == r and hash(r.clone()) == hash(r)
    with pytest.raises(RangeError):
        AttnRanges.from_ranges([[5, 2]])
    with pytest.raises(ValueError):
        AttnRanges.from_cu_seqlens([0, 3, 3], 3)


def test_mask_type_codes():
    for code, name in enumerate(["full", "causal", "inv_causal", "bi_causal"]):
        t = AttnMaskType(name)
        assert t.to_int_type() == code and AttnMaskType.from_int_type(code) is t
    with pytest.raises(ValueError):
        AttnMaskType("causual")


def test_seed_config_and_defaults():
    cfg = DistAttnConfig(
        dispatch_config=DispatchConfig(alg=MinHeapDispatchAlg()),
        overlap_config=OverlapConfig(enable=True, mode="static", degree=2, min_chunk_size=512,
                                     max_num_chunks=64,
                                     alg=UniformOverlapAlg(random_costs=True, random_seed=42)),
        high_bandwith_domain_size=1)
    core = cfg._to_core()  # the core's own type (bound with pybind11), not a dict of codes
    assert core.overlap_config.degree == 2 and core.overlap_config.alg.random_seed == 42
    assert core.dispatch_config.alg.type == C.DispatchAlgType.min_heap
    assert core == DistAttnConfig(overlap_config=OverlapConfig(
        degree=2, alg=UniformOverlapAlg(random_costs=True, random_seed=42)))._to_core()
    assert DispatchConfig(alg=ToppHeapDispatchAlg(top_p=0.5)) != DispatchConfig()
    with pytest.raises(Exception):
        cfg.high_bandwith_domain_size = 2  # frozen


def test_key_equality_and_lru(monkeypatch):
    monkeypatch.setenv("MAGI_ATTENTION_DIST_ATTN_RUNTIME_DICT_SIZE", "2")

    comm, other = object(), object()  # two communicators (process group objects) of "g"

    def key(n, runtime=None, on=comm):
        return DistAttnRuntimeKey(((0, n, 0, n, 0),), n, n, None, None, 64, pad_size=0,
                                  chunk_size=None, group_id="g", dist_attn_config=DistAttnConfig(),
                                  runtime=runtime, comm=on)

    assert key(8, runtime=1) == key(8, runtime=2) and hash(key(8)) == hash(key(8, runtime=3))
    cache = KeyCache()
    for n in (8, 16, 24):
        cache.put(key(n, runtime=n))
    assert cache.get(key(8), comm) is None and cache.get(key(16), comm).runtime == 16
    assert cache.most_recent("g").runtime == 16 and len(cache) == 2
    # An equal key of another group object with the same ranks: an entry of its own.
    assert cache.get(key(16), other) is None
    cache.put(key(16, runtime=-16, on=other))  # evicts 24, the least recent
    assert cache.get(key(16), other).runtime == -16 and cache.get(key(24), comm) is None
    assert cache.most_recent("g").runtime == -16 and cache.most_recent("g", comm).runtime == 16
    cache.clear("g")
    assert len(cache) == 0
