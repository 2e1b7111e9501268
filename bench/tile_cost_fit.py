#!/usr/bin/env python3
"""A tile's fixed cost, fitted from cycles of masks of documents of one length
(bench/NOTES.md v42: the backward's cut-tile plans counted one query tile per tile; the
measured cycles fit 2-3).

  CYC_SHAPES="docs512,32768,16:16,128;docs1024,32768,16:16,128;docs2048,32768,16:16,128;\
docs8192,32768,16:16,128;full,32768,16:16,128" python3 bench/cycles.py --tag docs
  python3 bench/tile_cost_fit.py $OUT/cycles_docs.json

Per pass, the busiest SM's cycles are fitted as  cycles = a * units + b * tiles  over the shapes
(least squares): units are the pass's inner steps (backward: query tiles of 64 rows an item
walks; forward: key tiles of `--fwd-keys` keys a 128-row item walks), tiles its (item, query
head) tiles, both per SM (divided by `--sms`). b / a is a tile's fixed cost in inner steps.
`docs<L>` / `docs<L>_causal` are documents of L tokens (bench/profile_ffa.py), `full` /
`causal` one document of S. The counts follow the kernels' work lists: backward items are key
blocks of 128 aligned to each document, forward items row blocks of 128 cut at documents.
"""
import argparse
import json
import math
import re


def doc_lengths(name, s):
    m = re.fullmatch(r"docs(\d+)(_causal)?", name)
    if m:
        n = int(m.group(1))
        return [min(n, s - a) for a in range(0, s, n)], bool(m.group(2))
    if name in ("full", "causal"):
        return [s], name == "causal"
    return None, False


def counts(name, s, heads, fwd_keys):
    """{"fwd": (units, tiles), "bwd": (units, tiles)} for one query head's work, or None for a
    mask this fit does not know."""
    docs, causal = doc_lengths(name, s)
    if docs is None:
        return None
    fwd_units = fwd_tiles = bwd_units = bwd_tiles = 0
    for n in docs:
        for r0 in range(0, n, 128):  # forward: row blocks of 128, keys up to the block's end
            keys = min(n, r0 + 128) if causal else n
            fwd_units += math.ceil(keys / fwd_keys)
            fwd_tiles += 1
        for k0 in range(0, n, 128):  # backward: key blocks of 128, rows from the block's start
            rows = n - k0 if causal else n
            bwd_units += math.ceil(rows / 64)
            bwd_tiles += 1
    return {"fwd": (heads * fwd_units, heads * fwd_tiles),
            "bwd": (heads * bwd_units, heads * bwd_tiles)}


def fit(points):
    """Least squares of y = a u + b t over points (u, t, y): (a, b)."""
    suu = sum(u * u for u, _, _ in points)
    stt = sum(t * t for _, t, _ in points)
    sut = sum(u * t for u, t, _ in points)
    suy = sum(u * y for u, _, y in points)
    sty = sum(t * y for _, t, y in points)
    det = suu * stt - sut * sut
    if len(points) < 2 or det == 0:
        raise ValueError("need two shapes whose units per tile differ")
    return (suy * stt - sty * sut) / det, (suu * sty - sut * suy) / det


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cycles_json")
    ap.add_argument("--sms", type=int, default=132)
    ap.add_argument("--fwd-keys", type=int, default=176, help="the forward's key tile (hd 128)")
    args = ap.parse_args()
    runs = json.load(open(args.cycles_json))
    for p in ("fwd", "bwd"):
        points = []
        for shape, r in runs.items():
            name, s, heads, _ = shape.split(",")
            c = counts(name, int(s), int(heads.split(":")[0]), args.fwd_keys)
            cyc = r.get(p, {}).get("sm__cycles_elapsed.max") if isinstance(r, dict) else None
            if c and cyc:
                u, t = c[p]
                points.append((u / args.sms, t / args.sms, cyc, shape))
        if len(points) < 2:
            print(f"{p}: fewer than two usable shapes")
            continue
        a, b = fit([x[:3] for x in points])
        step = "query tile" if p == "bwd" else "key tile"
        print(f"{p}: {a:.0f} cycles a {step}, a tile's fixed cost {b:.0f} cycles = "
              f"{b / a:.2f} {step}s")
        for u, t, y, shape in points:
            print(f"  {shape}: {y / 1e6:.3f} Mcycles, fit {(a * u + b * t) / 1e6:.3f}, "
                  f"{u / t:.1f} {step}s a tile")


if __name__ == "__main__":
    main()
