"""Later versions' names and call forms that the package accepts (docs/python.md,
"Compatibility with later versions of the original")."""
import os
import subprocess
import sys

from dist_harness import run_ranks
from compat_workers import later_forms

from magi_attention.api import AttnMaskType


def test_later_key_forms_on_two_ranks():
    for r in run_ranks(later_forms, 2, timeout=120):
        assert r["pad"] == 3
        assert r["q_ranges"] == [(0, 100), (100, 125)] and r["k_ranges"] == [(0, 100), (0, 125)]
        assert r["types"] == (AttnMaskType.CAUSAL, AttnMaskType.FULL) and r["uneven"] is False
        assert r["pos_device"] == "cpu"  # a gloo group's key
        assert r["meta"] == ("AttnForwardMeta", (2,))
        # ceil(1000 / (8 * 2)) by default, ceil(1000 / (2 * 2)) with the variable at 2.
        assert r["chunk_default"] == 63 and r["chunk_env"] == 250
        assert "MAGI_ATTENTION_MIN_CHUNKS_PER_RANK = 'zero'" in r["env_error"]


def test_unread_environment_variables_draw_one_warning():
    env = dict(os.environ, MAGI_ATTENTION_KERNEL_BACKEND="sdpa", MAGI_ATTENTION_PRECISION="fp32",
               MAGI_ATTENTION_DETERMINISTIC_MODE="0")
    code = "import warnings; warnings.simplefilter('always'); import magi_attention.api"
    err = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120).stderr
    assert err.count("have no effect in this implementation") == 1, err
    assert "MAGI_ATTENTION_KERNEL_BACKEND, MAGI_ATTENTION_PRECISION (" in err, err
    # Values that ask for nothing are not reported.
    env.update(MAGI_ATTENTION_KERNEL_BACKEND="ffa", MAGI_ATTENTION_PRECISION="",
               MAGI_ATTENTION_SANITY_CHECK="0")
    err = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120).stderr
    assert "no effect" not in err, err
