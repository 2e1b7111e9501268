#!/usr/bin/env python3
"""Float32 model of one row of the Hopper forward's summed softmax (softmax.cuh,
update_scores_summed with the move on the probabilities), against the exact softmax in float64.

The row is held by a quad (4 threads, kBlockN / 4 cells each per key tile); its first tile takes
the max-first way, later ones the summed way: 2^(argument) against the reference, the threads'
partial sums checked against 2^slack, and, where one fails, the quad's max P decides whether the
reference moves by the integer m = floor(log2 max P) (cells, sum and O scaled by 2^-m). Scores
rise by `rise` log2 units every 128 keys (as bench_ffa.py --inputs rising:X) on top of random
ones. Prints the output's and lse's errors, the moves and the tiles whose sums failed.
Usage: /usr/bin/python3 tools/softmax_move_model.py (numpy)."""
import numpy as np

F32 = np.float32


def run_row(scores, scale, vals, slack=8.0, block_n=176, threads=4):
    row_max, row_sum, o = -np.inf, np.zeros(threads, F32), F32(0)
    cap, moves, fails = F32(2.0 ** slack), 0, 0
    for c0 in range(0, len(scores), block_n):
        cells = [scores[c0 + t:c0 + block_n:threads] for t in range(threads)]
        vv = [vals[c0 + t:c0 + block_n:threads] for t in range(threads)]
        if row_max == -np.inf:  # the row's first tile: max-first
            m = F32(max(c.max() for c in cells) * scale)
            row_max = m / scale
            p = [np.exp2(c * scale - m).astype(F32) for c in cells]
            row_sum = np.array([pi.sum() for pi in p], F32)
            o = sum(F32((pi * vi).sum()) for pi, vi in zip(p, vv))
            continue
        shift = F32(row_max * scale)
        p = [np.exp2((c * scale - shift).astype(F32)).astype(F32) for c in cells]
        rs = np.array([pi.sum() for pi in p], F32)
        alpha = F32(1)
        if not all(r <= cap for r in rs):
            fails += 1
            mp = max(pi.max() for pi in p)
            assert np.isfinite(mp), "overflow: the kernel rescores this tile"
            if mp > cap:
                m = min(int(np.frexp(mp)[1]) - 1, 126)  # floor(log2 mp): the exponent field
                alpha = F32(2.0 ** -m)
                row_max = (shift + F32(m)) / scale
                rs, p = rs * alpha, [pi * alpha for pi in p]
                moves += 1
                assert max(pi.max() for pi in p) < 4
        row_sum = row_sum * alpha + rs
        o = o * alpha + sum(F32((pi * vi).sum()) for pi, vi in zip(p, vv))
    out = o / row_sum.sum()
    lse = (row_max * scale + np.log2(row_sum.sum())) * np.log(2)
    x = scores.astype(np.float64) * scale * np.log(2)
    w = np.exp(x - x.max())
    ref_out, ref_lse = (w * vals).sum() / w.sum(), x.max() + np.log(w.sum())
    return abs(out - ref_out), abs(lse - ref_lse) / max(1.0, abs(ref_lse)), moves, fails


def main():
    rng = np.random.default_rng(0)
    scale = F32(1.4426950408889634 / np.sqrt(128))  # log2 units per raw score, hd 128
    for rise in (0.0, 2.0, 8.0, 30.0):
        for n in (2048, 8192):
            scores = (rng.standard_normal(n) * np.sqrt(128) +
                      rise * np.arange(n) / 128 / scale).astype(F32)
            vals = np.cos(np.arange(n)).astype(F32)
            e_out, e_lse, moves, fails = run_row(scores, scale, vals)
            print(f"rise {rise:4} keys {n}: out error {e_out:.1e}, lse relative error {e_lse:.1e}, "
                  f"moves {moves}, tiles whose sums failed {fails} of {-(-n // 176)}")


if __name__ == "__main__":
    main()
