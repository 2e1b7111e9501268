"""The forward tests rerun in a fresh pytest process under development knobs that are read once
per process (MAGI_FFA_FWD_ROWS, MAGI_FFA_FWD_PLAN): test_fwd_rows.py, test_fwd_plan.py."""
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
# Random masks with overlapping q ranges, every mask type, head dims 64-256, GQA, softcap, empty
# rows, the merge mode, max_logits, the sink and non-finite inputs, against float64.
FORWARD_FILES = ["tests/cuda/test_ffa.py", "tests/cuda/test_max_logits.py",
                 "tests/cuda/test_sink.py", "tests/cuda/test_nonfinite.py"]


def rerun(env, select, files=FORWARD_FILES, timeout=900):
    """Runs pytest on `files` with `select` (a -k expression) under os.environ + `env`; asserts
    that it passed (and ran something)."""
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                        "-k", select] + files, env=dict(os.environ, **env), capture_output=True,
                       text=True, cwd=ROOT, timeout=timeout)
    tail = (r.stdout + r.stderr)[-3000:]
    assert r.returncode == 0, tail
    assert " passed" in r.stdout and " failed" not in r.stdout, tail
