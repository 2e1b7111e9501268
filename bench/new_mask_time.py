"""Host and wall time of a forward + backward on a mask seen for the first time (GPU only).

Each step draws a new packed-documents causal mask (random document lengths, mean --doc rows)
and runs flex_flash_attn_func forward and backward on it: every step pays the mask's planning
(work lists, forward and backward tile plans, and the backward's choice of tile widths,
sm90::walks_by_traffic, which the forward starts in a worker thread). Printed per step kind:
the host time of the forward call, of the backward call, and the wall time of the step (to the
GPU's end), as medians over --steps steps, with the same figures for a mask seen before (the
last step's mask again) beside them. With --layers L it also times a chain of L attention
layers a step (each layer's output the next one's query), --steps steps back to back with no
synchronize between them and the ranges on the host (so that reading them waits for nothing):
the mean step time with a new mask every step against the same mask every step, which shows
what a new mask's planning and uploads cost a training loop whose host otherwise runs ahead of
the GPU. Run it once per setting to compare, e.g.

  python3 bench/new_mask_time.py --json a.json
  MAGI_FFA_BWD_PACK=2 python3 bench/new_mask_time.py --json b.json   # the rule, no model
"""

import argparse
import json
import os
import random
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, os.path.join(HERE, "..", "python"))

from magi_attention import flex_flash_attn_func  # noqa: E402


def documents(rng, s, mean, device="cuda"):
    """Causal slices of documents of mean `mean` rows covering [0, s), as range tensors on
    `device` (a new CUDA range tensor is read to the host once: a wait for the stream)."""
    ends, pos = [], 0
    while pos < s:
        pos = min(s, pos + rng.randint(mean // 2, 3 * mean // 2))
        ends.append(pos)
    starts = [0] + ends[:-1]
    ranges = torch.tensor([[a, b] for a, b in zip(starts, ends)], dtype=torch.int32, device=device)
    types = torch.ones(len(ends), dtype=torch.int32, device=device)
    return ranges, types


def step(q, k, v, dout, ranges, types):
    """(forward host ms, backward host ms, wall ms) of one forward + backward."""
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out, _ = flex_flash_attn_func(q, k, v, ranges, ranges, types)
    t1 = time.perf_counter()
    out.backward(dout)
    t2 = time.perf_counter()
    torch.cuda.synchronize()
    t3 = time.perf_counter()
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t0) * 1e3


def chain_ms(q, k, v, dout, masks, layers):
    """Mean wall ms a step of `layers` chained layers over `masks` (one a step), back to back."""
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for ranges, types in masks:
        h = q
        for _ in range(layers):
            h, _ = flex_flash_attn_func(h, k, v, ranges, ranges, types)
        h.backward(dout)
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1e3 / len(masks)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seqlen", type=int, default=16384)
    ap.add_argument("--heads", default="64:8")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--doc", type=int, default=2048, help="mean document length")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--layers", type=int, default=0, help="also time chains of this many layers")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    hq, hkv = (int(x) for x in args.heads.split(":"))
    s, d = args.seqlen, args.dim
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v, dout = (torch.randn(s, h, d, device="cuda", dtype=torch.bfloat16, generator=g)
                     for h in (hq, hkv, hkv, hq))
    q, k, v = (x.requires_grad_(True) for x in (q, k, v))
    rng = random.Random(1)
    step(q, k, v, dout, *documents(rng, s, args.doc))  # CUDA context, kernels loaded
    new, seen = [], []
    for _ in range(args.steps):
        mask = documents(rng, s, args.doc)
        new.append(step(q, k, v, dout, *mask))
        seen.append(step(q, k, v, dout, *mask))
    names = ("forward host ms", "backward host ms", "step wall ms")
    result = {"seqlen": s, "heads": args.heads, "dim": d, "doc": args.doc, "steps": args.steps,
              "device": torch.cuda.get_device_name(),
              "knob MAGI_FFA_BWD_PACK": os.environ.get("MAGI_FFA_BWD_PACK", "(default)")}
    print(f"{torch.cuda.get_device_name()}  S={s} heads={args.heads} d={d} doc~{args.doc} "
          f"MAGI_FFA_BWD_PACK={result['knob MAGI_FFA_BWD_PACK']}")
    for i, name in enumerate(names):
        a = statistics.median(x[i] for x in new)
        b = statistics.median(x[i] for x in seen)
        result[name] = {"new mask": a, "seen mask": b}
        print(f"  {name:18s} new mask {a:8.3f}   seen mask {b:8.3f}")
    if args.layers > 0:
        fresh = [documents(rng, s, args.doc, "cpu") for _ in range(args.steps)]
        chain_ms(q, k, v, dout, fresh[:1], args.layers)  # its plans, then a new mask each step
        a = chain_ms(q, k, v, dout, fresh[1:], args.layers)
        b = chain_ms(q, k, v, dout, [fresh[0]] * (args.steps - 1), args.layers)
        result[f"{args.layers}-layer step ms"] = {"new mask": a, "seen mask": b}
        print(f"  {args.layers}-layer step ms   new mask {a:8.3f}   seen mask {b:8.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
