"""CP ranks as threads on one GPU (tests/cuda/thread_ranks.py): the distributed pipeline's
forward and backward at cp N, timed, and a torch.profiler trace of one iteration that shows on
which CUDA streams the exchanges' copies and the attention kernels ran and how long they ran at
the same time. Not a multi-GPU measurement: the ranks share one GPU's SMs, and their exchanges
are device-to-device copies in HBM instead of NVLink transfers.

  python3 bench/bench_threads.py --cp 4 --seqlen 16384 --heads 64:8 --mask causal --out DIR

Writes DIR/bench_threads_<mask>_cp<N>.json (times, streams, overlap) and the trace beside it.
"""

import argparse
import json
import os
import sys
import threading
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "cuda"))
from thread_ranks import ThreadGroup, make_key, run_ranks  # noqa: E402

from magi_attention.config import DistAttnConfig, OverlapConfig  # noqa: E402
from magi_attention.functional import dist_attn as fda  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cp", type=int, default=4)
    p.add_argument("--seqlen", type=int, default=16384)
    p.add_argument("--heads", default="64:8", help="query:kv heads")
    p.add_argument("--head-dim", type=int, default=128)
    p.add_argument("--mask", choices=["full", "causal"], default="causal")
    p.add_argument("--chunk", type=int, default=512)
    p.add_argument("--degree", type=int, default=2, help="overlap degree")
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--out", default="out")
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                   help="cpu: the same steps on CPU tensors (float32; a smoke run, no streams)")
    a = p.parse_args(argv)
    a.hq, a.hkv = map(int, a.heads.split(":"))
    return a


def stream_summary(trace_path):
    """Per CUDA stream of the trace: kernels (FFA ones apart), copies; and the time during which
    a copy on a stream without FFA kernels ran while an FFA kernel ran on another stream."""
    with open(trace_path) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data  # a bare list without CUPTI
    streams = {}
    for e in events:
        if e.get("ph") != "X" or e.get("cat") not in ("kernel", "gpu_memcpy"):
            continue
        s = streams.setdefault(e["args"].get("stream", -1),
                               {"kernels": 0, "ffa_kernels": 0, "kernel_us": 0.0, "copies": 0,
                                "copy_us": 0.0, "ffa": [], "copy": []})
        span = (e["ts"], e["ts"] + e["dur"])
        if e["cat"] == "kernel":
            s["kernels"] += 1
            s["kernel_us"] += e["dur"]
            if "ffa" in e["name"]:
                s["ffa_kernels"] += 1
                s["ffa"].append(span)
        else:
            s["copies"] += 1
            s["copy_us"] += e["dur"]
            s["copy"].append(span)
    exchange = [sid for sid, s in streams.items() if s["copies"] and not s["ffa_kernels"]]
    copies = sorted(x for sid in exchange for x in streams[sid]["copy"])
    ffa = sorted(x for sid, s in streams.items() if sid not in exchange for x in s["ffa"])

    def union(spans):
        out = []
        for a, b in spans:
            if out and a <= out[-1][1]:
                out[-1][1] = max(out[-1][1], b)
            else:
                out.append([a, b])
        return out

    cu, fu = union(copies), union(ffa)
    overlap, j = 0.0, 0
    for a, b in cu:  # both lists sorted and disjoint
        while j < len(fu) and fu[j][1] <= a:
            j += 1
        k = j
        while k < len(fu) and fu[k][0] < b:
            overlap += min(b, fu[k][1]) - max(a, fu[k][0])
            k += 1
    copy_us = sum(b - a for a, b in cu)
    for s in streams.values():
        del s["ffa"], s["copy"]
    return {"streams": {str(k): v for k, v in streams.items()},
            "exchange_streams": [str(s) for s in exchange],
            "exchange_copy_us": copy_us, "copy_during_ffa_us": overlap,
            "copy_overlap_fraction": overlap / copy_us if copy_us else None}


def main(argv=None):
    a = parse_args(argv)
    torch.manual_seed(0)
    s, d, cuda = a.seqlen, a.head_dim, a.device == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32
    q, dout = (torch.randn(s, a.hq, d, device=a.device, dtype=dtype) for _ in range(2))
    k, v = (torch.randn(s, a.hkv, d, device=a.device, dtype=dtype) for _ in range(2))

    def sync():
        if cuda:
            torch.cuda.current_stream().synchronize()

    sync()  # the ranks read the inputs on streams of their own
    slices = [(0, s, 0, s, 0 if a.mask == "full" else 1)]
    cells = s * s if a.mask == "full" else s * (s + 1) // 2
    fwd_flops = 4 * a.hq * d * cells
    config = DistAttnConfig(overlap_config=OverlapConfig(degree=a.degree, min_chunk_size=64))
    group = ThreadGroup(a.cp)
    keys, local = [None] * a.cp, [None] * a.cp
    start = threading.Barrier(a.cp)

    def setup(comm):
        r = comm.rank()
        keys[r] = make_key(comm, slices, s, a.hq, a.hkv, d, chunk_size=a.chunk, config=config)
        local[r] = [fda._dispatch(keys[r], x, 0.0) for x in (q, k, v, dout)]

    def iteration(comm):
        """One forward + backward of this rank: (fwd ms, bwd ms), each from the common start."""
        key, (ql, kl, vl, dol) = keys[comm.rank()], local[comm.rank()]
        sync()
        start.wait()
        t0 = time.perf_counter()
        ql, kl, vl, out, lse = fda._calc_forward(ql, kl, vl, key, d ** -0.5, 0.0)
        sync()
        t1 = time.perf_counter()
        fda._calc_backward(dol, ql, kl, vl, out, lse, key, d ** -0.5, 0.0)
        sync()
        return (t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3

    run_ranks(a.cp, setup, cuda=cuda, group=group)
    runs = [run_ranks(a.cp, iteration, cuda=cuda, group=group) for _ in range(a.iters + 1)][1:]
    best = min(runs, key=lambda r: max(f + b for f, b in r))
    fwd_ms, bwd_ms = max(f for f, _ in best), max(b for _, b in best)

    from torch.profiler import ProfilerActivity, profile
    os.makedirs(a.out, exist_ok=True)
    name = f"bench_threads_{a.mask}_cp{a.cp}"
    trace = os.path.join(a.out, name + "_trace.json")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        run_ranks(a.cp, iteration, cuda=cuda, group=group)
    prof.export_chrome_trace(trace)
    report = {
        "device": torch.cuda.get_device_name() if cuda else "cpu", "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "commit": os.environ.get("MAGI_COMMIT", ""), "cp": a.cp, "seqlen": s,
        "heads_q": a.hq, "heads_kv": a.hkv, "head_dim": d, "mask": a.mask, "chunk": a.chunk,
        "degree": a.degree, "fwd_ms": fwd_ms, "bwd_ms": bwd_ms,
        # one GPU runs every rank: its rate is the whole problem's FLOPs over the slowest rank
        "gpu_fwd_tflops": fwd_flops / fwd_ms / 1e9,
        "gpu_bwd_tflops": 2.5 * fwd_flops / bwd_ms / 1e9,
        "trace": os.path.basename(trace), **stream_summary(trace),
    }
    with open(os.path.join(a.out, name + ".json"), "w") as f:
        json.dump(report, f, indent=1)
    print(f"cp {a.cp} {a.mask} S={s} {a.hq}:{a.hkv} d={d}: fwd {fwd_ms:.2f} ms "
          f"({report['gpu_fwd_tflops']:.0f} TF/s on the device), bwd {bwd_ms:.2f} ms "
          f"({report['gpu_bwd_tflops']:.0f} TF/s)")
    for sid, st in report["streams"].items():
        tag = "exchange" if sid in report["exchange_streams"] else ""
        print(f"  stream {sid:>4}: {st['kernels']:5d} kernels ({st['ffa_kernels']} FFA) "
              f"{st['kernel_us'] / 1e3:8.2f} ms, {st['copies']:4d} copies "
              f"{st['copy_us'] / 1e3:7.2f} ms {tag}")
    frac = report["copy_overlap_fraction"]
    print(f"  exchange copies {report['exchange_copy_us'] / 1e3:.2f} ms, of which "
          f"{report['copy_during_ffa_us'] / 1e3:.2f} ms while an FFA kernel ran"
          + (f" ({100 * frac:.0f} %)" if frac is not None else ""))


if __name__ == "__main__":
    main()
