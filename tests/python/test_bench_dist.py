"""bench/bench_dist.py on CPU: its slice clipping against brute force, and a 2-rank gloo run at
tiny sizes whose JSON must show every method agreeing with magi and with dense float64
attention."""

import json
import os
import random
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "bench")
sys.path.insert(0, BENCH)

from dist_masks import area, cells, clip, make_mask  # noqa: E402

TYPES = ("full", "causal", "inv_causal", "bi_causal")


def dense_cells(s):
    qs, qe, ks, ke, t = s
    sq, sk = qe - qs, ke - ks
    out = set()
    for i in range(sq):
        for j in range(sk):
            if t in ("causal", "bi_causal") and j > i + sk - sq:
                continue
            if t in ("inv_causal", "bi_causal") and j < i:
                continue
            out.add((qs + i, ks + j))
    return out


def test_clip_is_exact():
    rng = random.Random(0)
    for _ in range(2000):
        n = rng.randint(1, 20)
        qs, qe = sorted(rng.randint(0, n) for _ in range(2))
        ks, ke = sorted(rng.randint(0, n) for _ in range(2))
        s = (qs, qe, ks, ke, rng.choice(TYPES))
        rows = tuple(sorted(rng.randint(0, n) for _ in range(2)))
        cols = tuple(sorted(rng.randint(0, n) for _ in range(2)))
        want = {(q, k) for q, k in dense_cells(s) if rows[0] <= q < rows[1]
                and cols[0] <= k < cols[1]}
        got = set()
        for piece in clip(s, rows, cols):
            c = dense_cells(piece)
            assert c and not (c & got), (s, rows, cols, piece)
            assert area(piece) == len(c), piece
            got |= c
        assert got == want, (s, rows, cols)
        assert area(s) == len(dense_cells(s)), s


def test_masks_cover_the_sequence():
    for name in ("full", "causal", "varlen_full", "varlen_causal"):
        slices = make_mask(name, 96)
        assert slices[0][0] == 0 and slices[-1][1] == 96
        assert all(a[1] == b[0] for a, b in zip(slices, slices[1:]))
    assert cells(make_mask("causal", 96)) == 96 * 97 // 2
    with pytest.raises(ValueError, match="mask 'swa'"):
        make_mask("swa", 96)


def test_bench_dist_two_cpu_ranks(tmp_path):
    cmd = [sys.executable, os.path.join(BENCH, "bench_dist.py"), "--spawn", "2",
           "--tokens-per-rank", "48", "--heads", "4:2", "--head-dim", "16", "--chunk", "8",
           "--warmup", "0", "--iters", "1", "--reference", "--out", str(tmp_path),
           "--name", "smoke.json"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.load(open(tmp_path / "smoke.json"))
    assert report["agree"] and report["cp"] == 2 and report["backend"] == "gloo"
    rows = report["rows"]
    assert {(x["mask"], x["method"]) for x in rows} == {
        (m, k) for m in ("full", "causal", "varlen_full", "varlen_causal")
        for k in ("magi", "ulysses", "ring", "all_gather")}
    for row in rows:
        assert "skipped" not in row, row
        assert row["fwd_ms"] > 0 and row["bwd_ms"] > 0 and row["fwd_tflops"] > 0
        assert row["cells"] == cells(make_mask(row["mask"], 96))
        assert max(row["rel_l2_vs_dense_fp64"].values()) < 1e-5, row
        if row["method"] != "magi":
            assert max(row["rel_l2_vs_magi"].values()) < 1e-5, row
    assert "magi/x fwd" in r.stdout
