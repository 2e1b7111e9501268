"""`magi-attn bench --device cuda`: the CLI's GPU path (device buffers, uploads, event timing)
checks every mask against dense attention before timing it and writes its JSON. Needs the CLI
built with the CUDA kernels: $MAGI_ATTN_BIN, else build/magi-attn (tools/device_run.sh's tree),
else build/cuda/magi-attn.
Run: python3 -m pytest tests/cuda/test_cli_bench.py -q"""
import json
import os
import subprocess
import sys

import pytest
import torch

if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

sys.path.insert(0, os.path.dirname(__file__))
from test_ffa import HOPPER  # noqa: E402  (sm_90 and MAGI_FFA_PORTABLE unset)
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def _binary():
    for path in (os.environ.get("MAGI_ATTN_BIN"), os.path.join(ROOT, "build", "magi-attn"),
                 os.path.join(ROOT, "build", "cuda", "magi-attn")):
        if path and os.path.exists(path):
            return path
    pytest.skip("no magi-attn binary built")


@pytest.mark.parametrize("args", [
    ["--heads", "4", "--head-dim", "128"],
    ["--heads", "8", "--heads-kv", "2", "--head-dim", "64", "--dtype", "float16"],
    ["--heads", "2", "--head-dim", "128", "--passes", "bwd", "--deterministic"],
])
def test_bench_checks_and_times_every_mask_on_the_gpu(tmp_path, args):
    if "--deterministic" in args and not HOPPER:
        pytest.skip("the deterministic mode needs the Hopper kernels")
    out = tmp_path / "bench.json"
    proc = subprocess.run([_binary(), "bench", "--device", "cuda", "--seqlen", "1000",
                           "--budget-ms", "20", "--check-rows", "64", "--json", str(out)] + args,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode == 2 and "built without the CUDA kernels" in proc.stderr:
        pytest.skip("magi-attn built without the CUDA kernels")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    d = json.loads(out.read_text())
    assert d["device"].startswith("cuda:0 ")
    assert [r["mask"] for r in d["results"]][0] == "full" and len(d["results"]) == 6
    assert d["ok"] is True
    for r in d["results"]:
        assert r["ok"] and all(r["check"][q] <= d["check_tolerance"][q] for q in r["check"]), r
        for p in ("fwd", "bwd") if "--passes" not in args else ("bwd",):
            assert r[p]["ms"] > 0 and r[p]["calls"] >= 3, r
