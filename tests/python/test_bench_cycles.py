"""bench/cycles.py's reading of ncu's CSV (made up here: no GPU): the program's own output
before the header skipped, values with thousands separators, a pass's kernels (the main one and
the merge of cut tiles' pieces) summed, other kernels and unparsable values ignored."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))

from cycles import parse  # noqa: E402

HEADER = ('"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream",'
          '"Block Size","Grid Size","Device","CC","Section Name","Metric Name","Metric Unit",'
          '"Metric Value"')


def row(i, kernel, metric, unit, value):
    return (f'"{i}","1","python3","h","{kernel}","1","7","(384, 1, 1)","(132, 1, 1)","0","9.0",'
            f'"Command line profiler metrics","{metric}","{unit}","{value}"')


def test_parse_sums_a_pass_and_skips_the_rest():
    text = "\n".join([
        "profile_ffa: fwd 1.23 ms", "==PROF== Connected to process 1",
        HEADER,
        row(0, "void magi::cuda::sm90::ffa_fwd_sm90_kernel<a, b>(P)", "sm__cycles_elapsed.max",
            "cycle", "1,234,567"),
        row(0, "void magi::cuda::sm90::ffa_fwd_sm90_kernel<a, b>(P)", "gpu__time_duration.sum",
            "ns", "654,321"),
        row(1, "magi::cuda::ffa_bwd_preprocess_kernel", "sm__cycles_elapsed.max", "cycle", "999"),
        row(2, "void magi::cuda::sm90::ffa_bwd_ws_kernel<x>(P)", "sm__cycles_elapsed.max",
            "cycle", "3,000,000"),
        row(3, "void magi::cuda::sm90::ffa_bwd_cut_merge_kernel<x>(P)", "sm__cycles_elapsed.max",
            "cycle", "20,000"),
        row(3, "void magi::cuda::sm90::ffa_bwd_cut_merge_kernel<x>(P)", "gpu__time_duration.sum",
            "ns", "n/a"),
    ])
    got = parse(text)
    assert got == {"fwd": {"sm__cycles_elapsed.max": 1234567.0,
                           "gpu__time_duration.sum": 654321.0},
                   "bwd": {"sm__cycles_elapsed.max": 3020000.0}}
    assert parse("no csv here") == {}


def test_tile_cost_fit_recovers_a_known_fixed_cost():
    """bench/tile_cost_fit.py: cycles made up from 4000 a query tile and 3 query tiles a tile
    (backward), 900 a key tile and 1.5 key tiles a tile (forward), on document masks."""
    from tile_cost_fit import counts, fit

    # docs512 at 32k, 16 heads: 64 documents of 4 key blocks walking 8 query tiles each.
    assert counts("docs512", 32768, 16, 176)["bwd"] == (16 * 64 * 4 * 8, 16 * 64 * 4)
    assert counts("causal", 1024, 1, 176)["bwd"] == (16 + 14 + 12 + 10 + 8 + 6 + 4 + 2, 8)
    points = {"bwd": [], "fwd": []}
    for name in ("docs512", "docs2048_causal", "docs8192", "full"):
        c = counts(name, 32768, 16, 176)
        for p, (a, f) in (("bwd", (4000, 3.0)), ("fwd", (900, 1.5))):
            u, t = c[p]
            points[p].append((u / 132, t / 132, a * (u + f * t) / 132))
    a, b = fit(points["bwd"])
    assert abs(a - 4000) < 1e-6 * 4000 and abs(b / a - 3.0) < 1e-9
    a, b = fit(points["fwd"])
    assert abs(a - 900) < 1e-6 * 900 and abs(b / a - 1.5) < 1e-9
