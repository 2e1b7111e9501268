"""magi's distributed attention against Ulysses, ring attention and all-gather attention built
from the same local FFA kernels, forward and backward, one process per rank.

  torchrun --nproc-per-node 8 bench/bench_dist.py                       # GPUs, NCCL
  /usr/bin/python3 bench/bench_dist.py --spawn 2 --tokens-per-rank 64 \\
      --heads 4:2 --head-dim 16 --chunk 16                               # CPU, gloo, tiny

Defaults are the original's distributed setting (../shared/reference/performance_anchors.md
§3.4): 8k tokens per rank, 64:8 heads, head_dim 128, bf16 (fp32 on CPU), chunk 2048, overlap
degree 2, masks full, causal, varlen_full, varlen_causal (varlen documents: bench/cases.json's,
scaled to the total length). FLOPs are exact cell counts: forward 4 * Hq * D * cells, backward
2.5x. Per-GPU TFLOP/s = FLOPs / the slowest rank's time / cp (median over --iters).

Every method's global output and input gradients are compared with the first method's
(relative L2, and with --reference against dense float64 attention on rank 0), so a wrong
baseline cannot look fast: a disagreement above --tol makes the run exit with status 3.
Results: a JSON file under --out (default $OUT, else bench/runs) and a table on rank 0;
--trace writes a torch.profiler trace of one iteration per method (rank 0) next to it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import socket
import statistics
import subprocess
import sys
import time

import torch
import torch.distributed as dist

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import dist_baselines as bl  # noqa: E402
from dist_masks import MASKS, cells, make_mask  # noqa: E402

METHODS = ("magi", "ulysses", "ring", "all_gather")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32,
          "fp64": torch.float64}
# NOTE: lse is fp32 inside the kernels for every dtype, so fp64 runs agree to ~1e-7.
DEFAULT_TOL = {"bf16": 3e-2, "fp16": 1e-2, "fp32": 1e-4, "fp64": 1e-6}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spawn", type=int, default=0,
                   help="CPU launcher: run N ranks as local processes (gloo); without it the "
                        "ranks come from torchrun's environment")
    p.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    p.add_argument("--tokens-per-rank", type=int, default=8192)
    p.add_argument("--heads", default="64:8", help="query:kv heads")
    p.add_argument("--head-dim", type=int, default=128)
    p.add_argument("--dtype", default=None, choices=sorted(DTYPES),
                   help="default bf16 on CUDA, fp32 on CPU")
    p.add_argument("--chunk", type=int, default=2048, help="magi's dispatch chunk size")
    p.add_argument("--degree", type=int, default=2, help="magi's overlap degree")
    p.add_argument("--masks", default=",".join(MASKS))
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output folder (default $OUT, else bench/runs)")
    p.add_argument("--name", default=None, help="JSON file name (default: from the settings)")
    p.add_argument("--trace", action="store_true",
                   help="torch.profiler trace of one iteration per method and mask (rank 0)")
    p.add_argument("--reference", action="store_true",
                   help="also compare with dense float64 attention on rank 0 (small sizes)")
    p.add_argument("--tol", type=float, default=None,
                   help="largest relative L2 allowed between methods (default by dtype)")
    a = p.parse_args(argv)
    try:
        hq, hkv = (int(x) for x in a.heads.split(":"))
    except ValueError:
        p.error(f"--heads = {a.heads!r}: expected Q:KV, e.g. 64:8")
    if hq < 1 or hkv < 1 or hq % hkv:
        p.error(f"--heads = {a.heads!r}: need heads >= 1 and kv heads dividing query heads")
    a.hq, a.hkv = hq, hkv
    for name in ("tokens_per_rank", "head_dim", "chunk", "iters"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} = {getattr(a, name)}: must be >= 1")
    if a.warmup < 0 or a.degree < 0 or a.spawn < 0:
        p.error("--warmup, --degree, --spawn: must be >= 0")
    if a.tokens_per_rank % 2:
        p.error(f"--tokens-per-rank = {a.tokens_per_rank}: must be even (zigzag layout)")
    a.masks, a.methods = a.masks.split(","), a.methods.split(",")
    for m in a.masks:
        if m not in MASKS:
            p.error(f"--masks: unknown mask {m!r} (expected {', '.join(MASKS)})")
    for m in a.methods:
        if m not in METHODS:
            p.error(f"--methods: unknown method {m!r} (expected {', '.join(METHODS)})")
    return a


# ---- one rank --------------------------------------------------------------------------------
def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def global_inputs(total, a, dtype, device, seed):
    """q, k, v, dout over the whole sequence, equal on every rank."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float32).to(device, dtype)

    return (rnd(total, a.hq, a.head_dim), rnd(total, a.hkv, a.head_dim),
            rnd(total, a.hkv, a.head_dim), rnd(total, a.hq, a.head_dim))


def rows_of(blocks, device):
    return torch.cat([torch.arange(s, e, device=device) for s, e in blocks])


class Prepared:
    """One method on one mask: leaves (local q, k, v), fwd() -> local out, the local gradient
    of the output, and to_global(local) -> the global tensor (collective)."""

    def __init__(self, leaves, fwd, grad, to_global, note=""):
        self.leaves, self.fwd, self.grad, self.to_global, self.note = (leaves, fwd, grad,
                                                                       to_global, note)


def prepare_layout(q, k, v, dout, layout, cp, rank):
    """Leaves and output gradient of this rank's rows under a ring layout, and to_global."""
    total = q.shape[0]
    blocks = [bl.layout_blocks(layout, total, cp, r) for r in range(cp)]
    rows = rows_of(blocks[rank], q.device)
    every = torch.cat([rows_of(b, q.device) for b in blocks])  # rows in all_gather order
    leaves = [t[rows].detach().clone().requires_grad_() for t in (q, k, v)]

    def to_global(x):
        x = x.contiguous()
        parts = [torch.empty_like(x) for _ in range(cp)]
        dist.all_gather([bl._wire(t) for t in parts], bl._wire(x))
        out = torch.empty((total, *x.shape[1:]), dtype=x.dtype, device=x.device)
        out[every] = torch.cat(parts)
        return out

    return leaves, dout[rows].contiguous(), to_global


def prepare(method, slices, q, k, v, dout, a, scale):
    """A Prepared for `method`, or a string saying why it cannot run here."""
    from magi_attention.api import (DispatchConfig, DistAttnConfig, OverlapConfig, calc_attn,
                                    dispatch, magi_attn_flex_key, undispatch)

    cp, rank, total = dist.get_world_size(), dist.get_rank(), q.shape[0]
    if method == "magi":
        cfg = DistAttnConfig(dispatch_config=DispatchConfig(chunk_size=a.chunk),
                             overlap_config=OverlapConfig(degree=a.degree))
        key = magi_attn_flex_key([[s[0], s[1]] for s in slices], [[s[2], s[3]] for s in slices],
                                 [s[4] for s in slices], total, total, num_heads_q=a.hq,
                                 num_heads_kv=a.hkv, head_dim=a.head_dim, chunk_size=a.chunk,
                                 cp_group=dist.group.WORLD, dist_attn_config=cfg)
        leaves = [dispatch(t, key).detach().requires_grad_() for t in (q, k, v)]
        return Prepared(leaves, lambda: calc_attn(*leaves, key, softmax_scale=scale)[0],
                        dispatch(dout, key), lambda x: undispatch(x, key),
                        f"chunk {a.chunk}, degree {a.degree}")
    if method == "ulysses":
        why = bl.ulysses_supported(a.hq, a.hkv, cp)
        if why:
            return why
        leaves, grad, to_global = prepare_layout(q, k, v, dout, "contiguous", cp, rank)
        ranges = bl.range_tensors(slices)
        return Prepared(leaves, lambda: bl.ulysses_attn(*leaves, ranges, scale), grad, to_global,
                        "kv heads split" if a.hkv % cp == 0 else "kv heads replicated")
    layout = "zigzag" if any(s[4] != "full" for s in slices) else "contiguous"
    leaves, grad, to_global = prepare_layout(q, k, v, dout, layout, cp, rank)
    if method == "ring":
        steps = bl.ring_steps(slices, layout, total, cp, rank)
        return Prepared(leaves, lambda: bl.RingAttn.apply(*leaves, steps, scale), grad,
                        to_global, f"{layout} layout")
    ranges = bl.all_gather_ranges(slices, layout, total, cp, rank)
    return Prepared(leaves, lambda: bl.all_gather_attn(*leaves, ranges, scale), grad, to_global,
                    f"{layout} layout")


def run_iteration(p, device):
    for t in p.leaves:
        t.grad = None
    dist.barrier()
    sync(device)
    t0 = time.perf_counter()
    out = p.fwd()
    sync(device)
    t1 = time.perf_counter()
    out.backward(p.grad)
    sync(device)
    t2 = time.perf_counter()
    return out, t1 - t0, t2 - t1


def time_method(p, a, device):
    """Per timed iteration, the slowest rank's forward and backward seconds; the last output."""
    fwd, bwd, out = [], [], None
    for it in range(a.warmup + a.iters):
        out, tf, tb = run_iteration(p, device)
        t = torch.tensor([tf, tb], dtype=torch.float64,
                         device=device if device.type == "cuda" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        if it >= a.warmup:
            fwd.append(float(t[0]))
            bwd.append(float(t[1]))
    return fwd, bwd, out


def rel_l2(x, ref):
    x, ref = x.double(), ref.double()
    return float((x - ref).norm() / ref.norm().clamp_min(1e-300))


def dense_reference(slices, q, k, v, dout, scale):
    """Textbook attention in float64 on the CPU: (out, dq, dk, dv) of the whole sequence."""
    total, hq, hkv = q.shape[0], q.shape[1], k.shape[1]
    mask = torch.zeros(total, total, dtype=torch.bool)
    for qs, qe, ks, ke, t in slices:
        i = torch.arange(qe - qs).unsqueeze(1)
        j = torch.arange(ke - ks).unsqueeze(0)
        on = torch.ones(qe - qs, ke - ks, dtype=torch.bool)
        if t in ("causal", "bi_causal"):
            on &= j <= i + (ke - ks) - (qe - qs)
        if t in ("inv_causal", "bi_causal"):
            on &= j >= i
        mask[qs:qe, ks:ke] |= on
    qd, kd, vd = (t.detach().cpu().double().requires_grad_() for t in (q, k, v))
    kk = kd.repeat_interleave(hq // hkv, dim=1)
    vv = vd.repeat_interleave(hq // hkv, dim=1)
    s = torch.einsum("qhd,khd->hqk", qd, kk) * scale
    s = s.masked_fill(~mask, float("-inf"))
    p = torch.softmax(s, dim=-1).nan_to_num(0.0)  # rows with no cell: 0
    out = torch.einsum("hqk,khd->qhd", p, vv)
    out.backward(dout.detach().cpu().double())
    return out.detach(), qd.grad, kd.grad, vd.grad


def worker(a):
    """Runs every mask and method on this rank; rank 0 returns the report."""
    if a.device == "auto":
        a.device = "cuda" if torch.cuda.is_available() and not a.spawn else "cpu"
    if a.device == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    cp, rank = dist.get_world_size(), dist.get_rank()
    dtype_name = a.dtype or ("bf16" if device.type == "cuda" else "fp32")
    dtype = DTYPES[dtype_name]
    tol = a.tol if a.tol is not None else DEFAULT_TOL[dtype_name]
    total = a.tokens_per_rank * cp
    scale = a.head_dim ** -0.5
    out_dir = a.out or os.environ.get("OUT") or os.path.join(HERE, "runs")
    rows, ok = [], True
    for mask in a.masks:
        slices = make_mask(mask, total)
        n_cells = cells(slices)
        flops = 4.0 * a.hq * a.head_dim * n_cells
        q, k, v, dout = global_inputs(total, a, dtype, device, a.seed)
        ref, ref_name = None, None
        if a.reference and rank == 0:
            ref, ref_name = dense_reference(slices, q, k, v, dout, scale), "dense_fp64"
        first = None  # the first method's global (out, dq, dk, dv)
        for method in a.methods:
            p = prepare(method, slices, q, k, v, dout, a, scale)
            row = {"mask": mask, "method": method, "cells": n_cells}
            if isinstance(p, str):
                rows.append({**row, "skipped": p})
                continue
            fwd, bwd, out = time_method(p, a, device)
            if a.trace:
                from torch.profiler import ProfilerActivity, profile

                acts = [ProfilerActivity.CPU] + (
                    [ProfilerActivity.CUDA] if device.type == "cuda" else [])
                with profile(activities=acts) as prof:
                    out, _, _ = run_iteration(p, device)
                if rank == 0:
                    os.makedirs(out_dir, exist_ok=True)
                    prof.export_chrome_trace(os.path.join(out_dir,
                                                          f"trace_{mask}_{method}_rank0.json"))
            glob = [p.to_global(out.detach())] + [p.to_global(t.grad) for t in p.leaves]
            fwd_s, bwd_s = statistics.median(fwd), statistics.median(bwd)
            row.update(note=p.note, fwd_ms=fwd_s * 1e3, bwd_ms=bwd_s * 1e3,
                       fwd_tflops=flops / fwd_s / cp / 1e12,
                       bwd_tflops=2.5 * flops / bwd_s / cp / 1e12)
            if rank == 0:
                names = ("out", "dq", "dk", "dv")
                if first is None:
                    first, row["reference_method"] = glob, True
                else:
                    row["rel_l2_vs_" + a.methods[0]] = {n: rel_l2(x, y)
                                                        for n, x, y in zip(names, glob, first)}
                if ref is not None:
                    row["rel_l2_vs_" + ref_name] = {n: rel_l2(x.cpu(), y)
                                                    for n, x, y in zip(names, glob, ref)}
                for key, errs in row.items():
                    if key.startswith("rel_l2_vs_") and max(errs.values()) > tol:
                        ok = False
            rows.append(row)
            del p, glob, out
    report = None
    if rank == 0:
        report = {
            "about": "bench/bench_dist.py: per-GPU TFLOP/s = exact-cell FLOPs / slowest rank's "
                     "time / cp; fwd 4*Hq*D*cells, bwd 2.5x; median of iters",
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "backend": dist.get_backend(), "cp": cp, "torch": torch.__version__,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "commit": _commit(), "tokens_per_rank": a.tokens_per_rank, "heads_q": a.hq,
            "heads_kv": a.hkv, "head_dim": a.head_dim, "dtype": dtype_name, "chunk": a.chunk,
            "degree": a.degree, "warmup": a.warmup, "iters": a.iters, "tol": tol,
            "agree": ok, "rows": rows,
        }
        os.makedirs(out_dir, exist_ok=True)
        name = a.name or f"bench_dist_{device.type}_cp{cp}_{dtype_name}.json"
        path = os.path.join(out_dir, name)
        with open(path, "w") as f:
            json.dump(report, f, indent=1)
        print_table(report)
        print(f"written: {path}", flush=True)
        if not ok:
            print(f"FAIL: methods disagree beyond rel L2 {tol:g} (see rel_l2_* in the JSON)",
                  flush=True)
    dist.barrier()
    dist.destroy_process_group()
    return report


def _commit():
    if os.environ.get("MAGI_COMMIT"):  # a copied tree's git metadata can be stale
        return os.environ["MAGI_COMMIT"]
    try:
        return subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def print_table(r):
    print(f"bench_dist: {r['device']}, cp {r['cp']} ({r['backend']}), {r['tokens_per_rank']} "
          f"tokens/rank, heads {r['heads_q']}:{r['heads_kv']}, head_dim {r['head_dim']}, "
          f"{r['dtype']}, commit {r['commit']}, {r['date']}")
    print(f"{'mask':<14} {'method':<11} {'fwd ms':>9} {'bwd ms':>9} {'fwd TF/s':>9} "
          f"{'bwd TF/s':>9} {'magi/x fwd':>10} {'magi/x bwd':>10} {'max rel L2':>10}  note")
    magi = {row["mask"]: row for row in r["rows"] if row["method"] == "magi" and "fwd_ms" in row}
    for row in r["rows"]:
        if "skipped" in row:
            print(f"{row['mask']:<14} {row['method']:<11} skipped: {row['skipped']}")
            continue
        m = magi.get(row["mask"])
        ratio = (f"{m['fwd_tflops'] / row['fwd_tflops']:10.2f} "
                 f"{m['bwd_tflops'] / row['bwd_tflops']:10.2f}") if m else f"{'':>10} {'':>10}"
        errs = [v for key, e in row.items() if key.startswith("rel_l2_vs_") for v in e.values()]
        err = f"{max(errs):10.2e}" if errs else f"{'ref':>10}"
        print(f"{row['mask']:<14} {row['method']:<11} {row['fwd_ms']:9.3f} {row['bwd_ms']:9.3f} "
              f"{row['fwd_tflops']:9.4g} {row['bwd_tflops']:9.4g} {ratio} {err}  {row['note']}")


# ---- launchers -------------------------------------------------------------------------------
def _spawned(rank, world_size, port, argv):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    report = worker(parse_args(argv))
    if report is not None and not report["agree"]:
        sys.exit(3)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    a = parse_args(argv)
    if a.spawn:
        import torch.multiprocessing as mp

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            mp.spawn(_spawned, args=(a.spawn, port, argv), nprocs=a.spawn)
        except mp.ProcessExitedException as e:
            print(f"bench_dist: rank {e.error_index} exited with status {e.exit_code}",
                  file=sys.stderr)
            return e.exit_code or 1
        return 0
    report = worker(a)
    return 0 if report is None or report["agree"] else 3


if __name__ == "__main__":
    sys.exit(main())
