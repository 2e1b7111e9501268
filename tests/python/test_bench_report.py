"""bench/compare.py and bench/report.py on made-up bench_ffa.py JSON: the variant ratios, a
missing row, and report.py's refusal to merge runs of different commits."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "bench")
sys.path.insert(0, BENCH)

from compare import table  # noqa: E402


def run_json(path, commit, rates, impl="ffa", more=(), warmup_s=None):
    """A bench_ffa.py-shaped file: rates = {(case, S): (fwd, bwd)} for `impl`, 64:8, hd 128;
    `more`: results of other files' shape to add; `warmup_s`: bench_ffa.py's --warmup-s (None:
    a run from before it)."""
    results = [
        {"case": c, "S": s, "impl": impl, "hq": 64, "hkv": 8, "d": 128, "fwd_tflops": f,
         "bwd_tflops": b, "fwdbwd_tflops": 3.5 / (1 / f + 2.5 / b), "fwd_ms": 1.0,
         "fwdbwd_ms": 3.0, "cells": 1}
        for (c, s), (f, b) in rates.items()
    ] + list(more)
    env = {"device": "test", "torch": "-", "cudnn": "-", "date": "2026-12-02", "commit": commit}
    if warmup_s is not None:
        env["warmup_s"] = warmup_s
    with open(path, "w") as f:
        json.dump({"env": env, "results": results, "host": {}, "notes": []}, f)
    return str(path)


def test_compare_ratios_and_missing_rows(tmp_path):
    base = run_json(tmp_path / "base.json", "abc", {("full", 8192): (600.0, 500.0),
                                                    ("causal", 8192): (580.0, 400.0)})
    var = run_json(tmp_path / "var.json", "abc", {("full", 8192): (630.0, 450.0)})
    lines = table([base, var], "ffa").splitlines()
    assert len(lines) == 4  # header, rule, two rows of the baseline
    full = next(line for line in lines if line.startswith("| full"))
    cells = [c.strip() for c in full.strip("|").split("|")]
    assert cells[4:8] == ["600", "500", "630", "450"]
    assert cells[8:] == ["1.05", "0.90"]
    causal = next(line for line in lines if line.startswith("| causal"))
    assert [c.strip() for c in causal.strip("|").split("|")][6:] == ["-", "-", "-", "-"]


def run_report(tmp_path, *runs):
    """report.py on the bench JSON files `runs`: (process result, md path)."""
    md = tmp_path / "r.md"
    cmd = [sys.executable, os.path.join(BENCH, "report.py"), *runs, "--md", str(md), "--png",
           str(tmp_path / "r.png")]
    return subprocess.run(cmd, capture_output=True, text=True), md


def report(tmp_path, second_commit):
    """report.py on two runs (commits "abc" and `second_commit`): (process result, md path)."""
    a = run_json(tmp_path / "a.json", "abc", {("full", 8192): (600.0, 500.0)})
    b = run_json(tmp_path / "b.json", second_commit, {("causal", 8192): (580.0, 400.0)})
    return run_report(tmp_path, a, b)


def test_report_refuses_runs_of_different_commits(tmp_path):
    r, md = report(tmp_path, "def")
    assert r.returncode != 0 and "different commits" in (r.stderr + r.stdout)
    assert not md.exists()


def test_report_merges_runs_of_one_commit(tmp_path):
    r, md = report(tmp_path, "abc")
    assert r.returncode == 0, r.stderr
    text = md.read_text()
    assert "2 processes run one after the other" in text and "commit `abc`" in text
    assert "| full |" in text and "| causal |" in text


def test_report_compares_the_deterministic_backward(tmp_path):
    det = json.load(open(run_json(tmp_path / "d.json", "abc", {("causal", 8192): (580.0, 300.0)},
                                  impl="ffa_det")))["results"]
    a = run_json(tmp_path / "a.json", "abc", {("causal", 8192): (580.0, 400.0)}, more=det)
    r, md = run_report(tmp_path, a)
    assert r.returncode == 0, r.stderr
    text = md.read_text()
    assert "## Deterministic backward against the default" in text
    assert "| 8192 (64:8, d 128) | causal | 400 | 300 | 0.75 |" in text


def test_report_shows_the_clock_and_power_where_recorded(tmp_path):
    cudnn = {"case": "full", "S": 8192, "impl": "sdpa_cudnn", "hq": 64, "hkv": 8, "d": 128,
             "fwd_tflops": 640.0, "bwd_tflops": 540.0, "fwdbwd_tflops": 560.0, "fwd_ms": 1.0,
             "fwdbwd_ms": 3.0, "cells": 1, "gpu_after": {"sm_clock_mhz": 1890, "power_w": 686.2}}
    a = run_json(tmp_path / "a.json", "abc", {("full", 8192): (600.0, 540.0)}, more=[cudnn])
    r, md = run_report(tmp_path, a)
    assert r.returncode == 0, r.stderr
    text = md.read_text()
    assert "SM MHz / W |" in text
    assert "| full | sdpa_cudnn |" in text and "| 1890 / 686 |" in text
    assert [ln for ln in text.splitlines() if ln.startswith("| full | **ffa**")][0].endswith(" - |")


def test_report_names_the_warm_up_where_recorded(tmp_path):
    old = run_json(tmp_path / "old.json", "abc", {("full", 8192): (600.0, 500.0)})
    r, md = run_report(tmp_path, old)
    assert r.returncode == 0, r.stderr
    assert "matmuls" not in md.read_text()
    a = run_json(tmp_path / "a.json", "abc", {("full", 8192): (600.0, 500.0)}, warmup_s=3.0)
    b = run_json(tmp_path / "b.json", "abc", {("causal", 8192): (580.0, 400.0)}, warmup_s=0.0)
    r, md = run_report(tmp_path, a, b)
    assert r.returncode == 0, r.stderr
    assert "ran bf16 matmuls for 0 s / 3 s," in md.read_text()
