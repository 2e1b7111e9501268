"""GPU tests of the Hopper forward's tile plans (sm90/fwd_plan.h): tiles cut along their keys
into pieces on several CTAs, then merged in piece order by a second kernel (sm90/fwd_split.cuh).
MAGI_FFA_FWD_PLAN=2 plans every call (read once per process), and with 132 CTAs for the few
tiles of these small problems nearly every tile is cut; so each setting reruns the forward
tests in a fresh pytest process: random masks with overlapping q ranges, every mask type,
head dims 64-256, GQA, softcap, empty rows, the merge mode, max_logits, the sink and
non-finite inputs, against the float64 reference; and the planned forward's bits over repeats.
Run: PYTHONPATH=python python3 -m pytest tests/cuda/test_fwd_plan.py -q
"""
import os
import sys

import pytest
import torch

if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

sys.path.insert(0, os.path.dirname(__file__))
from rerun import FORWARD_FILES, rerun  # noqa: E402
from test_ffa import DEV, HOPPER, to_tensors  # noqa: E402
from magi_attention.functional import flex_flash_attn as ffa_mod  # noqa: E402

PLANNED = os.environ.get("MAGI_FFA_FWD_PLAN") == "2"


@pytest.mark.skipif(not HOPPER, reason="the plans are the Hopper forward's")
@pytest.mark.skipif(PLANNED, reason="runs the others")
@pytest.mark.parametrize("rows", ["", "192"])
def test_forward_tests_with_every_call_planned(rows):
    files = FORWARD_FILES + ["tests/cuda/test_fwd_plan.py"]
    if rows:  # the 192-row variant at head dim 64
        rerun({"MAGI_FFA_FWD_PLAN": "2", "MAGI_FFA_FWD_ROWS": rows},
              "(64 or softcap or planned) and not backward and not dkv", files)
    else:
        rerun({"MAGI_FFA_FWD_PLAN": "2"}, "not backward and not dkv", files)


@pytest.mark.skipif(not PLANNED, reason="needs MAGI_FFA_FWD_PLAN=2 (the test above sets it)")
@pytest.mark.parametrize("d,dv", [(64, 64), (128, 128), (256, 256), (192, 128)],
                         ids=["64", "128", "256", "mla"])
def test_repeatable_when_planned(d, dv):
    """The pieces of a cut tile merge in piece order whichever finished last: the same bits on
    every run. One head of 4000 tokens: 32 tiles of 128 rows on 132 CTAs, each cut (MLA: pieces
    of v's 128 columns)."""
    s, h = 4000, 1
    torch.manual_seed(d)
    q, k = (torch.randn(s, h, d, device=DEV, dtype=torch.bfloat16) for _ in range(2))
    v = torch.randn(s, h, dv, device=DEV, dtype=torch.bfloat16)
    sl = ffa_mod._get_slices(*to_tensors([(0, s, 0, s, 0), (100, 3000, 0, 3900, 1)]))
    first = None
    for _ in range(10):
        out = torch.full((s, h, dv), float("nan"), device=DEV, dtype=torch.bfloat16)
        lse = torch.full((s, h), float("nan"), device=DEV)
        ffa_mod.ffa_forward(q, k, v, sl, d ** -0.5, 0.0, out=out, lse=lse)
        if first is None:
            first = (out, lse)
            ref = torch.softmax((q[:, 0].float() @ k[:, 0].float().T) * d ** -0.5, -1)
            ref = ref @ v[:, 0].float()
            rows = torch.arange(s, device=DEV)
            plain = (rows < 100) | (rows >= 3000)  # rows of the full slice alone
            err = (out[plain, 0].float() - ref[plain]).abs().max().item()
            assert err < 2e-2, err
        else:
            assert torch.equal(out, first[0]) and torch.equal(lse, first[1])
