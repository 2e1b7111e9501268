"""Bad input raises TypeError/ValueError naming the argument."""

import pytest
import torch

from magi_attention.api import (
    AttnMaskType,
    DispatchConfig,
    DistAttnConfig,
    OverlapConfig,
    UniformOverlapAlg,
    compute_pad_size,
    flex_flash_attn_func,
    infer_attn_mask_from_cu_seqlens,
    magi_attn_flex_key,
)
from magi_attention.common.enum import normalize_mask_types


def _qkv(dtype=torch.float32, sq=8, sk=8, hq=2, hkv=2, d=16):
    return (torch.randn(sq, hq, d).to(dtype), torch.randn(sk, hkv, d).to(dtype),
            torch.randn(sk, hkv, d).to(dtype))


R = torch.tensor([[0, 8]], dtype=torch.int32)


@pytest.mark.parametrize("kwargs,exc,name", [
    (dict(q_ranges=R.long()), TypeError, "q_ranges"),
    (dict(k_ranges=R.float()), TypeError, "k_ranges"),
    (dict(q_ranges=R.view(-1)), ValueError, "q_ranges"),
    (dict(k_ranges=torch.zeros(1, 3, dtype=torch.int32)), ValueError, "k_ranges"),
    (dict(k_ranges=torch.zeros(2, 2, dtype=torch.int32)), ValueError, "k_ranges"),
    (dict(attn_type_map=torch.zeros(1, dtype=torch.int64)), TypeError, "attn_type_map"),
    (dict(attn_type_map=torch.zeros(2, dtype=torch.int32)), ValueError, "attn_type_map"),
    (dict(attn_type_map=torch.full((1,), 4, dtype=torch.int32)), ValueError, "attn_type_map"),
    (dict(q_ranges=torch.tensor([[0, 9]], dtype=torch.int32)), ValueError, "q_ranges"),
    (dict(k_ranges=torch.tensor([[5, 3]], dtype=torch.int32)), ValueError, "k_ranges"),
    (dict(softmax_scale=-1.0), ValueError, "softmax_scale"),
    (dict(softcap="x"), TypeError, "softcap"),
    (dict(deterministic="yes"), TypeError, "deterministic"),
    (dict(return_max_logits=1), TypeError, "return_max_logits"),
    (dict(sink_layout="hs"), ValueError, "sink_layout"),  # no sink given: still checked
])
def test_ffa_bad_ranges_and_options(kwargs, exc, name):
    args = dict(q_ranges=R, k_ranges=R, attn_type_map=None)
    args.update(kwargs)
    q, k, v = _qkv()
    with pytest.raises(exc, match=name):
        flex_flash_attn_func(q, k, v, args.pop("q_ranges"), args.pop("k_ranges"),
                             args.pop("attn_type_map"), **args)


@pytest.mark.parametrize("qkv,exc,name", [
    (lambda: _qkv(torch.int32), TypeError, "q"),
    (lambda: (_qkv()[0], _qkv(torch.float64)[1], _qkv()[2]), TypeError, "k"),
    (lambda: (_qkv()[0].view(8, 32), *_qkv()[1:]), ValueError, "q"),
    (lambda: _qkv(hq=3, hkv=2), ValueError, "num_heads_q"),
    (lambda: _qkv(hq=0, hkv=0), ValueError, "head counts must be >= 1"),
    (lambda: (_qkv()[0], _qkv(d=8)[1], _qkv(d=8)[2]), ValueError, "head_dim"),
    (lambda: (_qkv()[0], _qkv()[1], _qkv(sk=7)[2]), ValueError, "v"),
    (lambda: ([[1.0]], *_qkv()[1:]), TypeError, "q"),
])
def test_ffa_bad_tensors(qkv, exc, name):
    with pytest.raises(exc, match=rf"\b{name}\b"):
        flex_flash_attn_func(*qkv(), R, R)


def test_mask_type_strings():
    assert normalize_mask_types(["full", AttnMaskType.CAUSAL, "bi_causal"], 3)[2] is \
        AttnMaskType.BICAUSAL
    with pytest.raises(ValueError, match="attn_mask_type.*'causual'"):
        normalize_mask_types(["full", "causual"], 2)
    with pytest.raises(TypeError, match="attn_mask_type"):
        normalize_mask_types([1], 1)
    with pytest.raises(ValueError, match="attn_mask_type"):
        normalize_mask_types(["full"] * 2, 3)


def test_key_needs_exactly_one_of_group_and_mesh():
    common = dict(head_dim=64, pad_size=None, chunk_size=4)
    with pytest.raises(ValueError, match="cp_group, cp_mesh.*neither"):
        magi_attn_flex_key([[0, 8]], [[0, 8]], "full", 8, 8, **common)
    with pytest.raises(ValueError, match="cp_group, cp_mesh.*both"):
        magi_attn_flex_key([[0, 8]], [[0, 8]], "full", 8, 8, cp_group=object(),
                           cp_mesh=object(), **common)
    with pytest.raises(TypeError, match="cp_group"):
        magi_attn_flex_key([[0, 8]], [[0, 8]], "full", 8, 8, cp_group=object(), **common)


@pytest.mark.parametrize("args,exc,name", [
    (dict(attn_mask_type="causual"), ValueError, "attn_mask_type"),
    (dict(q_ranges="0:8"), TypeError, "q_ranges"),
    (dict(k_ranges=[[0, 8], [0, 4]]), ValueError, "k_ranges"),
    (dict(q_ranges=[[4, 2]]), ValueError, "q_ranges"),
    (dict(q_ranges=[[0, 9]]), ValueError, "q_ranges"),
    (dict(total_seqlen_k=7, k_ranges=[[0, 7]]), ValueError, "total_seqlen_k"),
    (dict(total_seqlen_q=8.0), TypeError, "total_seqlen_q"),
    (dict(total_seqlen_q=2**64), ValueError, "total_seqlen_q = 18446744073709551616"),
    (dict(chunk_size=0), ValueError, "chunk_size"),
    (dict(pad_size=-1), ValueError, "pad_size"),
    (dict(dist_attn_config="x"), TypeError, "dist_attn_config"),
    (dict(is_same_source=1), TypeError, "is_same_source"),
    (dict(is_q_permutable=False), ValueError, "is_q_permutable"),
    (dict(is_same_source=False, is_k_permutable=False), NotImplementedError, "is_k_permutable"),
])
def test_flex_key_bad_arguments(args, exc, name):
    call = dict(q_ranges=[[0, 8]], k_ranges=[[0, 8]], attn_mask_type="full",
                total_seqlen_q=8, total_seqlen_k=8)
    call.update(args)
    with pytest.raises(exc, match=name):
        magi_attn_flex_key(call.pop("q_ranges"), call.pop("k_ranges"),
                           call.pop("attn_mask_type"), call.pop("total_seqlen_q"),
                           call.pop("total_seqlen_k"), head_dim=64, cp_group=object(), **call)


def test_configs_validate():
    with pytest.raises(TypeError, match="alg"):
        DispatchConfig(alg="min_heap")
    with pytest.raises(ValueError, match="degree"):
        OverlapConfig(degree=65, max_num_chunks=64)
    with pytest.raises(ValueError, match="degree"):
        OverlapConfig(mode="dynamic", degree=2)
    with pytest.raises(TypeError, match="random_costs"):
        UniformOverlapAlg(random_costs=1)
    with pytest.raises(ValueError, match="high_bandwith_domain_size"):
        DistAttnConfig(high_bandwith_domain_size=0)
    with pytest.raises(TypeError, match="enable"):
        OverlapConfig(enable="yes")
    assert OverlapConfig(enable=False).no_overlap
    assert hash(DistAttnConfig()) == hash(DistAttnConfig())


def test_compute_pad_size_and_cu_seqlens():
    assert compute_pad_size(125, 2, 128, 512) == 899
    assert compute_pad_size(960, 2, 128, 512) == 64
    assert compute_pad_size(1024, 2, 512) == 0
    with pytest.raises(ValueError, match="cp_size"):
        compute_pad_size(10, 0, 128, 512)
    with pytest.raises(TypeError, match="cu_seqlens_q"):
        infer_attn_mask_from_cu_seqlens(torch.tensor([0.0, 4.0]), [0, 4])
    with pytest.raises(TypeError, match=r"cu_seqlens_q\[1\]"):  # not truncated to 4
        infer_attn_mask_from_cu_seqlens([0, 4.7, 10], [0, 4, 10])
    with pytest.raises(ValueError, match="cu_seqlens_k"):
        infer_attn_mask_from_cu_seqlens([0, 4], [0, 4, 2])


def test_core_errors_are_value_errors():
    from magi_attention._ext import core

    cfg = DistAttnConfig()._to_core()
    cfg.dispatch_config.alg.top_p = 2.0
    with pytest.raises(ValueError, match="top_p") as info:
        cfg.validate()
    assert isinstance(info.value, RuntimeError) and type(info.value).__name__ == "MagiError"
    # The source file is named relative to the repository (issue 15, item 7).
    assert str(info.value).startswith("src/common/config.cc:"), str(info.value)


def test_meta_tensors_are_reported_clearly():
    """Tensors without data (device 'meta') are refused by name (issue 15 item 7: it said
    "cpu: data is null"); the ranges may live on the meta device too."""
    q, k, v = (t.to("meta") for t in _qkv())
    with pytest.raises(ValueError, match=r"^q: meta tensors are not supported"):
        flex_flash_attn_func(q, k, v, R, R)
    from magi_attention._tensor import view

    with pytest.raises(ValueError, match="meta tensors are not supported"):
        view(torch.empty(3, device="meta"))
    with pytest.raises(ValueError, match=r"^q_ranges: meta tensors are not supported"):
        flex_flash_attn_func(*_qkv(), R.to("meta"), R)


def test_double_backward_is_refused_clearly():
    q, k, v = (t.double().requires_grad_() for t in _qkv())
    out, _ = flex_flash_attn_func(q, k, v, R, R)
    (dq,) = torch.autograd.grad(out.sum(), q, create_graph=True)
    with pytest.raises(RuntimeError, match="not differentiable"):
        dq.sum().backward()


def test_key_beyond_the_planners_chunk_limit_is_refused():
    """A mask of 2^40 tokens in chunks of 4 is 2^38 chunks: a clear error on every rank, not
    the memory of the machine exhausted."""
    from dist_harness import run_ranks
    from key_agreement_workers import make_keys

    huge = ([[0, 2**40]], 2**40)
    for errors in run_ranks(make_keys, 2, [[huge, huge]], timeout=120):
        assert "274877906944 chunks" in errors[0] and "chunk_size = 4" in errors[0], errors
