"""GPU tests of the deterministic backward (FfaOptions::deterministic, issue 10).

With deterministic=True (or MAGI_ATTENTION_DETERMINISTIC_MODE=1) the gradients must be
bit-identical over repeated runs, on masks where many work items add into the same dq rows and
dk/dv rows (overlapping q ranges, GQA, long key ranges split across CTAs), and still match the
float64 reference within the rule of test_ffa.py. Hopper only: elsewhere the flag must raise.
Run: PYTHONPATH=python python3 -m pytest tests/cuda/test_deterministic.py -q
"""
import os
import random
import subprocess
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))
from ffa_ref import attention_ref, dense_mask  # noqa: E402

if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

from magi_attention import flex_flash_attn_func  # noqa: E402
from test_ffa import HOPPER, check, random_slices, to_tensors  # noqa: E402

DEV = torch.device("cuda")
RUNS = 10


def grads(q, k, v, dout, qr, kr, tm, deterministic):
    qg, kg, vg = (x.clone().requires_grad_(True) for x in (q, k, v))
    out, _ = flex_flash_attn_func(qg, kg, vg, qr, kr, tm, deterministic=deterministic)
    out.backward(dout)
    return qg.grad, kg.grad, vg.grad


def inputs(sq, sk, hq, hkv, d, dtype, seed, dv=None):
    """q, k, v, dout; v and dout ``dv`` wide (None: d)."""
    dv = d if dv is None else dv
    g = torch.Generator(device=DEV).manual_seed(seed)
    mk = lambda n, h, w: torch.randn(n, h, w, device=DEV, dtype=dtype, generator=g)  # noqa: E731
    return mk(sq, hq, d), mk(sk, hkv, d), mk(sk, hkv, dv), mk(sq, hq, dv)


def check_repeatable(slices, sq, sk, hq, hkv, d, dv, dtype, seed):
    """Deterministic gradients: bitwise equal over RUNS runs, and within the reference rule
    against float64."""
    q, k, v, dout = inputs(sq, sk, hq, hkv, d, dtype, seed=seed, dv=dv)
    qr, kr, tm = to_tensors(slices)
    first = grads(q, k, v, dout, qr, kr, tm, True)
    for _ in range(RUNS - 1):
        again = grads(q, k, v, dout, qr, kr, tm, True)
        for name, a, b in zip(("dq", "dk", "dv"), first, again):
            assert torch.equal(a, b), f"{name} differs between deterministic runs"
    mask = dense_mask(slices, sq, sk, DEV)
    scale = d ** -0.5
    r64 = attention_ref(q, k, v, dout, mask, scale, 0.0, torch.float64)
    rlp = attention_ref(q, k, v, dout, mask, scale, 0.0, dtype)
    for i, name in enumerate(("dq", "dk", "dv")):
        check(name, first[i], r64[2 + i], rlp[2 + i])


CASES = {
    # Every query row sees the keys through several slices; dk/dv rows are reached by many
    # query tiles of several items.
    "overlapping_full": (2048, 2048, [(0, 2048, 0, 2048, 0), (512, 1536, 0, 1024, 1),
                                      (0, 1024, 256, 2048, 2), (1000, 2048, 0, 2048, 3)]),
    "long_causal": (4096, 4096, [(0, 4096, 0, 4096, 1)]),
    "random_a": 11,
    "random_b": 12,
}


@pytest.mark.skipif(not HOPPER, reason="deterministic mode needs the Hopper kernels")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("d,dv", [(64, 64), (128, 128), (192, 192), (256, 256), (192, 128)],
                         ids=["64", "128", "192", "256", "mla"])
@pytest.mark.parametrize("case", list(CASES))
def test_bitwise_repeatable(case, d, dv, dtype):
    spec = CASES[case]
    if isinstance(spec, int):
        rng = random.Random(spec)
        sq, sk = rng.randint(900, 2500), rng.randint(900, 2500)
        slices = random_slices(rng, sq, sk, n_max=8)
    else:
        sq, sk, slices = spec
    check_repeatable(slices, sq, sk, 8, 2, d, dv, dtype, seed=len(slices) + d)


@pytest.mark.skipif(not HOPPER, reason="deterministic mode needs the Hopper kernels")
def test_env_var_turns_it_on():
    # A fresh process: the knob is read per call, but keep the parent's environment clean.
    code = (
        "import torch, sys\n"
        "sys.path.insert(0, 'tests/cuda')\n"
        "from test_deterministic import grads, inputs\n"
        "from test_ffa import to_tensors\n"
        "qr, kr, tm = to_tensors([(0, 3000, 0, 3000, 0), (0, 3000, 500, 2500, 1)])\n"
        "q, k, v, do = inputs(3000, 3000, 8, 2, 128, torch.bfloat16, 3)\n"
        "a = grads(q, k, v, do, qr, kr, tm, False)\n"
        "for _ in range(5):\n"
        "    b = grads(q, k, v, do, qr, kr, tm, False)\n"
        "    assert all(torch.equal(x, y) for x, y in zip(a, b)), 'differs'\n"
        "print('ok')\n")
    env = dict(os.environ, MAGI_ATTENTION_DETERMINISTIC_MODE="1")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       cwd=os.path.join(os.path.dirname(__file__), "..", ".."))
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr


@pytest.mark.skipif(not HOPPER, reason="deterministic mode needs the Hopper kernels")
@pytest.mark.parametrize("d,dv", [(128, 128), (192, 128)], ids=["128", "mla"])
def test_bitwise_repeatable_stored(d, dv):
    """One query head per kv head and documents of their own: dk / dv stored in 16 bits by their
    one owner (no turns), dq added in the fixed order."""
    slices = [(0, 700, 0, 700, 1), (700, 1500, 700, 1500, 0), (700, 1500, 900, 1200, 0)]
    check_repeatable(slices, 1500, 1500, 4, 4, d, dv, torch.bfloat16, seed=d + dv)


@pytest.mark.skipif(HOPPER, reason="the Hopper kernels support deterministic mode")
@pytest.mark.parametrize("d,dv", [(64, 64), (192, 128)], ids=["64", "mla"])
def test_refused_without_hopper_kernels(d, dv):
    q, k, v, dout = inputs(256, 256, 2, 2, d, torch.bfloat16, 0, dv=dv)
    qr, kr, tm = to_tensors([(0, 256, 0, 256, 0)])
    with pytest.raises(ValueError, match="deterministic"):
        grads(q, k, v, dout, qr, kr, tm, True)
