"""torch.compile(fullgraph=True) of small attention modules using flex_flash_attn_func and
dispatch -> calc_attn -> undispatch matches eager (outputs and gradients). Needs torch >= 2.4
(custom ops); the CUDA cases need a GPU. Skipped with torch 1.13."""

import pytest
import torch

from dist_harness import run_ranks
from reference import rel_err

pytestmark = pytest.mark.skipif(not hasattr(getattr(torch, "library", None), "custom_op"),
                                reason="torch.compile support needs torch >= 2.4")

DEVICES = [pytest.param("cpu", "float32"),
           pytest.param("cuda", "bfloat16", marks=pytest.mark.skipif(
               not torch.cuda.is_available(), reason="needs a CUDA GPU"))]


def _check(res, tol):
    eager, compiled = res["eager"], res["compiled"]
    for name in ("y", "aux", "dx", "dw"):
        assert compiled[name].shape == eager[name].shape, name
        err = rel_err(compiled[name].double(), eager[name].double())
        assert err <= tol, f"{name}: compiled differs from eager by {err:.3e}"


@pytest.mark.parametrize("device,dtype", DEVICES)
def test_flex_flash_attn_compiles_fullgraph(device, dtype):
    from compile_workers import flex

    _check(run_ranks(flex, 1, device, dtype, timeout=900)[0], 1e-5 if device == "cpu" else 2e-2)


@pytest.mark.parametrize("device,dtype", DEVICES)
def test_calc_attn_compiles_fullgraph(device, dtype):
    from compile_workers import dist_pipeline

    res = run_ranks(dist_pipeline, 1, device, dtype, timeout=900)[0]
    _check(res, 1e-5 if device == "cpu" else 2e-2)
