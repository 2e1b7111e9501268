"""GPU tests of both Hopper forward variants at head dim 64: 128-row items on two consumer
warpgroups and 192-row items on three (tile_table.h). The host picks one per call
(sm90/fwd_rows.h); MAGI_FFA_FWD_ROWS=128 or 192 forces it, read once per
process, so each setting reruns the head-dim-64 forward tests in a fresh pytest process:
random masks with overlapping q ranges, every mask type, GQA, softcap, empty rows, the merge
mode, max_logits, the sink and non-finite inputs, against the float64 reference.
Run: PYTHONPATH=python python3 -m pytest tests/cuda/test_fwd_rows.py -q
"""
import os
import sys

import pytest
import torch

if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

sys.path.insert(0, os.path.dirname(__file__))
from rerun import rerun  # noqa: E402
from test_ffa import HOPPER  # noqa: E402


@pytest.mark.skipif(not HOPPER, reason="the 192-row variant is a Hopper kernel")
@pytest.mark.parametrize("rows", ["128", "192"])
def test_head_dim_64_forward_tests_on_each_variant(rows):
    rerun({"MAGI_FFA_FWD_ROWS": rows}, "64 or softcap", timeout=600)
