#!/usr/bin/env python3
"""Float32 model of one row of the Hopper forward's summed softmax (softmax.cuh,
update_scores_summed with the move on the probabilities), against the exact softmax in float64.

The row is held by a quad (4 threads, kBlockN / 4 cells each per key tile); its first tile takes
the max-first way, later ones the summed way: 2^(argument) against the reference, the threads'
partial sums checked against 2^slack, and, where one fails, the quad's max P decides whether the
reference moves by log2(max P) (cells, sum and O scaled by 1 / max P; `integer`: by floor(log2
max P), the form v66 wrote, which leaves the max cell in [1, 2)). P enters the P V product
rounded to bf16, as in the kernel. Rows: scores rising by `rise` log2 units every 128 keys (as
bench_ffa.py --inputs rising:X) on top of random ones, and one key 20.4 log2 units above the
rest (tests/cuda/test_ffa.py::test_score_far_above_the_running_max). Prints the output's and
lse's errors, the moves and the tiles whose sums failed.
Usage: /usr/bin/python3 tools/softmax_move_model.py (numpy)."""
import numpy as np

F32 = np.float32


def bf16(x):
    """x (float32) rounded to bfloat16's 8 significant bits, to nearest even."""
    b = np.asarray(x, F32).view(np.uint32).astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) & 0xFFFF0000
    return b.astype(np.uint32).view(F32)


def run_row(scores, scale, vals, integer=False, slack=8.0, block_n=176, threads=4):
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
            o = sum(F32((bf16(pi) * vi).sum()) for pi, vi in zip(p, vv))
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
                if integer:
                    m = F32(int(np.frexp(mp)[1]) - 1)  # floor(log2 mp): the exponent field
                    alpha = F32(2.0 ** -m)
                else:
                    m, alpha = F32(np.log2(mp)), F32(1) / mp
                row_max = (shift + m) / scale
                rs, p = rs * alpha, [pi * alpha for pi in p]
                moves += 1
        row_sum = row_sum * alpha + rs
        o = o * alpha + sum(F32((bf16(pi) * vi).sum()) for pi, vi in zip(p, vv))
    out = o / row_sum.sum()
    lse = (row_max * scale + np.log2(row_sum.sum())) * np.log(2)
    x = scores.astype(np.float64) * scale * np.log(2)
    w = np.exp(x - x.max())
    ref_out, ref_lse = (w * vals).sum() / w.sum(), x.max() + np.log(w.sum())
    return abs(out - ref_out), abs(lse - ref_lse) / max(1.0, abs(ref_lse)), moves, fails


def main():
    rng = np.random.default_rng(0)
    scale = F32(1.4426950408889634 / np.sqrt(128))  # log2 units per raw score, hd 128
    rows = []
    for rise in (0.0, 2.0, 8.0, 30.0):
        for n in (2048, 8192):
            rows.append((f"rise {rise:4} keys {n}", (rng.standard_normal(n) * np.sqrt(128) +
                                                    rise * np.arange(n) / 128 / scale)))
    far = 0.1 * rng.standard_normal(640) * np.sqrt(128)
    far[400] = 20.4 / scale
    rows.append(("one key 20.4 above, 640 keys", far))
    for name, scores in rows:
        scores = scores.astype(F32)
        vals = bf16(np.cos(np.arange(len(scores))) * 3)
        for integer in (False, True):
            e_out, e_lse, moves, fails = run_row(scores, scale, vals, integer)
            print(f"{name} {'integer' if integer else '1 / P  '}: out error {e_out:.1e}, lse "
                  f"relative error {e_lse:.1e}, moves {moves}, tiles whose sums failed {fails} "
                  f"of {-(-len(scores) // 176)}")


if __name__ == "__main__":
    main()
