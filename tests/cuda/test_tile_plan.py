"""GPU tests of the backward's host tile plan (sm90/tile_plan.h) under its development knobs:
MAGI_FFA_BWD_TILE_PLAN=<k> (chunks of k grids; 0 the scheduler's rounds; the deterministic mode
keeps its own plan), MAGI_FFA_BWD_DET_HEAD_GROUP=<g> (the deterministic plan's head groups) and
MAGI_FFA_BWD_CUTS=1 (the last chunk's tiles cut in two pieces wherever the plan gains, which by
default it does only where the tiles walk 64 query tiles or more on average; =0 never;
sm90/bwd_cut.cuh: with GQA the pieces add dK / dV in fp32, with MHA each stores its slot and a
second kernel adds them; at head dim 256 in both D passes), MAGI_FFA_BWD_PACK (a GQA tile
walks its kv head's query heads in turn and stores dK / dV itself, BwdParams::pack_heads: 1
wherever it can, 0 never, 2 by sm90/bwd_pack.h's rule; by default the heads v62's model of
steps and DRAM bytes prefers), MAGI_FFA_BWD_PACK_WALKS=<n>
(tiles of n query heads) and MAGI_FFA_BWD_ORDER=1 (the default mode in key order, which by
default only shapes with more than half an L2 of query rows a head take). That the MHA cases are cut
on a 132-SM H200 with MAGI_FFA_BWD_CUTS=1 is checked on the host:
tests/kernels/cuda/sm90/tile_plan_test.cc, GpuTestMasksCutOnAnH200.

The knobs are read once per process, so each setting runs in a fresh process: gradients against
the float64 reference on causal, random overlapping and GQA / MQA masks at head dims 64-256,
and the deterministic mode bit-identical over runs and across the settings (its order of
additions depends on the mask alone; its turns must not deadlock under any plan order).
Hopper only (the plan drives the warp-specialised backward).
Run: PYTHONPATH=python python3 -m pytest tests/cuda/test_tile_plan.py -q
"""
import os
import subprocess
import sys

import pytest
import torch

if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

sys.path.insert(0, os.path.dirname(__file__))
from test_ffa import HOPPER  # noqa: E402
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")

WORKER = """
import random, sys, torch
sys.path.insert(0, 'tests/cuda')
from ffa_ref import attention_ref, dense_mask
from test_deterministic import grads, inputs
from test_ffa import check, random_slices, to_tensors

cases = [  # (name, sq, sk, slices or seed, hq, hkv, d, dtype)
    ('causal', 4096, 4096, [(0, 4096, 0, 4096, 1)], 8, 2, 128, torch.bfloat16),
    ('varlen_causal', 3000, 3000, [(0, 1000, 0, 1000, 1), (1000, 2200, 1000, 2200, 1),
                                   (2200, 3000, 2200, 3000, 1)], 4, 1, 64, torch.float16),
    ('random', 0, 0, 21, 8, 2, 128, torch.bfloat16),
    # eight query heads a kv head: tiles of 2 or 4 of them are below a whole kv head
    ('random_mqa', 0, 0, 33, 8, 1, 64, torch.bfloat16),
    ('hd256', 2048, 2048, [(0, 2048, 0, 2048, 1), (0, 1024, 0, 2048, 0)], 2, 2, 256,
     torch.bfloat16),
    ('full_mha', 4096, 4096, [(0, 4096, 0, 4096, 0)], 6, 6, 128, torch.bfloat16),
    ('causal_mha', 3000, 3000, [(0, 3000, 0, 3000, 1)], 12, 12, 64, torch.float16),
    # MHA with one owner per key row at 256: the slots of both D passes and the merge's four
    # column parts (hd256 above has overlapping slices: its pieces add in fp32).
    ('hd256_mha', 2048, 2048, [(0, 2048, 0, 2048, 1)], 4, 4, 256, torch.bfloat16),
]
saved = {}  # the deterministic gradients per case
for name, sq, sk, spec, hq, hkv, d, dtype in cases:
    if isinstance(spec, int):
        rng = random.Random(spec)
        sq, sk = rng.randint(900, 2500), rng.randint(900, 2500)
        spec = random_slices(rng, sq, sk, n_max=8)
    q, k, v, do = inputs(sq, sk, hq, hkv, d, dtype, seed=d)
    qr, kr, tm = to_tensors(spec)
    mask = dense_mask(spec, sq, sk, q.device)
    r64 = attention_ref(q, k, v, do, mask, d ** -0.5, 0.0, torch.float64)
    rlp = attention_ref(q, k, v, do, mask, d ** -0.5, 0.0, dtype)
    for det in (False, True):
        got = grads(q, k, v, do, qr, kr, tm, det)
        for i, g in enumerate(('dq', 'dk', 'dv')):
            check(g, got[i], r64[2 + i], rlp[2 + i])
        if det:
            for _ in range(2):
                again = grads(q, k, v, do, qr, kr, tm, True)
                assert all(torch.equal(a, b) for a, b in zip(got, again)), name + ': differs'
            saved[name] = [g.cpu() for g in got]
    print('ok', name)
torch.save(saved, sys.argv[1])
print('cases', len(cases))
"""


@pytest.mark.skipif(not HOPPER, reason="the tile plan drives the Hopper backward")
def test_backward_on_each_tile_order(tmp_path):
    # The defaults; the rounds (the deterministic mode keeps its plan), item-major; one grid,
    # groups of 4 heads; the default plan with cut tiles at any walk; no cut tiles; GQA tiles of a
    # kv head's query heads (MAGI_FFA_BWD_PACK=1) under the default plan and under the rounds;
    # GQA tiles of one query head (=0); the default mode in key order (MAGI_FFA_BWD_ORDER=1, the
    # deterministic list without its turns), alone and with GQA tiles of two query heads
    # (MAGI_FFA_BWD_PACK_WALKS=2: dK / dV in fp32 where a kv head has more); tiles of two query
    # heads in the default plan, and of four (below a kv head of eight in random_mqa); the rule's
    # tiles in place of the model's (MAGI_FFA_BWD_PACK=2).
    settings = [{}, {"MAGI_FFA_BWD_TILE_PLAN": "0", "MAGI_FFA_BWD_DET_HEAD_GROUP": "0"},
                {"MAGI_FFA_BWD_TILE_PLAN": "1", "MAGI_FFA_BWD_DET_HEAD_GROUP": "4"},
                {"MAGI_FFA_BWD_CUTS": "1"}, {"MAGI_FFA_BWD_CUTS": "0"}, {"MAGI_FFA_BWD_PACK": "1"},
                {"MAGI_FFA_BWD_TILE_PLAN": "0", "MAGI_FFA_BWD_PACK": "1"},
                {"MAGI_FFA_BWD_PACK": "0"}, {"MAGI_FFA_BWD_ORDER": "1"},
                {"MAGI_FFA_BWD_ORDER": "1", "MAGI_FFA_BWD_PACK_WALKS": "2"},
                {"MAGI_FFA_BWD_PACK_WALKS": "2"}, {"MAGI_FFA_BWD_PACK_WALKS": "4"},
                {"MAGI_FFA_BWD_PACK": "2"}]
    knobs = {k for setting in settings for k in setting}
    det = []
    for setting in settings:
        env = {k: v for k, v in os.environ.items() if k not in knobs}
        env.update(setting)
        out = tmp_path / f"det_{len(det)}.pt"
        r = subprocess.run([sys.executable, "-c", WORKER, str(out)], env=env, capture_output=True,
                           text=True, cwd=ROOT, timeout=600)
        # every case passed: as many "ok" lines as the worker's closing count of cases
        ran = r.stdout.count("ok ")
        assert r.returncode == 0 and f"cases {ran}\n" in r.stdout, (setting, r.stdout + r.stderr)
        det.append(torch.load(out))
    for setting, got in zip(settings[1:], det[1:]):
        for name, grads in det[0].items():
            assert all(torch.equal(a, b) for a, b in zip(grads, got[name])), (
                f"{name}: deterministic gradients differ with {setting}")
